//! The static table (RFC 7541 Appendix A) and the decoder's dynamic table (§4).

use std::collections::VecDeque;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::StatusCode;

use super::{Name, Pseudo};

/// The size overhead of a table entry (RFC 7541 §4.1), also the per-field overhead of the
/// header list size (RFC 9113 §6.5.2).
pub(crate) const ENTRY_OVERHEAD: usize = 32;

pub(crate) const STATIC_LEN: usize = 61;

#[derive(Debug)]
pub(crate) struct StaticEntry {
    pub(crate) name: Name,
    pub(crate) name_str: &'static str,
    pub(crate) value: &'static [u8],
}

impl StaticEntry {
    pub(crate) fn size(&self) -> usize {
        self.name_str.len() + self.value.len() + ENTRY_OVERHEAD
    }
}

const fn pseudo(p: Pseudo, name_str: &'static str, value: &'static str) -> StaticEntry {
    StaticEntry {
        name: Name::Pseudo(p),
        name_str,
        value: value.as_bytes(),
    }
}

const fn known(name: HeaderName, name_str: &'static str, value: &'static str) -> StaticEntry {
    StaticEntry {
        name: Name::Header(name),
        name_str,
        value: value.as_bytes(),
    }
}

/// Index `i` of RFC 7541 Appendix A is element `i - 1`. Names map to prebuilt values so that
/// a static hit needs no parsing; a test checks each against its spelling.
pub(crate) static STATIC_TABLE: [StaticEntry; STATIC_LEN] = [
    pseudo(Pseudo::Authority, ":authority", ""),
    pseudo(Pseudo::Method, ":method", "GET"),
    pseudo(Pseudo::Method, ":method", "POST"),
    pseudo(Pseudo::Path, ":path", "/"),
    pseudo(Pseudo::Path, ":path", "/index.html"),
    pseudo(Pseudo::Scheme, ":scheme", "http"),
    pseudo(Pseudo::Scheme, ":scheme", "https"),
    pseudo(Pseudo::Status, ":status", "200"),
    pseudo(Pseudo::Status, ":status", "204"),
    pseudo(Pseudo::Status, ":status", "206"),
    pseudo(Pseudo::Status, ":status", "304"),
    pseudo(Pseudo::Status, ":status", "400"),
    pseudo(Pseudo::Status, ":status", "404"),
    pseudo(Pseudo::Status, ":status", "500"),
    known(header::ACCEPT_CHARSET, "accept-charset", ""),
    known(header::ACCEPT_ENCODING, "accept-encoding", "gzip, deflate"),
    known(header::ACCEPT_LANGUAGE, "accept-language", ""),
    known(header::ACCEPT_RANGES, "accept-ranges", ""),
    known(header::ACCEPT, "accept", ""),
    known(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        "access-control-allow-origin",
        "",
    ),
    known(header::AGE, "age", ""),
    known(header::ALLOW, "allow", ""),
    known(header::AUTHORIZATION, "authorization", ""),
    known(header::CACHE_CONTROL, "cache-control", ""),
    known(header::CONTENT_DISPOSITION, "content-disposition", ""),
    known(header::CONTENT_ENCODING, "content-encoding", ""),
    known(header::CONTENT_LANGUAGE, "content-language", ""),
    known(header::CONTENT_LENGTH, "content-length", ""),
    known(header::CONTENT_LOCATION, "content-location", ""),
    known(header::CONTENT_RANGE, "content-range", ""),
    known(header::CONTENT_TYPE, "content-type", ""),
    known(header::COOKIE, "cookie", ""),
    known(header::DATE, "date", ""),
    known(header::ETAG, "etag", ""),
    known(header::EXPECT, "expect", ""),
    known(header::EXPIRES, "expires", ""),
    known(header::FROM, "from", ""),
    known(header::HOST, "host", ""),
    known(header::IF_MATCH, "if-match", ""),
    known(header::IF_MODIFIED_SINCE, "if-modified-since", ""),
    known(header::IF_NONE_MATCH, "if-none-match", ""),
    known(header::IF_RANGE, "if-range", ""),
    known(header::IF_UNMODIFIED_SINCE, "if-unmodified-since", ""),
    known(header::LAST_MODIFIED, "last-modified", ""),
    known(header::LINK, "link", ""),
    known(header::LOCATION, "location", ""),
    known(header::MAX_FORWARDS, "max-forwards", ""),
    known(header::PROXY_AUTHENTICATE, "proxy-authenticate", ""),
    known(header::PROXY_AUTHORIZATION, "proxy-authorization", ""),
    known(header::RANGE, "range", ""),
    known(header::REFERER, "referer", ""),
    known(header::REFRESH, "refresh", ""),
    known(header::RETRY_AFTER, "retry-after", ""),
    known(header::SERVER, "server", ""),
    known(header::SET_COOKIE, "set-cookie", ""),
    known(
        header::STRICT_TRANSPORT_SECURITY,
        "strict-transport-security",
        "",
    ),
    known(header::TRANSFER_ENCODING, "transfer-encoding", ""),
    known(header::USER_AGENT, "user-agent", ""),
    known(header::VARY, "vary", ""),
    known(header::VIA, "via", ""),
    known(header::WWW_AUTHENTICATE, "www-authenticate", ""),
];

