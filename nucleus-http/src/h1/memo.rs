//! Field names, request targets and `Host` values seen before on this thread.
//!
//! `http` checks and converts every byte of a request's field names and target:
//! - `HeaderName::from_bytes` maps each byte of a name through a table, matches the result
//!   against the standard names and, for a name it does not know, copies it into a new
//!   allocation: 80 to 250 instructions a field.
//! - `Uri` checks the target byte by byte: 122 instructions for `/json`, 385 for
//!   `/api/v1/users/12345/orders?page=2` (`/` alone has a fast path).
//!
//! Clients repeat both: a browser sends the same dozen names, spelled the same way, with
//! every request (several of them `sec-*` names that `http` does not know), and an API's
//! clients ask for the same paths over and over. So each worker thread remembers names and
//! targets it has parsed, keyed by their bytes as they arrived, and a repeat costs one
//! lookup, a comparison and a clone (a reference count where the value owns bytes).
//!
//! `Host` values that passed the syntax check are remembered too (16 of them, no value kept:
//! only the fact), which saves about 40 instructions on every request.
//!
//! The tables are two-way set-associative: a new entry takes over the older of its set's
//! two slots. They hold at most 128 names and 64 targets of at most [`LONGEST`] bytes, so
//! a client sending bytes nobody repeats costs a bounded amount of memory and a little
//! time per field (two failed comparisons and a store). A target is kept only when it comes
//! a second time before another unknown target lands in its set (each set remembers the
//! last target it turned away): keeping one means copying it out of the receive buffer (a
//! remembered value must not hold that buffer alive) and two small allocations, which
//! requests for targets that never repeat (`/users/8d3f…`) should not pay.
//!
//! Measured with callgrind (docs/PERFORMANCE.md, sixth session): a browser-like `GET /` (13
//! fields) went from 15,650 to 14,472 instructions with the name table, and `GET /json` from
//! 7,399 to 7,290 with the target table; a 29-byte path that repeats costs 4.8 % less a
//! request, one that never repeats 1.9 % more.

use std::cell::Cell;

use bytes::Bytes;
use http::header::{HeaderName, InvalidHeaderName};
use http::Uri;

/// Two slots a set: two entries that land in the same set do not evict each other on every
/// request.
const WAYS: usize = 2;
/// Sets of the name table: 128 names, about 9 KiB.
const NAME_SETS: usize = 64;
/// Sets of the target table: 64 targets, about 8.5 KiB.
const TARGET_SETS: usize = 32;
/// Sets of the table of `Host` values found valid: 16 hosts (a server answers for few).
const HOST_SETS: usize = 8;
/// Names and targets longer than this take the uncached path; common request fields, and
/// many paths, are shorter.
const LONGEST: usize = 32;

/// Bytes of 1 to [`LONGEST`] as their length and four 8-byte words read from them (some
/// overlapping, see [`Key::of`]): for a given length the words cover every byte, so equal
/// keys are equal bytes, and comparing two keys is five integer compares.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    len: usize,
    words: [u64; 4],
}

/// A two-way set-associative table from [`Key`]s to values.
struct Table<V, const SETS: usize> {
    sets: [[Option<(Key, V)>; WAYS]; SETS],
}

impl<V: Clone, const SETS: usize> Table<V, SETS> {
    const EMPTY: Table<V, SETS> = Table {
        sets: [const { [None, None] }; SETS],
    };

    /// The value kept for `key`, if any.
    #[inline(always)]
    fn get(&self, key: &Key) -> Option<&V> {
        self.get_hashed(key, key.hash())
    }

    /// [`Table::get`] with `key`'s hash already at hand.
    #[inline(always)]
    fn get_hashed(&self, key: &Key, hash: u64) -> Option<&V> {
        // Spelled out: `iter().flatten().find()` was left as an out-of-line iterator (about
        // 20 instructions a lookup more).
        match self.sets.get(set_of(hash, SETS))? {
            [Some((kept, value)), _] if kept == key => Some(value),
            [_, Some((kept, value))] if kept == key => Some(value),
            _ => None,
        }
    }

    /// Keeps `value` as the newer entry of `key`'s set: its newer one becomes the older, its
    /// older one is forgotten.
    fn put(&mut self, key: Key, value: V) {
        if let Some([newer, older]) = self.sets.get_mut(set_of(key.hash(), SETS)) {
            *older = newer.replace((key, value));
        }
    }
}

