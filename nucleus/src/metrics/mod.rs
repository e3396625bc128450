//! Prometheus metrics: request counts, latencies, connections, bytes, errors and the process.
//!
//! [`Metrics`] is an engine observer ([`nucleus_http::observe::Observe`]): install it in
//! [`Config::observer`](nucleus_http::Config::observer) and serve [`Metrics::handler`] at a
//! path such as `/metrics`. Counting is a handful of relaxed atomic adds per request into the
//! calling worker's own shard; no lock, hash or allocation on the request path. Labels are
//! resolved only when scraped.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `http_requests_total` | counter | `method`, `route`, `status` |
//! | `http_request_duration_seconds` | histogram (0.5 ms to 10 s) | `method`, `route` |
//! | `http_requests_in_flight` | gauge | |
//! | `http_connections_open` | gauge | `protocol` |
//! | `http_connections_total` | counter | `protocol` |
//! | `http_received_bytes_total`, `http_sent_bytes_total` | counter | |
//! | `http_errors_total` | counter | `kind` |
//! | `log_lines_dropped_total` | counter | `log` (as given to [`Metrics::count_dropped_lines`]) |
//! | `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_cpu_seconds_total`, `process_open_fds`, `process_max_fds`, `process_start_time_seconds`, `process_threads` | | |
//!
//! `route` is the matched route template (`/users/{id}`), never the raw path; every request no
//! route took is `<unmatched>`, so clients cannot create series. `method` is one of the nine
//! standard methods or `OTHER`.
//!
//! ```
//! use std::sync::Arc;
//! use nucleus::{metrics::Metrics, Request, Router};
//!
//! let metrics = Arc::new(Metrics::new());
//! let mut config = nucleus::Config::default();
//! config.observer = Some(metrics.clone());
//! let app = Router::new()
//!     .get("/", |_req: Request| async { "hi" })
//!     .get("/metrics", metrics.handler());
//! let server = nucleus::Server::builder().config(config);
//! # let _ = (app, server);
//! ```

mod collector;
mod process;
mod store;

use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use http::header::{HeaderValue, CONTENT_TYPE};
use nucleus_http::observe::{Completed, Event, InFlight, Observe, Protocol, RequestInfo};
use prometheus_client::registry::Registry;

use crate::{Request, Response};
use store::Store;

/// The `Content-Type` of [`Metrics::render`]'s output: Prometheus text format 0.0.4.
pub const CONTENT_TYPE_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Request, connection, error and process metrics for one server.
pub struct Metrics {
    store: Store,
    /// Kept by the engine (see [`Observe::in_flight`]).
    in_flight: InFlight,
    dropped: Mutex<Vec<(&'static str, DroppedLines)>>,
}

/// Reads how many lines a log has dropped so far.
type DroppedLines = Box<dyn Fn() -> u64 + Send + Sync>;

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Metrics {
        Metrics {
            store: Store::new(),
            in_flight: InFlight::new(),
            dropped: Mutex::new(Vec::new()),
        }
    }

    /// Exports the lines a lossy log has dropped as `log_lines_dropped_total{log="<log>"}`,
    /// read from `dropped` at each scrape.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use nucleus::access_log::{AccessLog, Format, Target};
    /// use nucleus::metrics::Metrics;
    ///
    /// let metrics = Metrics::new();
    /// let log = Arc::new(AccessLog::new(Format::Combined, Target::Stderr)?);
    /// metrics.count_dropped_lines("access", move || log.dropped());
    /// assert!(metrics.render().contains(r#"log_lines_dropped_total{log="access"} 0"#));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn count_dropped_lines(
        &self,
        log: &'static str,
        dropped: impl Fn() -> u64 + Send + Sync + 'static,
    ) {
        self.dropped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((log, Box::new(dropped)));
    }

    /// The current values in the Prometheus text format.
    ///
    /// ```
    /// let metrics = nucleus::metrics::Metrics::new();
    /// assert!(metrics.render().contains("# TYPE http_requests_in_flight gauge"));
    /// ```
    pub fn render(&self) -> String {
        let mut registry = Registry::default();
        let dropped = self
            .dropped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(log, read)| (*log, read()))
            .collect();
        let snapshot = collector::Snapshot::take(&self.store, self.in_flight.get(), dropped);
        registry.register_collector(Box::new(snapshot));
        let mut out = String::with_capacity(4096);
        // Writing into a `String` cannot fail; an encoder error would only truncate.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        out
    }

    /// A handler that answers with [`Metrics::render`].
    pub fn handler(
        self: &std::sync::Arc<Self>,
    ) -> impl Fn(Request) -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
        let metrics = self.clone();
        move |_req: Request| std::future::ready(metrics.response())
    }

    /// [`Metrics::render`] as a complete response.
    pub fn response(&self) -> Response {
        let mut response = Response::new(nucleus_http::Body::from(self.render()));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
        response
    }

    /// A `tower::Service` answering every request with the metrics, for a separate listener.
    pub fn service(
        self: &std::sync::Arc<Self>,
    ) -> impl tower_service::Service<
        http::Request<nucleus_http::Body>,
        Response = Response,
        Error = std::convert::Infallible,
        Future = impl Future<Output = Result<Response, std::convert::Infallible>> + Send,
    > + Clone
           + Send
           + 'static {
        let metrics = self.clone();
        tower::service_fn(move |_req: http::Request<nucleus_http::Body>| {
            std::future::ready(Ok(metrics.response()))
        })
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn protocol_index(protocol: Protocol) -> usize {
    match protocol {
        Protocol::Http2 => 1,
        _ => 0,
    }
}

impl Observe for Metrics {
    fn connection_opened(&self, protocol: Protocol) {
        let shard = self.store.local();
        let i = protocol_index(protocol);
        store::add(&shard.accepted, i, 1);
        if let Some(open) = shard.open.get(i) {
            open.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn connection_closed(&self, protocol: Protocol) {
        // Possibly another shard than the one that opened it: only the sum is meaningful.
        if let Some(open) = self.store.local().open.get(protocol_index(protocol)) {
            open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn in_flight(&self) -> Option<&InFlight> {
        Some(&self.in_flight)
    }

    fn request_completed(&self, done: &Completed) {
        let shard = self.store.local();
        shard.received.fetch_add(done.received, Ordering::Relaxed);
        shard.sent.fetch_add(done.sent, Ordering::Relaxed);
        if let Some(series) = shard.series(done.route, store::method_index(done.method.as_ref())) {
            series.record(done.status, done.duration);
        }
    }

    fn bytes_transferred(&self, received: u64, sent: u64) {
        let shard = self.store.local();
        shard.received.fetch_add(received, Ordering::Relaxed);
        shard.sent.fetch_add(sent, Ordering::Relaxed);
    }

    fn event(&self, event: &Event<'_>, _request: &RequestInfo<'_>) {
        if let Some(i) = store::event_index(event.kind()) {
            store::add(&self.store.local().events, i, 1);
        }
    }
}
