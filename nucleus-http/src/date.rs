//! The `Date` header, formatted once a second instead of once a response.
//!
//! A clock thread publishes the current Unix second into an atomic once a second; each worker
//! thread keeps the formatted text and re-formats only when that second changes. The hot path
//! is one relaxed atomic load and one compare: no clock read (~100 instructions even through
//! the vDSO) and no formatting per response.
//!
//! A server with one worker publishes the second from its own housekeeping tick instead
//! ([`SecondPublisher`]), so that its process needs no clock thread.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

/// The current Unix second, kept by the clock thread or by publishers; 0 while neither runs.
static NOW_SECOND: AtomicU64 = AtomicU64::new(0);
static CLOCK: Once = Once::new();
/// Whether the clock thread runs (it may have failed to start).
static CLOCK_RUNS: AtomicBool = AtomicBool::new(false);
/// Live [`SecondPublisher`]s.
static PUBLISHERS: AtomicUsize = AtomicUsize::new(0);

/// Keeps the published second current in place of the clock thread while it lives: its owner
/// calls [`SecondPublisher::publish`] at least once a second, just after each second begins.
#[derive(Debug)]
pub(crate) struct SecondPublisher(());

impl SecondPublisher {
    pub(crate) fn new() -> SecondPublisher {
        PUBLISHERS.fetch_add(1, Ordering::AcqRel);
        let publisher = SecondPublisher(());
        publisher.publish();
        publisher
    }

    pub(crate) fn publish(&self) {
        NOW_SECOND.store(unix_second(), Ordering::Relaxed);
    }
}

impl Drop for SecondPublisher {
    fn drop(&mut self) {
        // Nobody keeps the second now: 0 makes readers read the clock (and start the clock
        // thread) rather than use a second that no longer advances. Should the clock thread
        // have started meanwhile, it publishes again within a second.
        if PUBLISHERS.fetch_sub(1, Ordering::AcqRel) == 1 && !CLOCK_RUNS.load(Ordering::Acquire) {
            NOW_SECOND.store(0, Ordering::Relaxed);
        }
    }
}

/// What most response heads end with, kept whole so it goes out in one copy.
const CLOSING_PREFIX: &[u8] = b"date: ";
const CLOSING_SUFFIX: &[u8] = b"\r\nserver: nucleus\r\n\r\n";
const CLOSING_LEN: usize = CLOSING_PREFIX.len() + DATE_LEN + CLOSING_SUFFIX.len();
const DATE_AT: usize = CLOSING_PREFIX.len();

struct CachedDate {
    second: u64,
    /// `date: <IMF-fixdate>\r\nserver: nucleus\r\n\r\n`.
    closing: [u8; CLOSING_LEN],
    /// The date as a header value, made on first use in each second (HTTP/2 responses carry
    /// headers as a map, not as bytes); cloning it is a reference count.
    #[cfg(feature = "http2")]
    value: Option<http::HeaderValue>,
}

thread_local! {
    static CACHED: RefCell<CachedDate> = const {
        RefCell::new(CachedDate {
            second: u64::MAX,
            closing: initial_closing(),
            #[cfg(feature = "http2")]
            value: None,
        })
    };
}

const fn initial_closing() -> [u8; CLOSING_LEN] {
    let mut out = [b' '; CLOSING_LEN];
    let mut i = 0;
    while i < CLOSING_PREFIX.len() {
        out[i] = CLOSING_PREFIX[i];
        i += 1;
    }
    let mut j = 0;
    while j < CLOSING_SUFFIX.len() {
        out[DATE_AT + DATE_LEN + j] = CLOSING_SUFFIX[j];
        j += 1;
    }
    out
}

/// Appends the current IMF-fixdate to `dst`.
pub(crate) fn extend(dst: &mut Vec<u8>) {
    with_current(|cached| dst.extend_from_slice(date_of(&cached.closing)));
}

/// Appends `date: <now>`, `server: nucleus` and the blank line that ends a head.
pub(crate) fn extend_closing_fields(dst: &mut Vec<u8>) {
    with_current(|cached| dst.extend_from_slice(&cached.closing));
}

/// Calls `f` with the current IMF-fixdate.
#[cfg(feature = "http2")]
pub(crate) fn with_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    with_current(|cached| f(date_of(&cached.closing)))
}

/// The current IMF-fixdate as a header value.
#[cfg(feature = "http2")]
pub(crate) fn header_value() -> http::HeaderValue {
    with_current(|cached| {
        let closing = cached.closing;
        cached
            .value
            .get_or_insert_with(|| {
                http::HeaderValue::from_bytes(date_of(&closing)).unwrap_or(
                    http::HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
                )
            })
            .clone()
    })
}

fn date_of(closing: &[u8; CLOSING_LEN]) -> &[u8] {
    closing.get(DATE_AT..DATE_AT + DATE_LEN).unwrap_or_default()
}

fn with_current<R>(f: impl FnOnce(&mut CachedDate) -> R) -> R {
    let mut second = NOW_SECOND.load(Ordering::Relaxed);
    if second == 0 {
        CLOCK.call_once(start_clock);
        second = unix_second();
    }
    CACHED.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.second != second {
            let formatted = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
            if let (Some(slot), DATE_LEN) = (
                cached.closing.get_mut(DATE_AT..DATE_AT + DATE_LEN),
                formatted.len(),
            ) {
                slot.copy_from_slice(formatted.as_bytes());
            }
            cached.second = second;
            #[cfg(feature = "http2")]
            {
                cached.value = None;
            }
        }
        f(&mut cached)
    })
}

/// The current Unix second, from the clock thread or a publisher when one runs (no clock read).
pub(crate) fn now_second() -> u64 {
    match NOW_SECOND.load(Ordering::Relaxed) {
        0 => {
            CLOCK.call_once(start_clock);
            unix_second()
        }
        second => second,
    }
}

fn unix_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs().max(1))
}

/// Starts the clock thread; without it (it failed to spawn) callers read the clock themselves.
fn start_clock() {
    let started = std::thread::Builder::new()
        .name("nucleus-clock".into())
        .spawn(|| loop {
            NOW_SECOND.store(unix_second(), Ordering::Relaxed);
            // Wake just after the next second boundary, so the published second is never stale
            // by more than a few milliseconds.
            let into_second = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_millis());
            std::thread::sleep(Duration::from_millis(u64::from(
                1001 - into_second.min(1000),
            )));
        });
    CLOCK_RUNS.store(started.is_ok(), Ordering::Release);
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_the_current_imf_fixdate() {
        let mut out = Vec::new();
        super::extend(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.len(), super::DATE_LEN);
        let date = httpdate::parse_http_date(&text).unwrap();
        let skew = std::time::SystemTime::now()
            .duration_since(date)
            .unwrap_or_default();
        assert!(skew < std::time::Duration::from_secs(2), "{text}");
    }

    #[test]
    fn closing_fields_carry_the_same_date_and_end_the_head() {
        let (mut date, mut closing) = (Vec::new(), Vec::new());
        super::extend(&mut date);
        super::extend_closing_fields(&mut closing);
        let text = String::from_utf8(closing).unwrap();
        let date = String::from_utf8(date).unwrap();
        assert_eq!(text, format!("date: {date}\r\nserver: nucleus\r\n\r\n"));
    }

    #[test]
    fn follows_the_clock_thread() {
        let mut first = Vec::new();
        super::extend(&mut first);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let mut second = Vec::new();
        super::extend(&mut second);
        assert_ne!(first, second, "Date did not advance after a second");
    }
}