/// Everything one thread remembers.
struct Tables {
    names: Table<HeaderName, NAME_SETS>,
    targets: Table<Uri, TARGET_SETS>,
    /// Per target set, the hash of the last target it did not keep (see the module docs).
    turned_away: [u64; TARGET_SETS],
    /// `/`, the most requested target of all, whose clone is a few copies (static bytes).
    slash: Uri,
    /// `Host` values that passed the check (only valid ones are kept).
    hosts: Table<(), HOST_SETS>,
}

thread_local! {
    /// Boxed and taken out while a head is parsed: a thread-local access at the start and
    /// one at the end of a head, rather than a closure around the parser.
    static TABLES: Cell<Option<Box<Tables>>> = const { Cell::new(None) };
}

/// This thread's tables, held for one head and given back when dropped.
pub(crate) struct Memo(Option<Box<Tables>>);

impl Memo {
    /// Takes this thread's tables, made on the thread's first head (or when a caller up the
    /// stack holds them, which the parser never does). While the thread is exiting there are
    /// none, and everything is parsed the slow way.
    pub(crate) fn take() -> Memo {
        match TABLES.try_with(Cell::take) {
            Ok(Some(tables)) => Memo(Some(tables)),
            Ok(None) => Memo(Some(Box::new(Tables {
                names: Table::EMPTY,
                targets: Table::EMPTY,
                turned_away: [0; TARGET_SETS],
                slash: Uri::from_static("/"),
                hosts: Table::EMPTY,
            }))),
            Err(_) => Memo(None),
        }
    }

    /// `HeaderName::from_bytes(raw)`, answered from the name table when `raw` was seen
    /// before.
    ///
    /// # Errors
    ///
    /// What `HeaderName::from_bytes` returns for `raw`; a name that fails is never kept.
    #[inline(always)]
    pub(crate) fn header_name(&mut self, raw: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
        let (Some(tables), Some(key)) = (self.0.as_deref_mut(), Key::of(raw)) else {
            return HeaderName::from_bytes(raw);
        };
        match tables.names.get(&key) {
            Some(name) => Ok(name.clone()),
            None => remember_name(&mut tables.names, key, raw),
        }
    }

    /// The origin-form target `raw` as a `Uri`, when it is `/` or was kept before;
    /// otherwise what [`Memo::parsed_target`] needs to consider keeping it. The caller checks
    /// that the method allows an origin-form target (all but CONNECT).
    #[inline(never)]
    pub(crate) fn target(&self, raw: &[u8]) -> Result<Uri, TargetMiss> {
        let Some(tables) = self.0.as_deref() else {
            return Err(TargetMiss(None));
        };
        if raw == b"/" {
            return Ok(tables.slash.clone());
        }
        let Some(key) = Key::of(raw) else {
            return Err(TargetMiss(None));
        };
        let hash = key.hash();
        match tables.targets.get_hashed(&key, hash) {
            Some(uri) => Ok(uri.clone()),
            None => Err(TargetMiss(Some((key, hash)))),
        }
    }

    /// Tells the target table that `raw`, a valid origin-form target that [`Memo::target`]
    /// did not know (`miss`), was parsed; it is kept if its set turned it away last time.
    pub(crate) fn parsed_target(&mut self, miss: TargetMiss, raw: &[u8]) {
        let (Some(tables), TargetMiss(Some((key, hash)))) = (self.0.as_deref_mut(), miss) else {
            return;
        };
        let Some(last) = tables.turned_away.get_mut(set_of(hash, TARGET_SETS)) else {
            return;
        };
        if *last != hash {
            *last = hash;
            return;
        }
        *last = 0;
        // A copy: the parsed `Uri` shares the receive buffer, which a kept value must not
        // hold alive. Parsing the copy again gives the same `Uri`: same bytes.
        if let Ok(owned) = Uri::from_maybe_shared(Bytes::copy_from_slice(raw)) {
            tables.targets.put(key, owned);
        }
    }
}

impl Memo {
    /// `check(raw)` for a `Host` value, answered `true` without the check when `raw` passed
    /// it before: every request carries the field, and a connection's requests, and a
    /// site's clients, repeat the same value.
    #[inline(always)]
    pub(crate) fn valid_host(&mut self, raw: &[u8], check: fn(&[u8]) -> bool) -> bool {
        let (Some(tables), Some(key)) = (self.0.as_deref_mut(), Key::of(raw)) else {
            return check(raw);
        };
        if tables.hosts.get(&key).is_some() {
            return true;
        }
        let valid = check(raw);
        if valid {
            tables.hosts.put(key, ());
        }
        valid
    }
}

/// A target [`Memo::target`] did not know: its key and hash, when it could be kept.
pub(crate) struct TargetMiss(Option<(Key, u64)>);

