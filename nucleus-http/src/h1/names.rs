//! Field names seen before on this thread.
//!
//! `HeaderName::from_bytes` maps every byte of a name through a table, matches the result
//! against http's list of standard names and, for a name it does not know, copies it into a
//! new allocation: 80 to 250 instructions a field. Clients repeat the same names, spelled the
//! same way, request after request (a browser sends a dozen, several of them `sec-*` names
//! that http does not know), so each worker thread remembers the names it has parsed, keyed
//! by their bytes as they arrived. A repeated name then costs one slot lookup, a comparison
//! and a clone (a reference count for a name http does not know).
//!
//! The cache is two-way set-associative: a new name takes over the older of its set's two
//! slots. It holds at most [`SETS`] × [`WAYS`] names of at most [`LONGEST`] bytes, so a
//! client sending names nobody repeats costs the cache a bounded amount of memory and each
//! such field a little more time than before (two failed comparisons and one store).
//!
//! Measured with `bench/check.sh` (callgrind): a browser-like `GET /` (13 fields) went from
//! 15,650 to 14,472 instructions, `POST /echo` from 9,706 to 9,599; a `GET /` with only
//! `Host` stayed level (6,720 and 6,738, within the build-to-build spread).

use std::cell::Cell;

use http::header::{HeaderName, InvalidHeaderName};

/// Sets in each thread's cache (a power of two), of [`WAYS`] slots each: 128 names in all,
/// about 9 KiB a thread, touched only by threads that parse HTTP/1.1 heads. Two ways keep
/// two names that land in the same set from evicting each other on every request.
const SETS: usize = 64;
const WAYS: usize = 2;
/// Names longer than this take the uncached path; common request fields are shorter.
const LONGEST: usize = 32;

/// One remembered name: its length and bytes as they arrived (see [`Key`]) and what they
/// parsed to.
#[derive(Clone)]
struct Slot {
    key: Key,
    name: Option<HeaderName>,
}

/// A name of 1 to [`LONGEST`] bytes as its length and four 8-byte words read from it (some
/// overlapping, see [`Key::of`]): for a given length the words cover every byte, so equal
/// keys are equal names, and comparing two keys is five integer compares.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    len: usize,
    words: [u64; 4],
}

const EMPTY: Slot = Slot {
    key: Key {
        len: 0,
        words: [0; 4],
    },
    name: None,
};

const EMPTY_SET: [Slot; WAYS] = [EMPTY; WAYS];

type Sets = [[Slot; WAYS]; SETS];

thread_local! {
    /// Boxed and taken out while a head is parsed: a thread-local access at the start and
    /// one at the end of a head, rather than a closure around the field loop.
    static CACHE: Cell<Option<Box<Sets>>> = const { Cell::new(None) };
}

/// This thread's cache, held for the fields of one head and given back when dropped.
pub(crate) struct Names(Option<Box<Sets>>);

impl Names {
    /// Takes this thread's cache, made on the thread's first head. Should it be out of reach
    /// (the thread is exiting, or a caller up the stack holds it), an empty one that parses
    /// every name the slow way.
    pub(crate) fn take() -> Names {
        match CACHE.try_with(Cell::take) {
            Ok(Some(sets)) => Names(Some(sets)),
            Ok(None) => Names(Some(Box::new([EMPTY_SET; SETS]))),
            Err(_) => Names(None),
        }
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        if let Some(sets) = self.0.take() {
            // When the thread is exiting the cache is dropped with `sets` instead.
            let _ = CACHE.try_with(|cache| cache.set(Some(sets)));
        }
    }
}

impl Names {
    /// `HeaderName::from_bytes(raw)`, answered from the cache when `raw` was seen before.
    ///
    /// # Errors
    ///
    /// What `HeaderName::from_bytes` returns for `raw`; a name that fails is never cached.
    #[inline(always)]
    pub(crate) fn get(&mut self, raw: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
        let (Some(sets), Some(key)) = (self.0.as_deref_mut(), Key::of(raw)) else {
            return HeaderName::from_bytes(raw);
        };
        let Some(set) = sets.get_mut(key.set()) else {
            return HeaderName::from_bytes(raw);
        };
        for slot in set.iter() {
            if slot.key == key {
                if let Some(name) = &slot.name {
                    return Ok(name.clone());
                }
            }
        }
        remember(set, key, raw)
    }
}

/// A name the set does not hold: parsed, and kept as the set's newer name (its newer one
/// becomes the older, its older one is forgotten).
#[cold]
#[inline(never)]
fn remember(set: &mut [Slot; WAYS], key: Key, raw: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    let name = HeaderName::from_bytes(raw)?;
    let [newer, older] = set;
    *older = std::mem::replace(
        newer,
        Slot {
            key,
            name: Some(name.clone()),
        },
    );
    Ok(name)
}

impl Key {
    /// The key of `raw`, or `None` when it is empty or longer than [`LONGEST`].
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

    /// The set for this key: a multiplicative hash of its words, for a handful of
    /// instructions. Names that share a prefix and a length (`sec-fetch-mode`,
    /// `sec-fetch-site`) differ in their last word.
    fn set(&self) -> usize {
        let [a, b, c, d] = self.words;
        let mixed =
            (a ^ b.rotate_left(17) ^ c.rotate_left(31) ^ d.rotate_left(47) ^ self.len as u64)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 58) as usize % SETS
    }
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
        Names::take().get(raw)
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
        let mut names = Names::take();
        for _ in 0..2 {
            for len in 1..=LONGEST + 1 {
                let plain = vec![b'a'; len];
                assert_eq!(names.get(&plain).unwrap().as_str().as_bytes(), &plain[..]);
                for at in 0..len {
                    let mut raw = plain.clone();
                    raw[at] = b'b';
                    assert_eq!(names.get(&raw).unwrap().as_str().as_bytes(), &raw[..]);
                    assert_eq!(names.get(&plain).unwrap().as_str().as_bytes(), &plain[..]);
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

    proptest::proptest! {
        #[test]
        fn any_bytes_get_what_http_gives_them(
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            token in "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,40}",
        ) {
            let mut names = Names::take();
            for raw in [&raw[..], token.as_bytes()] {
                for _ in 0..2 {
                    let cached = names.get(raw).ok();
                    proptest::prop_assert_eq!(cached, HeaderName::from_bytes(raw).ok());
                }
            }
        }
    }
}
