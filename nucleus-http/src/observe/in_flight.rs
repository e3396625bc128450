//! The requests-in-flight gauge, kept by the engine for an observer that hands it one.
//!
//! Counting in the engine is two relaxed atomic adds per request into a shard the connection
//! picked when it opened. A call through the observer at each request's start (a virtual call,
//! then whatever observers it fans out to) cost about 30 instructions more.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::thread_number::thread_number;

/// Shards of a gauge; a power of two, so that picking one needs no bounds check.
const SHARDS: usize = 64;

/// A counter on cache lines of its own: workers on two cores never write the same line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(AtomicI64);

/// How many requests are being handled now: heads read whose responses are not complete yet.
///
/// An observer that exports the figure returns its gauge from
/// [`Observe::in_flight`](super::Observe::in_flight), and the engine keeps it up to date.
/// Clones share the count.
///
/// ```
/// use nucleus_http::observe::InFlight;
///
/// let gauge = InFlight::new();
/// assert_eq!(gauge.get(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct InFlight {
    shards: Arc<[Shard; SHARDS]>,
}

impl Default for InFlight {
    fn default() -> InFlight {
        InFlight::new()
    }
}

impl InFlight {
    /// A gauge at zero.
    pub fn new() -> InFlight {
        InFlight {
            shards: Arc::new(std::array::from_fn(|_| Shard::default())),
        }
    }

    /// The number of requests in flight now.
    pub fn get(&self) -> i64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }

    /// Counts a request that starts (`1`) or completes (`-1`) into the calling thread's shard,
    /// for records that do not keep a [`LocalInFlight`].
    #[cfg_attr(not(feature = "http2"), allow(dead_code))] // HTTP/2 only
    pub(crate) fn add_here(&self, n: i64) {
        self.counter(thread_number())
            .fetch_add(n, Ordering::Relaxed);
    }

    fn counter(&self, shard: usize) -> &AtomicI64 {
        &self.shards[shard % SHARDS].0
    }

    /// This gauge, counted into the calling thread's shard.
    pub(crate) fn local(&self) -> LocalInFlight {
        LocalInFlight {
            gauge: self.clone(),
            shard: thread_number() % SHARDS,
        }
    }
}

/// A gauge and the shard a connection counts into (the one of the thread it opened on; a task
/// that moves to another thread keeps it, which only matters to the cache, not to the sum).
#[derive(Debug, Clone)]
pub(crate) struct LocalInFlight {
    gauge: InFlight,
    shard: usize,
}

impl LocalInFlight {
    pub(crate) fn started(&self) {
        self.gauge
            .counter(self.shard)
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn completed(&self) {
        self.gauge
            .counter(self.shard)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_and_threads_share_one_count() {
        let gauge = InFlight::new();
        let here = gauge.local();
        here.started();
        here.started();
        let there = gauge.clone();
        std::thread::spawn(move || {
            let local = there.local();
            local.started();
            here.completed();
        })
        .join()
        .unwrap();
        assert_eq!(gauge.get(), 2);
    }
}