impl Drop for Memo {
    fn drop(&mut self) {
        if let Some(tables) = self.0.take() {
            // When the thread is exiting the tables are dropped with `tables` instead.
            let _ = TABLES.try_with(|cell| cell.set(Some(tables)));
        }
    }
}

/// A name the table does not hold: parsed, and kept.
#[cold]
#[inline(never)]
fn remember_name(
    names: &mut Table<HeaderName, NAME_SETS>,
    key: Key,
    raw: &[u8],
) -> Result<HeaderName, InvalidHeaderName> {
    let name = HeaderName::from_bytes(raw)?;
    names.put(key, name.clone());
    Ok(name)
}

impl Key {
    /// The key of `raw`, or `None` when it is empty or longer than [`LONGEST`].
    #[inline(always)]
    fn of(raw: &[u8]) -> Option<Key> {
        let len = raw.len();
        let words = match len {
            0 => return None,
            1..=3 => [
                raw.iter().fold(0, |word, &b| word << 8 | u64::from(b)),
                0,
                0,
                0,
            ],
            // Two 4-byte reads, overlapping when the name is shorter than 8.
            4..=7 => [
                u64::from(u32_at(raw, 0)?) << 32 | u64::from(u32_at(raw, len - 4)?),
                0,
                0,
                0,
            ],
            // The first and last 16 bytes: all of them when the name is at most 32 long.
            8..=LONGEST => [
                u64_at(raw, 0)?,
                u64_at(raw, 8.min(len - 8))?,
                u64_at(raw, len.saturating_sub(16))?,
                u64_at(raw, len - 8)?,
            ],
            _ => return None,
        };
        Some(Key { len, words })
    }

