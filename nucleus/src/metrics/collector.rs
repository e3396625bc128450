//! Scrape time: sum the shards into a snapshot, then encode it through `prometheus-client`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use nucleus_http::observe::RouteId;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use super::process::{self, Process};
use super::store::{self, Store, BUCKETS, EVENT_KINDS, METHODS, PROTOCOLS, STATUS_SLOTS};

/// One (route, method) pair summed over the shards.
#[derive(Debug)]
struct Pair {
    route: usize,
    method: usize,
    statuses: Vec<(u16, u64)>,
    buckets: [u64; BUCKETS.len() + 1],
    sum_nanos: u64,
}

#[derive(Debug)]
pub(super) struct Snapshot {
    routes: Vec<Arc<str>>,
    pairs: Vec<Pair>,
    in_flight: i64,
    open: [i64; PROTOCOLS.len()],
    accepted: [u64; PROTOCOLS.len()],
    received: u64,
    sent: u64,
    events: [u64; EVENT_KINDS.len()],
    /// Lines each lossy log dropped, by log name.
    dropped: Vec<(&'static str, u64)>,
    process: Process,
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

fn load_i(c: &AtomicI64) -> i64 {
    c.load(Ordering::Relaxed)
}

impl Snapshot {
    pub(super) fn take(
        store: &Store,
        in_flight: i64,
        dropped: Vec<(&'static str, u64)>,
    ) -> Snapshot {
        let routes = RouteId::all();
        let shards = store.shards();
        let mut pairs = Vec::new();
        for route in 0..routes.len() {
            for method in 0..METHODS.len() {
                let mut statuses = [0u64; STATUS_SLOTS];
                let mut buckets = [0u64; BUCKETS.len() + 1];
                let mut sum_nanos = 0u64;
                let mut seen = false;
                for series in shards.iter().filter_map(|s| s.existing(route, method)) {
                    seen = true;
                    for (total, c) in statuses.iter_mut().zip(&series.statuses) {
                        *total += load(c);
                    }
                    for (total, c) in buckets.iter_mut().zip(&series.buckets) {
                        *total += load(c);
                    }
                    sum_nanos = sum_nanos.wrapping_add(load(&series.sum_nanos));
                }
                if !seen {
                    continue;
                }
                let statuses = statuses
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(slot, n)| (store::slot_status(slot), *n))
                    .collect();
                pairs.push(Pair {
                    route,
                    method,
                    statuses,
                    buckets,
                    sum_nanos,
                });
            }
        }
        let sum = |f: &dyn Fn(&store::Shard) -> u64| shards.iter().map(f).sum::<u64>();
        let sum_i = |f: &dyn Fn(&store::Shard) -> i64| shards.iter().map(f).sum::<i64>();
        Snapshot {
            routes,
            pairs,
            in_flight,
            open: std::array::from_fn(|i| sum_i(&|s| s.open.get(i).map_or(0, load_i))),
            accepted: std::array::from_fn(|i| sum(&|s| s.accepted.get(i).map_or(0, load))),
            received: sum(&|s| load(&s.received)),
            sent: sum(&|s| load(&s.sent)),
            events: std::array::from_fn(|i| sum(&|s| s.events.get(i).map_or(0, load))),
            dropped,
            process: process::read(),
        }
    }

    fn route(&self, index: usize) -> &str {
        self.routes.get(index).map_or("<other>", |r| r)
    }
}

fn method(index: usize) -> &'static str {
    METHODS.get(index).copied().unwrap_or("OTHER")
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "http_requests",
            "Requests answered, by method, matched route template and status.",
            None,
            MetricType::Counter,
        )?;
        let mut code = itoa::Buffer::new();
        for pair in &self.pairs {
            for &(status, n) in &pair.statuses {
                let labels = [
                    ("method", method(pair.method)),
                    ("route", self.route(pair.route)),
                    ("status", code.format(status)),
                ];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "http_request_duration_seconds",
            "Time from a complete request head to the end of the response.",
            None,
            MetricType::Histogram,
        )?;
        for pair in &self.pairs {
            let labels = [
                ("method", method(pair.method)),
                ("route", self.route(pair.route)),
            ];
            let bounds = BUCKETS.iter().copied().chain([f64::INFINITY]);
            let buckets: Vec<(f64, u64)> = bounds.zip(pair.buckets).collect();
            let count = pair.buckets.iter().sum();
            family
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(
                    pair.sum_nanos as f64 / 1e9,
                    count,
                    &buckets,
                    None,
                )?;
        }

        gauge(
            &mut encoder,
            "http_requests_in_flight",
            "Requests being handled now.",
            self.in_flight,
        )?;
        let mut family = encoder.encode_descriptor(
            "http_connections_open",
            "Connections open now.",
            None,
            MetricType::Gauge,
        )?;
        for (protocol, open) in PROTOCOLS.iter().zip(self.open) {
            ConstGauge::new(open).encode(family.encode_family(&[("protocol", *protocol)])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "http_connections",
            "Connections accepted.",
            None,
            MetricType::Counter,
        )?;
        for (protocol, n) in PROTOCOLS.iter().zip(self.accepted) {
            ConstCounter::new(n).encode(family.encode_family(&[("protocol", *protocol)])?)?;
        }
        counter(
            &mut encoder,
            "http_received_bytes",
            "Bytes read from client connections.",
            self.received,
        )?;
        counter(
            &mut encoder,
            "http_sent_bytes",
            "Bytes written to client connections.",
            self.sent,
        )?;
        let mut family = encoder.encode_descriptor(
            "http_errors",
            "Errors and notable events by kind: parse, limit, timeout_*, client_abort, \
             handler_error, panic, accept, connection_cap (the connection cap was reached), \
             tls_handshake (a failed TLS handshake).",
            None,
            MetricType::Counter,
        )?;
        for (kind, n) in EVENT_KINDS.iter().zip(self.events) {
            ConstCounter::new(n).encode(family.encode_family(&[("kind", *kind)])?)?;
        }
        if !self.dropped.is_empty() {
            let mut family = encoder.encode_descriptor(
                "log_lines_dropped",
                "Log lines dropped because the output could not keep up (the log is lossy \
                 so that a slow output never stalls a request).",
                None,
                MetricType::Counter,
            )?;
            for (log, n) in &self.dropped {
                ConstCounter::new(*n).encode(family.encode_family(&[("log", *log)])?)?;
            }
        }
        self.encode_process(&mut encoder)
    }
}

impl Snapshot {
    fn encode_process(&self, encoder: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let p = &self.process;
        if let Some(v) = p.resident_bytes {
            gauge(
                encoder,
                "process_resident_memory_bytes",
                "Resident memory size.",
                v as i64,
            )?;
        }
        if let Some(v) = p.virtual_bytes {
            gauge(
                encoder,
                "process_virtual_memory_bytes",
                "Virtual memory size.",
                v as i64,
            )?;
        }
        if let Some(v) = p.cpu_seconds {
            let family = encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent.",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(v).encode(family)?;
        }
        if let Some(v) = p.open_fds {
            gauge(
                encoder,
                "process_open_fds",
                "Open file descriptors.",
                v as i64,
            )?;
        }
        if let Some(v) = p.max_fds {
            gauge(
                encoder,
                "process_max_fds",
                "Open file descriptor limit.",
                v as i64,
            )?;
        }
        if let Some(v) = p.start_time_seconds {
            let family = encoder.encode_descriptor(
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch.",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(v).encode(family)?;
        }
        if let Some(v) = p.threads {
            gauge(encoder, "process_threads", "OS threads.", v as i64)?;
        }
        Ok(())
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(family)
}

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(family)
}