/// The static entry at 1-based `index`, if `index` is in the static range.
pub(crate) fn static_entry(index: usize) -> Option<&'static StaticEntry> {
    STATIC_TABLE.get(index.checked_sub(1)?)
}

/// The index of the first static entry named `name`. A `match` on the spelling compiles to
/// length-then-bytes comparisons: no hashing, no table walk.
pub(crate) fn static_name_index(name: &HeaderName) -> Option<usize> {
    let index = match name.as_str() {
        "accept-charset" => 15,
        "accept-encoding" => 16,
        "accept-language" => 17,
        "accept-ranges" => 18,
        "accept" => 19,
        "access-control-allow-origin" => 20,
        "age" => 21,
        "allow" => 22,
        "authorization" => 23,
        "cache-control" => 24,
        "content-disposition" => 25,
        "content-encoding" => 26,
        "content-language" => 27,
        "content-length" => 28,
        "content-location" => 29,
        "content-range" => 30,
        "content-type" => 31,
        "cookie" => 32,
        "date" => 33,
        "etag" => 34,
        "expect" => 35,
        "expires" => 36,
        "from" => 37,
        "host" => 38,
        "if-match" => 39,
        "if-modified-since" => 40,
        "if-none-match" => 41,
        "if-range" => 42,
        "if-unmodified-since" => 43,
        "last-modified" => 44,
        "link" => 45,
        "location" => 46,
        "max-forwards" => 47,
        "proxy-authenticate" => 48,
        "proxy-authorization" => 49,
        "range" => 50,
        "referer" => 51,
        "refresh" => 52,
        "retry-after" => 53,
        "server" => 54,
        "set-cookie" => 55,
        "strict-transport-security" => 56,
        "transfer-encoding" => 57,
        "user-agent" => 58,
        "vary" => 59,
        "via" => 60,
        "www-authenticate" => 61,
        _ => return None,
    };
    Some(index)
}

/// The static index of `:status` with this exact value.
pub(crate) fn status_index(status: StatusCode) -> Option<usize> {
    match status.as_u16() {
        200 => Some(8),
        204 => Some(9),
        206 => Some(10),
        304 => Some(11),
        400 => Some(12),
        404 => Some(13),
        500 => Some(14),
        _ => None,
    }
}

/// The index of `:status` with any value.
pub(crate) const STATUS_NAME_INDEX: usize = 8;

/// A decoder table entry: the name is classified once, at insertion, so a hit is two clones.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: Name,
    pub(crate) value: Bytes,
    /// Name length + value length + 32, as the peer's encoder counts it.
    pub(crate) size: usize,
}

impl Entry {
    pub(crate) fn name_len(&self) -> usize {
        self.size
            .saturating_sub(ENTRY_OVERHEAD)
            .saturating_sub(self.value.len())
    }
}

