//! Where the counters live: plain atomics in per-thread shards, indexed by small integers.
//!
//! Each worker thread writes to its own shard (assigned round-robin on first use), so two
//! cores never bounce a cache line over the same counter; a scrape sums the shards. Series
//! of a (route, method) pair are allocated the first time the pair is seen, in chunks, so an
//! idle route costs nothing and the hot path never takes a lock, hashes or allocates after
//! warm-up.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use http::{Method, StatusCode};
use nucleus_http::observe::{RouteId, MAX_ROUTES};

/// Method labels, in the router's order of the standard methods; anything else is `OTHER`.
pub(super) const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "OTHER",
];

/// Upper bounds of the duration histogram, in seconds: 0.5 ms (a cached answer on a fast
/// path) to 10 s (beyond it a client has usually given up). The classic Prometheus default
/// buckets start at 5 ms, too coarse for a server whose median answer takes microseconds.
pub(super) const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BUCKET_NANOS: [u64; 14] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Status codes 100 to 599 each get a slot; 600 to 999 (valid in `http::StatusCode`, unused
/// in practice) share the last one, labelled `600`.
pub(super) const STATUS_SLOTS: usize = 501;
const FIRST_STATUS: u16 = 100;

/// Error and event kinds, in label order.
pub(super) const EVENT_KINDS: [&str; 14] = [
    "parse",
    "limit",
    "timeout_header_read",
    "timeout_keep_alive",
    "timeout_body_rate",
    "timeout_send_rate",
    "timeout_handler",
    "timeout_tls_handshake",
    "client_abort",
    "handler_error",
    "panic",
    "accept",
    "connection_cap",
    "tls_handshake",
];

pub(super) const PROTOCOLS: [&str; 2] = ["http1", "http2"];

const SHARDS: usize = 16;
const CHUNK: usize = 64;
const CHUNKS: usize = MAX_ROUTES.div_ceil(CHUNK);

/// The counters of one (route, method) pair in one shard.
pub(super) struct Series {
    pub(super) statuses: [AtomicU64; STATUS_SLOTS],
    /// Non-cumulative: the last slot is above the highest bound (`+Inf`).
    pub(super) buckets: [AtomicU64; BUCKETS.len() + 1],
    pub(super) sum_nanos: AtomicU64,
}

type Methods = [OnceLock<Box<Series>>; METHODS.len()];

/// On cache lines of its own: two workers never write to one line.
#[repr(align(128))]
pub(super) struct Shard {
    chunks: [OnceLock<Box<[Methods; CHUNK]>>; CHUNKS],
    pub(super) open: [AtomicI64; PROTOCOLS.len()],
    pub(super) accepted: [AtomicU64; PROTOCOLS.len()],
    pub(super) received: AtomicU64,
    pub(super) sent: AtomicU64,
    pub(super) events: [AtomicU64; EVENT_KINDS.len()],
}

pub(super) struct Store {
    shards: Box<[Shard; SHARDS]>,
}

impl Store {
    pub(super) fn new() -> Store {
        Store {
            shards: Box::new(std::array::from_fn(|_| Shard::new())),
        }
    }

    /// This thread's shard.
    pub(super) fn local(&self) -> &Shard {
        // A power of two: the remainder needs no bounds check.
        &self.shards[nucleus_http::internal::thread_number() % SHARDS]
    }

    pub(super) fn shards(&self) -> &[Shard] {
        &self.shards[..]
    }
}

impl Shard {
    fn new() -> Shard {
        Shard {
            chunks: [const { OnceLock::new() }; CHUNKS],
            open: [const { AtomicI64::new(0) }; PROTOCOLS.len()],
            accepted: [const { AtomicU64::new(0) }; PROTOCOLS.len()],
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            events: [const { AtomicU64::new(0) }; EVENT_KINDS.len()],
        }
    }

    /// The series of `route` and `method`, created on first use.
    pub(super) fn series(&self, route: RouteId, method: usize) -> Option<&Series> {
        let chunk = self.chunks.get(route.index() / CHUNK)?.get_or_init(|| {
            Box::new(std::array::from_fn(|_| {
                std::array::from_fn(|_| OnceLock::new())
            }))
        });
        let slot = chunk.get(route.index() % CHUNK)?.get(method)?;
        Some(slot.get_or_init(|| Box::new(Series::new())))
    }

    /// The series of `route` and `method` if it exists, for scrapes.
    pub(super) fn existing(&self, route: usize, method: usize) -> Option<&Series> {
        let chunk = self.chunks.get(route / CHUNK)?.get()?;
        chunk.get(route % CHUNK)?.get(method)?.get().map(|b| &**b)
    }
}

impl Series {
    fn new() -> Series {
        Series {
            statuses: [const { AtomicU64::new(0) }; STATUS_SLOTS],
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len() + 1],
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub(super) fn record(&self, status: StatusCode, duration: Duration) {
        add(&self.statuses, status_slot(status), 1);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BUCKET_NANOS
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(BUCKETS.len());
        add(&self.buckets, bucket, 1);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

pub(super) fn add(counters: &[AtomicU64], index: usize, n: u64) {
    if let Some(counter) = counters.get(index) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

fn status_slot(status: StatusCode) -> usize {
    usize::from(status.as_u16().saturating_sub(FIRST_STATUS)).min(STATUS_SLOTS - 1)
}

/// The status a slot counts; the last slot stands for 600 to 999.
pub(super) fn slot_status(slot: usize) -> u16 {
    FIRST_STATUS + slot as u16
}

pub(super) fn method_index(method: Option<&Method>) -> usize {
    let Some(method) = method else {
        return METHODS.len() - 1;
    };
    // Standard methods compare by discriminant, without touching strings.
    crate::routing::STANDARD_METHODS
        .iter()
        .position(|m| m == method)
        .unwrap_or(METHODS.len() - 1)
}

pub(super) fn event_index(kind: &str) -> Option<usize> {
    EVENT_KINDS.iter().position(|k| *k == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_follow_the_routers_standard_methods() {
        for (i, method) in crate::routing::STANDARD_METHODS.iter().enumerate() {
            assert_eq!(METHODS.get(i), Some(&method.as_str()));
            assert_eq!(method_index(Some(method)), i);
        }
        assert_eq!(METHODS.len(), crate::routing::STANDARD_METHODS.len() + 1);
        let other = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(METHODS.get(method_index(Some(&other))), Some(&"OTHER"));
        assert_eq!(METHODS.get(method_index(None)), Some(&"OTHER"));
    }
}
