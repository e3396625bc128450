//! The `Date` header, formatted once a second instead of once a response.
//!
//! A clock thread publishes the current Unix second into an atomic once a second; each worker
//! thread keeps the formatted text and re-formats only when that second changes. The hot path
//! is one relaxed atomic load and one compare: no clock read (~100 instructions even through
//! the vDSO) and no formatting per response.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

/// The current Unix second, kept by the clock thread; 0 until it has started.
static NOW_SECOND: AtomicU64 = AtomicU64::new(0);
static CLOCK: Once = Once::new();

struct CachedDate {
    second: u64,
    bytes: [u8; DATE_LEN],
    /// The same text as a header value, made on first use in each second (HTTP/2 responses
    /// carry headers as a map, not as bytes); cloning it is a reference count.
    #[cfg(feature = "http2")]
    value: Option<http::HeaderValue>,
}

thread_local! {
    static CACHED: RefCell<CachedDate> = const {
        RefCell::new(CachedDate {
            second: u64::MAX,
            bytes: [b' '; DATE_LEN],
            #[cfg(feature = "http2")]
            value: None,
        })
    };
}

/// Appends the current IMF-fixdate to `dst`.
pub(crate) fn extend(dst: &mut Vec<u8>) {
    with_current(|cached| dst.extend_from_slice(&cached.bytes));
}

/// The current IMF-fixdate as a header value.
#[cfg(feature = "http2")]
pub(crate) fn header_value() -> http::HeaderValue {
    with_current(|cached| {
        let bytes = cached.bytes;
        cached
            .value
            .get_or_insert_with(|| {
                http::HeaderValue::from_bytes(&bytes).unwrap_or(http::HeaderValue::from_static(
                    "Thu, 01 Jan 1970 00:00:00 GMT",
                ))
            })
            .clone()
    })
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
            if formatted.len() == DATE_LEN {
                cached.bytes.copy_from_slice(formatted.as_bytes());
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

fn unix_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs().max(1))
}

/// Starts the clock thread; without it (it failed to spawn) callers read the clock themselves.
fn start_clock() {
    let _ = std::thread::Builder::new()
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
    fn follows_the_clock_thread() {
        let mut first = Vec::new();
        super::extend(&mut first);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let mut second = Vec::new();
        super::extend(&mut second);
        assert_ne!(first, second, "Date did not advance after a second");
    }
}
