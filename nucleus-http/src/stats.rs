//! Process-wide event counters: cheap (one relaxed atomic add, only when the event happens)
//! and readable at any time, for logs, health pages and metrics exporters.

use std::sync::atomic::{AtomicU64, Ordering};

/// A point-in-time copy of the engine's counters.
///
/// # Examples
///
/// ```
/// let stats = nucleus_http::stats();
/// println!("{} slowloris clients cut off", stats.header_read_timeouts);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Heads that did not arrive within `header_read_timeout` (answered 408).
    pub header_read_timeouts: u64,
    /// Idle keep-alive connections closed by `keep_alive_timeout`.
    pub keep_alive_timeouts: u64,
    /// Request bodies slower than `body_min_rate` (408).
    pub body_rate_timeouts: u64,
    /// Clients that took responses slower than `send_min_rate` (disconnected).
    pub send_rate_timeouts: u64,
    /// Handlers that exceeded `handler_timeout` (503).
    pub handler_timeouts: u64,
    /// Times an accept loop found the connection cap reached and waited for a slot.
    pub connection_cap_reached: u64,
    /// Accept errors such as `EMFILE`, each followed by a back-off.
    pub accept_errors: u64,
    /// Keep-alive connections that idled long enough to free their buffers.
    pub idle_buffers_released: u64,
    /// HTTP/2 connections closed with `GOAWAY(ENHANCE_YOUR_CALM)` for cancelling more
    /// streams than `max_cancelled_streams` (Rapid Reset).
    pub h2_reset_floods: u64,
    /// TLS handshakes that failed, timed out, or got plain HTTP.
    pub tls_handshake_failures: u64,
}

pub(crate) static HEADER_READ_TIMEOUTS: AtomicU64 = AtomicU64::new(0);
pub(crate) static KEEP_ALIVE_TIMEOUTS: AtomicU64 = AtomicU64::new(0);
pub(crate) static BODY_RATE_TIMEOUTS: AtomicU64 = AtomicU64::new(0);
pub(crate) static SEND_RATE_TIMEOUTS: AtomicU64 = AtomicU64::new(0);
pub(crate) static HANDLER_TIMEOUTS: AtomicU64 = AtomicU64::new(0);
pub(crate) static CONNECTION_CAP_REACHED: AtomicU64 = AtomicU64::new(0);
pub(crate) static ACCEPT_ERRORS: AtomicU64 = AtomicU64::new(0);
pub(crate) static IDLE_BUFFERS_RELEASED: AtomicU64 = AtomicU64::new(0);
#[cfg_attr(not(feature = "http2"), allow(dead_code))]
pub(crate) static H2_RESET_FLOODS: AtomicU64 = AtomicU64::new(0);
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) static TLS_HANDSHAKE_FAILURES: AtomicU64 = AtomicU64::new(0);

pub(crate) fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The engine's counters since the process started.
pub fn stats() -> Stats {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    Stats {
        header_read_timeouts: get(&HEADER_READ_TIMEOUTS),
        keep_alive_timeouts: get(&KEEP_ALIVE_TIMEOUTS),
        body_rate_timeouts: get(&BODY_RATE_TIMEOUTS),
        send_rate_timeouts: get(&SEND_RATE_TIMEOUTS),
        handler_timeouts: get(&HANDLER_TIMEOUTS),
        connection_cap_reached: get(&CONNECTION_CAP_REACHED),
        accept_errors: get(&ACCEPT_ERRORS),
        idle_buffers_released: get(&IDLE_BUFFERS_RELEASED),
        h2_reset_floods: get(&H2_RESET_FLOODS),
        tls_handshake_failures: get(&TLS_HANDSHAKE_FAILURES),
    }
}
