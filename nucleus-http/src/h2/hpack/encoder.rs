//! Header block encoding for responses and trailers (RFC 7541 §6).
//!
//! Indexing policy: a field that is in the dynamic table is sent as its index; otherwise it is
//! sent as a literal that names a static (or dynamic) entry where one has the name, and is
//! added to the table (incremental indexing) unless it is sensitive (never indexed: the
//! credential and cookie headers, and values marked sensitive) or longer than
//! `MAX_INDEXED_VALUE` (without indexing). Strings are Huffman-coded when that is shorter.

use std::collections::VecDeque;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

use super::huffman;
use super::table::{
    static_name_index, status_index, ENTRY_OVERHEAD, STATIC_LEN, STATUS_NAME_INDEX,
};

/// The most table this encoder uses, whatever the peer allows: lookups scan the table, and a
/// few dozen entries already hold every field that repeats across responses.
const TABLE_CAP: usize = 4096;

/// Longer values go without indexing: one would evict much of the table, and values this long
/// (cookies, policies, long links) rarely repeat verbatim.
const MAX_INDEXED_VALUE: usize = 256;

/// `(pattern, prefix mask)` of each representation (RFC 7541 §6).
type Repr = (u8, u8);
const INDEXED: Repr = (0x80, 0x7f);
const INCREMENTAL: Repr = (0x40, 0x3f);
const SIZE_UPDATE: Repr = (0x20, 0x1f);
const NEVER_INDEXED: Repr = (0x10, 0x0f);
const WITHOUT_INDEXING: Repr = (0x00, 0x0f);
const STRING_RAW: Repr = (0x00, 0x7f);
const STRING_HUFFMAN: Repr = (0x80, 0x7f);

/// The response direction's HPACK state for one connection.
#[derive(Debug)]
pub(crate) struct Encoder {
    table: Table,
    /// Size updates owed to the peer's decoder, `(smallest since the last block, latest)`, for
    /// the start of the next block (RFC 7541 §4.2).
    pending: Option<(usize, usize)>,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// A table of 4096 octets, the protocol's initial value.
    pub(crate) fn new() -> Encoder {
        Encoder {
            table: Table::new(TABLE_CAP),
            pending: None,
        }
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed: the encoder uses at most this much from
    /// now on, and emits the required dynamic table size update at the start of the next block.
    pub(crate) fn set_max_table_size(&mut self, size: usize) {
        let size = size.min(TABLE_CAP);
        self.pending = match self.pending {
            Some((smallest, _)) => Some((smallest.min(size), size)),
            None if size == self.table.max_size => None,
            None => Some((size, size)),
        };
        // Evicting now, and so down to the smallest size, leaves the table as the peer's will be
        // once it has applied both updates.
        self.table.set_max_size(size);
    }

    /// Appends one header block for a response head: `:status`, then every field of `headers`
    /// in the map's iteration order.
    pub(crate) fn encode_response(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
        dst: &mut Vec<u8>,
    ) {
        self.begin_block(dst);
        match status_index(status) {
            Some(index) => encode_int(dst, INDEXED, index),
            None => self.field(None, status.as_str().as_bytes(), false, dst),
        }
        self.fields(headers, dst);
    }

    /// Appends one more field to the block begun by [`Encoder::encode_response`].
    pub(crate) fn encode_field(&mut self, name: &HeaderName, value: &[u8], dst: &mut Vec<u8>) {
        self.field(Some(name), value, sensitive_name(name), dst);
    }

    /// Appends one header block for trailers (no pseudo-headers).
    pub(crate) fn encode_trailers(&mut self, headers: &HeaderMap, dst: &mut Vec<u8>) {
        self.begin_block(dst);
        self.fields(headers, dst);
    }

    /// `(entries, size)` of the dynamic table.
    #[cfg(test)]
    pub(crate) fn table_usage(&self) -> (usize, usize) {
        (self.table.entries.len(), self.table.size)
    }

    fn begin_block(&mut self, dst: &mut Vec<u8>) {
        if let Some((smallest, latest)) = self.pending.take() {
            if smallest < latest {
                encode_int(dst, SIZE_UPDATE, smallest);
            }
            encode_int(dst, SIZE_UPDATE, latest);
        }
    }

    fn fields(&mut self, headers: &HeaderMap, dst: &mut Vec<u8>) {
        for (name, value) in headers {
            self.field(Some(name), value.as_bytes(), is_sensitive(name, value), dst);
        }
    }

    /// Encodes one field; `name` is `None` for `:status`.
    fn field(
        &mut self,
        name: Option<&HeaderName>,
        value: &[u8],
        sensitive: bool,
        dst: &mut Vec<u8>,
    ) {
        let (exact, dynamic_name) = self.table.find(name, value);
        // A sensitive value is never matched against the table: a hit would tell whoever can
        // put guesses into it (and see the block sizes) that the guess was right.
        if let (Some(index), false) = (exact, sensitive) {
            encode_int(dst, INDEXED, index);
            return;
        }
        let name_str = name.map_or(":status", HeaderName::as_str);
        let name_index = match name {
            None => Some(STATUS_NAME_INDEX),
            Some(h) => static_name_index(h),
        }
        .or(dynamic_name);
        if sensitive {
            literal(dst, NEVER_INDEXED, name_index, name_str, value);
            return;
        }
        let size = name_str
            .len()
            .saturating_add(value.len())
            .saturating_add(ENTRY_OVERHEAD);
        if value.len() <= MAX_INDEXED_VALUE && size <= self.table.max_size {
            literal(dst, INCREMENTAL, name_index, name_str, value);
            self.table.insert(name.cloned(), value, size);
        } else {
            literal(dst, WITHOUT_INDEXING, name_index, name_str, value);
        }
    }
}

/// Fields that carry credentials or session state are never indexed (RFC 7541 §7.1.3), so that
/// no intermediary's table keeps them and no table hit can confirm a guess.
fn is_sensitive(name: &HeaderName, value: &HeaderValue) -> bool {
    value.is_sensitive() || sensitive_name(name)
}

fn sensitive_name(name: &HeaderName) -> bool {
    *name == header::AUTHORIZATION
        || *name == header::PROXY_AUTHORIZATION
        || *name == header::COOKIE
        || *name == header::SET_COOKIE
}

fn literal(dst: &mut Vec<u8>, repr: Repr, name_index: Option<usize>, name: &str, value: &[u8]) {
    match name_index {
        Some(index) => encode_int(dst, repr, index),
        None => {
            encode_int(dst, repr, 0);
            encode_str(dst, name.as_bytes());
        }
    }
    encode_str(dst, value);
}

fn encode_str(dst: &mut Vec<u8>, s: &[u8]) {
    let huffman_len = huffman::encoded_len(s);
    if huffman_len < s.len() {
        encode_int(dst, STRING_HUFFMAN, huffman_len);
        huffman::encode(s, dst);
    } else {
        encode_int(dst, STRING_RAW, s.len());
        dst.extend_from_slice(s);
    }
}

/// RFC 7541 §5.1.
fn encode_int(dst: &mut Vec<u8>, (pattern, mask): Repr, value: usize) {
    let max_prefix = usize::from(mask);
    if value < max_prefix {
        dst.push(pattern | value as u8);
        return;
    }
    dst.push(pattern | mask);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        dst.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    dst.push(rest as u8);
}

/// The encoder's dynamic table, newest entry first. Values live in one arena in insertion
/// order, so inserting allocates nothing once the arena has grown, and a lookup compares
/// names (an integer compare for standard names) before it touches any bytes.
#[derive(Debug)]
struct Table {
    entries: VecDeque<TableEntry>,
    /// The values of `entries`, oldest first, after a prefix of evicted ones that `compact`
    /// drops once it is as large as the table.
    arena: Vec<u8>,
    size: usize,
    max_size: usize,
}

#[derive(Debug)]
struct TableEntry {
    /// `None` for `:status`, the only pseudo-header a server sends.
    name: Option<HeaderName>,
    start: usize,
    len: usize,
    size: usize,
}

impl Table {
    fn new(max_size: usize) -> Table {
        Table {
            entries: VecDeque::new(),
            arena: Vec::new(),
            size: 0,
            max_size,
        }
    }

