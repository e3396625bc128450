//! Allocator tuning for a server that holds many idle connections.
//!
//! A keep-alive connection that idles frees its buffers (see `nucleus-http`'s dispatcher).
//! mimalloc keeps freed pages for a delay (1 s by default) before it returns them to the
//! kernel, and only counts that delay down when the thread allocates again. On a worker whose
//! connections are all idle, that never happens, so freed buffers stayed resident: 6.4 KiB
//! per idle connection instead of 1.9 KiB (docs/PERFORMANCE.md).
//!
//! Returning them at once (a delay of 0) was the first answer, but it makes a busy worker
//! give pages back and fault them in again for every batch of work that empties one: an
//! `madvise` per 32 HTTP/2 requests, and 648,000 instead of 967,000 h2c requests per second
//! on one core (h2load -c 16 -m 32); TLS handshakes paid the same way for rustls's buffers.
//! 100 ms keeps pages that are reused at once and still returns what idle connections freed:
//! 2.2–2.9 KiB per idle connection in this session's runs of `SKIP_BUILD=1 bench/idle.sh
//! nucleus` (2.2 KiB with purging at once).

use std::ffi::c_long;

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_e`, mimalloc v3).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Its documented default in milliseconds, used to check that `PURGE_DELAY` names it.
const DEFAULT_PURGE_DELAY_MS: c_long = 1000;
/// Ours.
const PURGE_DELAY_MS: c_long = 100;

/// Returns freed memory to the kernel after 100 ms, unless the operator chose a delay with
/// `MIMALLOC_PURGE_DELAY`. Returns whether the setting was changed.
pub(crate) fn purge_freed_memory_soon() -> bool {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return false;
    }
    #[allow(unsafe_code)]
    // SAFETY: both calls only read or write one entry of mimalloc's option table; any option
    // index is accepted (an unknown one is ignored), and the option is re-read by the
    // allocator on every purge, so changing it while threads allocate is supported.
    unsafe {
        // Only if the option at that index has the purge delay's default: a different
        // mimalloc version with another enum order leaves everything as it was.
        if libmimalloc_sys::mi_option_get(PURGE_DELAY) != DEFAULT_PURGE_DELAY_MS {
            return false;
        }
        libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS);
        libmimalloc_sys::mi_option_get(PURGE_DELAY) == PURGE_DELAY_MS
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_is_found_and_set() {
        // The test binary's allocator is the system one, but mimalloc's option table is
        // linked in all the same: the index must hold the documented default until set.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        assert!(super::purge_freed_memory_soon());
        assert!(!super::purge_freed_memory_soon(), "already set: left alone");
    }
}