    /// A multiplicative hash of the words, for a handful of instructions. Names that share
    /// a prefix and a length (`sec-fetch-mode`, `sec-fetch-site`) differ in their last word.
    fn hash(&self) -> u64 {
        let [a, b, c, d] = self.words;
        (a ^ b.rotate_left(17) ^ c.rotate_left(31) ^ d.rotate_left(47) ^ self.len as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

/// The set of a key with this hash in a table of `sets` sets (a power of two up to 64): the
/// hash's top bits, the best mixed ones.
fn set_of(hash: u64, sets: usize) -> usize {
    (hash >> 58) as usize % sets
}

fn u64_at(raw: &[u8], at: usize) -> Option<u64> {
    let bytes = raw.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

fn u32_at(raw: &[u8], at: usize) -> Option<u32> {
    let bytes = raw.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_name(raw: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
        Memo::take().header_name(raw)
    }

    /// What the parser does with a target: look it up, and on a miss report it parsed.
    fn see(memo: &mut Memo, raw: &[u8]) {
        if let Err(miss) = memo.target(raw) {
            memo.parsed_target(miss, raw);
        }
    }

    #[test]
    fn a_cached_name_is_the_name_http_makes() {
        let names: &[&[u8]] = &[
            b"Host",
            b"host",
            b"HOST",
            b"Content-Length",
            b"sec-ch-ua-platform",
            b"Sec-Fetch-Site",
            b"X-Request-Id",
            b"x",
            b"a-name-of-exactly-thirty-two-byt",
            b"a-name-of-exactly-thirty-three-b",
            b"a-name-that-is-longer-than-the-cache-holds",
        ];
        for _ in 0..3 {
            for raw in names {
                let cached = header_name(raw).unwrap();
                assert_eq!(cached, HeaderName::from_bytes(raw).unwrap());
            }
        }
    }

    #[test]
    fn invalid_names_fail_every_time() {
        for raw in [&b""[..], b"bad name", b"colon:", b"\xff", b"tab\t"] {
            assert!(header_name(raw).is_err());
            assert!(header_name(raw).is_err());
        }
    }

    #[test]
    fn colliding_names_replace_each_other_without_mixing_up() {
        // Every one- and two-letter name: many share slots, and each must come back as itself.
        let mut names = Vec::new();
        for a in b'a'..=b'z' {
            names.push(vec![a]);
            for b in b'a'..=b'z' {
                names.push(vec![a, b]);
            }
        }
        for _ in 0..2 {
            for raw in &names {
                assert_eq!(header_name(raw).unwrap().as_str().as_bytes(), &raw[..]);
            }
        }
    }

    #[test]
    fn names_differing_in_one_byte_anywhere_stay_apart() {
        // The key must cover every byte at every length it accepts: one name of `a`s per
        // length and one per position with a `b` there, each read back as itself twice.
        let mut names = Memo::take();
        for _ in 0..2 {
            for len in 1..=LONGEST + 1 {
                let plain = vec![b'a'; len];
                assert_eq!(
                    names.header_name(&plain).unwrap().as_str().as_bytes(),
                    &plain[..]
                );
                for at in 0..len {
                    let mut raw = plain.clone();
                    raw[at] = b'b';
                    assert_eq!(
                        names.header_name(&raw).unwrap().as_str().as_bytes(),
                        &raw[..]
                    );
                    assert_eq!(
                        names.header_name(&plain).unwrap().as_str().as_bytes(),
                        &plain[..]
                    );
                }
            }
        }
    }

    #[test]
    fn a_name_differing_only_in_case_keeps_its_own_key() {
        // Both spellings are the same name, but the key is the raw bytes: `Host` must not be
        // taken for `HOSt` or the reverse, whichever is cached first.
        assert_eq!(header_name(b"HOSt").unwrap(), http::header::HOST);
        assert_eq!(header_name(b"Host").unwrap(), http::header::HOST);
        assert_eq!(header_name(b"Hosu").unwrap().as_str(), "hosu");
    }

    #[test]
    fn a_target_is_kept_when_seen_twice_and_comes_back_equal() {
        let mut memo = Memo::take();
        let raw = b"/api/v1/items?page=3";
        assert!(memo.target(raw).is_err());
        see(&mut memo, raw);
        assert!(memo.target(raw).is_err(), "kept after one sighting");
        see(&mut memo, raw);
        let kept = memo.target(raw).ok().expect("kept after two sightings");
        assert_eq!(kept, Uri::from_static("/api/v1/items?page=3"));
        assert_eq!(kept.query(), Some("page=3"));
        // Another target of the same length does not match it.
        assert!(memo.target(b"/api/v1/items?page=4").is_err());
        assert_eq!(memo.target(b"/").ok(), Some(Uri::from_static("/")));
    }

    #[test]
    fn only_hosts_that_pass_the_check_are_remembered() {
        let mut memo = Memo::take();
        thread_local! {
            static CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
        fn counted(raw: &[u8]) -> bool {
            CALLS.with(|calls| calls.set(calls.get() + 1));
            raw != b"bad host"
        }
        for _ in 0..3 {
            assert!(memo.valid_host(b"example.com:8080", counted));
            assert!(!memo.valid_host(b"bad host", counted));
        }
        // The valid one was checked once, the invalid one every time.
        assert_eq!(CALLS.with(std::cell::Cell::get), 1 + 3);
        // Longer than a key holds: checked every time, never remembered.
        let long = [b'h'; LONGEST + 1];
        assert!(memo.valid_host(&long, counted));
        assert!(memo.valid_host(&long, counted));
        assert_eq!(CALLS.with(std::cell::Cell::get), 1 + 3 + 2);
    }

    #[test]
    fn a_target_seen_between_others_is_not_kept() {
        // Each set remembers only the last target it turned away: two targets alternating
        // in one set are never kept, and cost no copies.
        let mut memo = Memo::take();
        let sets = |raw: &[u8]| Key::of(raw).map(|key| set_of(key.hash(), TARGET_SETS));
        let first = b"/first-target".to_vec();
        let other = (0..10_000)
            .map(|i| format!("/other-{i}").into_bytes())
            .find(|other| sets(other) == sets(&first))
            .unwrap();
        for _ in 0..3 {
            see(&mut memo, &first);
            see(&mut memo, &other);
        }
        assert!(memo.target(&first).is_err());
        assert!(memo.target(&other).is_err());
    }

    proptest::proptest! {
        #[test]
        fn kept_targets_equal_what_http_parses(path in "/[a-zA-Z0-9/._~%!$&'()*+,;=:@?-]{0,40}") {
            let mut memo = Memo::take();
            let raw = path.as_bytes();
            if let Ok(parsed) = Uri::from_maybe_shared(bytes::Bytes::copy_from_slice(raw)) {
                see(&mut memo, raw);
                see(&mut memo, raw);
                if let Ok(kept) = memo.target(raw) {
                    proptest::prop_assert_eq!(kept, parsed);
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_get_what_http_gives_them(
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            token in "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,40}",
        ) {
            let mut names = Memo::take();
            for raw in [&raw[..], token.as_bytes()] {
                for _ in 0..2 {
                    let cached = names.header_name(raw).ok();
                    proptest::prop_assert_eq!(cached, HeaderName::from_bytes(raw).ok());
                }
            }
        }
    }
}