    /// `(index of the entry equal to (name, value), index of the newest entry with the name)`.
    fn find(&self, name: Option<&HeaderName>, value: &[u8]) -> (Option<usize>, Option<usize>) {
        let mut name_hit = None;
        for (index, e) in (STATIC_LEN + 1..).zip(self.entries.iter()) {
            if e.name.as_ref() == name {
                name_hit = name_hit.or(Some(index));
                if e.len == value.len() && self.value(e) == Some(value) {
                    return (Some(index), name_hit);
                }
            }
        }
        (None, name_hit)
    }

    fn value(&self, e: &TableEntry) -> Option<&[u8]> {
        self.arena.get(e.start..e.start.checked_add(e.len)?)
    }

    fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Adds an entry of `size` octets (at most `max_size`), evicting the oldest as needed.
    fn insert(&mut self, name: Option<HeaderName>, value: &[u8], size: usize) {
        let Some(room) = self.max_size.checked_sub(size) else {
            return;
        };
        self.evict_to(room);
        if self.arena.len().saturating_add(value.len()) > self.max_size.saturating_mul(2) {
            self.compact();
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(value);
        self.entries.push_front(TableEntry {
            name,
            start,
            len: value.len(),
            size,
        });
        self.size = self.size.saturating_add(size);
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.entries.pop_back() {
                Some(old) => self.size = self.size.saturating_sub(old.size),
                None => self.size = 0,
            }
        }
        if self.entries.is_empty() {
            self.arena.clear();
        }
    }

    /// Drops the evicted values' bytes: moves at most `max_size` octets, once per at least
    /// `max_size` octets inserted.
    fn compact(&mut self) {
        let dead = self
            .entries
            .back()
            .map_or(self.arena.len(), |oldest| oldest.start)
            .min(self.arena.len());
        self.arena.drain(..dead);
        for e in &mut self.entries {
            e.start = e.start.saturating_sub(dead);
        }
    }
}

#[cfg(test)]
#[path = "encoder_tests.rs"]
mod tests;