/// The decoder's dynamic table: newest entry first, so that dynamic index 62 is element 0.
///
/// Its memory is bounded by `max_size`: each entry costs at least 32 octets of it, and the
/// decoder stores values in their own allocations rather than slices that pin a whole block.
#[derive(Debug)]
pub(crate) struct DynamicTable {
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    pub(crate) fn new(max_size: usize) -> DynamicTable {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    /// The entry at 0-based dynamic position `i` (absolute index `62 + i`).
    pub(crate) fn get(&self, i: usize) -> Option<&Entry> {
        self.entries.get(i)
    }

    #[cfg(test)]
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Adds `entry`, evicting the oldest entries to make room; an entry larger than the whole
    /// table leaves it empty (RFC 7541 §4.4).
    pub(crate) fn insert(&mut self, entry: Entry) {
        match self.max_size.checked_sub(entry.size) {
            Some(room) => {
                self.evict_to(room);
                self.size = self.size.saturating_add(entry.size);
                self.entries.push_front(entry);
            }
            None => self.clear(),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.size = 0;
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.entries.pop_back() {
                Some(old) => self.size = self.size.saturating_sub(old.size),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_names_match_their_spelling() {
        for (i, entry) in STATIC_TABLE.iter().enumerate() {
            assert_eq!(
                Name::classify(entry.name_str.as_bytes()),
                entry.name,
                "static index {}",
                i + 1
            );
        }
    }

    #[test]
    fn static_name_index_finds_the_first_entry_of_each_name() {
        for (i, entry) in STATIC_TABLE.iter().enumerate() {
            let index = i + 1;
            let first = STATIC_TABLE
                .iter()
                .position(|e| e.name_str == entry.name_str)
                .map(|p| p + 1);
            match &entry.name {
                Name::Header(h) => assert_eq!(static_name_index(h), first, "index {index}"),
                _ => assert!(index <= 14),
            }
        }
        assert_eq!(static_name_index(&HeaderName::from_static("x-foo")), None);
    }

    #[test]
    fn status_indices_point_at_their_status() {
        for code in 100..1000u16 {
            let status = StatusCode::from_u16(code).unwrap();
            if let Some(i) = status_index(status) {
                let e = static_entry(i).unwrap();
                assert_eq!(e.name, Name::Pseudo(Pseudo::Status));
                assert_eq!(e.value, status.as_str().as_bytes());
            }
        }
        assert_eq!(static_entry(STATUS_NAME_INDEX).unwrap().name_str, ":status");
        assert_eq!(static_entry(0).map(|e| e.name_str), None);
        assert_eq!(static_entry(62).map(|e| e.name_str), None);
    }

    fn entry(name: &'static str, value: &'static str) -> Entry {
        Entry {
            name: Name::classify(name.as_bytes()),
            value: Bytes::from_static(value.as_bytes()),
            size: name.len() + value.len() + ENTRY_OVERHEAD,
        }
    }

    #[test]
    fn eviction_drops_the_oldest_entries() {
        let mut t = DynamicTable::new(100);
        t.insert(entry("a", "1")); // 34
        t.insert(entry("b", "22")); // 35
        assert_eq!((t.len(), t.size()), (2, 69));
        t.insert(entry("c", "333")); // 36: 105 > 100, so "a" goes
        assert_eq!((t.len(), t.size()), (2, 71));
        assert_eq!(t.get(0).unwrap().value, "333");
        assert_eq!(t.get(1).unwrap().value, "22");
        assert!(t.get(2).is_none());
        assert_eq!(t.get(0).unwrap().name_len(), 1);
    }

    #[test]
    fn an_entry_larger_than_the_table_empties_it() {
        let mut t = DynamicTable::new(40);
        t.insert(entry("a", "1"));
        assert_eq!(t.len(), 1);
        t.insert(entry("abc", "123456")); // 41 > 40
        assert_eq!((t.len(), t.size()), (0, 0));
        t.insert(entry("abc", "12345")); // exactly 40 fits
        assert_eq!((t.len(), t.size()), (1, 40));
    }

    #[test]
    fn shrinking_evicts_and_zero_disables() {
        let mut t = DynamicTable::new(200);
        for v in ["1", "2", "3", "4"] {
            t.insert(entry("a", v));
        }
        assert_eq!(t.size(), 136);
        t.set_max_size(70);
        assert_eq!((t.len(), t.size()), (2, 68));
        assert_eq!(t.get(0).unwrap().value, "4");
        t.set_max_size(0);
        assert_eq!((t.len(), t.size()), (0, 0));
        t.insert(entry("a", ""));
        assert_eq!(t.len(), 0);
    }
}
