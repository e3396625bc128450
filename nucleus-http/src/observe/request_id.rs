//! Request IDs: accept a well-formed one from the client, or make one.
//!
//! A generated ID is 26 lowercase hex digits: the Unix second (8), a per-process salt (6),
//! the worker thread (2) and that thread's counter (10). It sorts by second, is unique
//! within a process without any shared state on the hot path, and differs between restarts
//! within the same second through the salt. No random-number syscall per request.

use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;

/// Longest incoming request ID accepted, in bytes; longer ones are replaced.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// Length of a generated ID.
const GENERATED_LEN: usize = 26;

/// The ID of one request: the client's `X-Request-Id` when it was well formed (at most 64
/// bytes of `[A-Za-z0-9._-]`), otherwise one the engine generated.
///
/// Handlers read it with [`RequestId::current`] while the engine runs them; the engine also
/// sets it on the response header named by
/// [`Config::request_id_header`](crate::Config::request_id_header).
///
/// # Examples
///
/// ```
/// use nucleus_http::observe::RequestId;
///
/// assert_eq!(RequestId::parse(b"abc-123").unwrap().as_str(), "abc-123");
/// assert!(RequestId::parse(b"evil\r\nset-cookie: x").is_none());
/// assert!(RequestId::parse(&[b'a'; 65]).is_none());
/// assert_eq!(RequestId::generate().as_str().len(), 26);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    len: u8,
    bytes: [u8; MAX_REQUEST_ID_LEN],
}

thread_local! {
    static CURRENT_ID: Cell<Option<RequestId>> = const { Cell::new(None) };
    static GENERATOR: Cell<Generator> = const {
        Cell::new(Generator { thread: 0, count: 0, second: u64::MAX, prefix: [b'0'; PREFIX_LEN] })
    };
}

/// Hex digits before the counter: second (8), salt (6), thread (2).
const PREFIX_LEN: usize = 16;

/// A thread's ID generator: its number, its counter, and the first 16 digits of its IDs,
/// rendered once a second rather than once an ID.
#[derive(Clone, Copy)]
struct Generator {
    thread: u8,
    count: u64,
    second: u64,
    prefix: [u8; PREFIX_LEN],
}

impl RequestId {
    /// Accepts `value` if it is 1 to 64 bytes of `[A-Za-z0-9._-]`: safe to echo in a header
    /// and a log line as it is.
    pub fn parse(value: &[u8]) -> Option<RequestId> {
        if value.is_empty() || value.len() > MAX_REQUEST_ID_LEN {
            return None;
        }
        if !value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return None;
        }
        let mut bytes = [0; MAX_REQUEST_ID_LEN];
        bytes.get_mut(..value.len())?.copy_from_slice(value);
        Some(RequestId {
            len: value.len() as u8,
            bytes,
        })
    }

    /// A new unique ID.
    pub fn generate() -> RequestId {
        let mut generator = GENERATOR.with(Cell::get);
        if generator.count == 0 {
            // Distinguishes threads in generated IDs; wraps at 256, which the counter keeps
            // unique unless two threads 256 apart also hit the same count in the same second.
            generator.thread = crate::thread_number::thread_number() as u8;
        }
        let second = crate::date::now_second();
        if second != generator.second || generator.count == 0 {
            let mut prefix = [0; PREFIX_LEN];
            let (time, rest) = prefix.split_at_mut(8);
            let (salted, thread) = rest.split_at_mut(6);
            write_hex(time, second);
            write_hex(salted, u64::from(salt()));
            write_hex(thread, u64::from(generator.thread));
            generator.prefix = prefix;
            generator.second = second;
        }
        let count = generator.count;
        generator.count += 1;
        GENERATOR.with(|g| g.set(generator));
        let mut bytes = [0; MAX_REQUEST_ID_LEN];
        let (prefix, rest) = bytes.split_at_mut(PREFIX_LEN);
        prefix.copy_from_slice(&generator.prefix);
        if let Some(counter) = rest.get_mut(..GENERATED_LEN - PREFIX_LEN) {
            write_hex(counter, count);
        }
        RequestId {
            len: GENERATED_LEN as u8,
            bytes,
        }
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The ID as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The ID of the request whose service call runs on this thread right now, when the
    /// server has request IDs on.
    pub fn current() -> Option<RequestId> {
        CURRENT_ID.with(Cell::get)
    }

    pub(crate) fn swap_current(id: Option<RequestId>) -> Option<RequestId> {
        CURRENT_ID.with(|c| c.replace(id))
    }
}

/// The ID for a request arriving with `headers`: the client's when well formed, else a new
/// one. A malformed client value is removed, so the handler never sees it as the request's ID.
pub(crate) fn for_request(name: &http::HeaderName, headers: &mut http::HeaderMap) -> RequestId {
    match headers.get(name) {
        None => RequestId::generate(),
        Some(value) => match RequestId::parse(value.as_bytes()) {
            Some(id) => id,
            None => {
                headers.remove(name);
                RequestId::generate()
            }
        },
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The low `out.len()` hex digits of `value`, most significant first.
fn write_hex(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = HEX.get((value & 0xf) as usize).copied().unwrap_or(b'0');
        value >>= 4;
    }
}

/// 24 bits that differ between runs: the process ID mixed with the start time's nanoseconds.
fn salt() -> u32 {
    static SALT: OnceLock<u32> = OnceLock::new();
    *SALT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mixed = (u64::from(std::process::id()) << 32 | u64::from(nanos))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (mixed >> 40) as u32
    })
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_unique_and_sort_by_count_within_a_thread() {
        let ids: Vec<String> = (0..1000)
            .map(|_| RequestId::generate().as_str().to_owned())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
        assert!(ids
            .iter()
            .all(|id| RequestId::parse(id.as_bytes()).is_some()));
        assert_eq!(sorted, ids, "generated in one second they sort in order");
    }

    #[test]
    fn rejects_bad_charset_and_length() {
        for bad in [&b""[..], b"a b", b"a\r\nb", b"\xff", b"a/b", &[b'x'; 65]] {
            assert!(RequestId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(RequestId::parse(&[b'x'; 64]).is_some());
    }
}
