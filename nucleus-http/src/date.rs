//! The `Date` header, formatted once a second instead of once a response.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

struct CachedDate {
    /// When the cached text goes stale (the next whole second).
    next: SystemTime,
    bytes: [u8; DATE_LEN],
}

thread_local! {
    // Per thread, so no synchronisation: reading the clock (vDSO, no syscall) and comparing one
    // integer replaces formatting a date for every response.
    static CACHED: RefCell<CachedDate> = const { RefCell::new(CachedDate { next: UNIX_EPOCH, bytes: [b' '; DATE_LEN] }) };
}

/// Appends the current IMF-fixdate to `dst`.
pub(crate) fn extend(dst: &mut Vec<u8>) {
    let now = SystemTime::now();
    CACHED.with(|cell| {
        let mut cached = cell.borrow_mut();
        // A comparison, not a subtraction: the common path is one clock read and one compare.
        if now >= cached.next {
            let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == DATE_LEN {
                cached.bytes.copy_from_slice(formatted.as_bytes());
            }
            cached.next = UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs() + 1);
        }
        dst.extend_from_slice(&cached.bytes);
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_an_imf_fixdate() {
        let mut out = Vec::new();
        super::extend(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.len(), super::DATE_LEN);
        assert!(text.ends_with(" GMT"), "{text}");
        assert!(httpdate::parse_http_date(&text).is_ok());
    }
}
