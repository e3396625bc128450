//! Observation hooks: what metrics, access logs and error logs are built from.
//!
//! The engine tells an [`Observe`] implementation about connections, completed requests and
//! categorised errors. It holds one in [`Config::observer`](crate::Config::observer); with
//! `None` (the default) each hook site costs one branch. The hooks are protocol-agnostic
//! (they carry a [`Protocol`]), so an HTTP/2 engine reports through the same trait.
//!
//! Hooks run on the worker thread in the middle of serving a connection: they must be cheap
//! and must never block (count into atomics, append to a buffer, drop when full).
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use nucleus_http::observe::{Completed, Observe};
//!
//! #[derive(Debug, Default)]
//! struct ServerErrors(AtomicU64);
//!
//! impl Observe for ServerErrors {
//!     fn request_completed(&self, done: &Completed) {
//!         if done.status.is_server_error() {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//!
//! let mut config = nucleus_http::Config::default();
//! config.observer = Some(Arc::new(ServerErrors::default()));
//! ```

pub(crate) mod clock;
mod in_flight;
pub(crate) mod request_id;
mod route;

pub(crate) mod record;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, Version};

pub use in_flight::InFlight;
pub(crate) use in_flight::LocalInFlight;
pub use request_id::{RequestId, MAX_REQUEST_ID_LEN};
pub use route::{RouteId, MAX_ROUTES};

/// The current Unix second as the engine keeps it (its clock thread, or a one-worker server's
/// own tick): one atomic load, no clock read.
/// Access logs use it to stamp lines.
pub fn unix_second() -> u64 {
    crate::date::now_second()
}

/// Reports a handler panic that a service caught itself (and answered, say, with a 500), so
/// the engine can log it with the request's ID, route and peer and count it. Returns `false`
/// when called outside a request the engine is running: then nobody will report it, and the
/// caller should log it itself.
pub fn report_panic(message: &str) -> bool {
    record::report_panic(message)
}

/// Receives the engine's observations. Every method has an empty default.
pub trait Observe: fmt::Debug + Send + Sync + 'static {
    /// Whether [`Completed::details`] should be filled (request target, `Referer`,
    /// `User-Agent`), which costs a walk over the request's fields and a copy of those three
    /// values per request (about 100 instructions). An access log wants them; counters do not.
    fn wants_details(&self) -> bool {
        false
    }
    /// A connection was accepted and will be served with `protocol`.
    fn connection_opened(&self, _protocol: Protocol) {}
    /// A connection closed, for whatever reason.
    fn connection_closed(&self, _protocol: Protocol) {}
    /// A gauge of requests in flight for the engine to keep: it counts each request from its
    /// complete head to its [`Observe::request_completed`]. Asked when an HTTP/1.1
    /// connection opens and when an HTTP/2 stream starts and ends, so it must be the same
    /// gauge every time. Keeping the count in the engine saves a call per request.
    fn in_flight(&self) -> Option<&InFlight> {
        None
    }
    /// A response went out completely, was cut off, or a request was rejected before it
    /// reached the service (malformed, too large, too slow).
    fn request_completed(&self, _done: &Completed) {}
    /// Bytes moved on a connection that no [`Completed`] reported: what remains when the
    /// connection closes (a partial head, an upgraded stream's traffic, ...).
    fn bytes_transferred(&self, _received: u64, _sent: u64) {}
    /// An error or notable event, categorised.
    fn event(&self, _event: &Event<'_>, _request: &RequestInfo<'_>) {}
}

impl<T: Observe + ?Sized> Observe for Arc<T> {
    fn wants_details(&self) -> bool {
        (**self).wants_details()
    }
    fn connection_opened(&self, protocol: Protocol) {
        (**self).connection_opened(protocol)
    }
    fn connection_closed(&self, protocol: Protocol) {
        (**self).connection_closed(protocol)
    }
    fn in_flight(&self) -> Option<&InFlight> {
        (**self).in_flight()
    }
    fn request_completed(&self, done: &Completed) {
        (**self).request_completed(done)
    }
    fn bytes_transferred(&self, received: u64, sent: u64) {
        (**self).bytes_transferred(received, sent)
    }
    fn event(&self, event: &Event<'_>, request: &RequestInfo<'_>) {
        (**self).event(event, request)
    }
}

/// Two observers in one: both are told everything, the first one first.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use nucleus_http::observe::{Both, Observe};
///
/// #[derive(Debug)]
/// struct Quiet;
/// impl Observe for Quiet {}
///
/// let mut config = nucleus_http::Config::default();
/// config.observer = Some(Arc::new(Both(Quiet, Quiet)));
/// ```
#[derive(Debug, Clone)]
pub struct Both<A, B>(pub A, pub B);

impl<A: Observe, B: Observe> Observe for Both<A, B> {
    fn wants_details(&self) -> bool {
        self.0.wants_details() || self.1.wants_details()
    }
    fn connection_opened(&self, protocol: Protocol) {
        self.0.connection_opened(protocol);
        self.1.connection_opened(protocol);
    }
    fn connection_closed(&self, protocol: Protocol) {
        self.0.connection_closed(protocol);
        self.1.connection_closed(protocol);
    }
    /// The first one's gauge, or else the second one's: the engine keeps one.
    fn in_flight(&self) -> Option<&InFlight> {
        self.0.in_flight().or_else(|| self.1.in_flight())
    }
    fn request_completed(&self, done: &Completed) {
        self.0.request_completed(done);
        self.1.request_completed(done);
    }
    fn bytes_transferred(&self, received: u64, sent: u64) {
        self.0.bytes_transferred(received, sent);
        self.1.bytes_transferred(received, sent);
    }
    fn event(&self, event: &Event<'_>, request: &RequestInfo<'_>) {
        self.0.event(event, request);
        self.1.event(event, request);
    }
}

/// The wire protocol of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP/1.0 or HTTP/1.1.
    Http1,
    /// HTTP/2.
    Http2,
}

impl Protocol {
    /// The label used in metrics: `http1` or `http2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
        }
    }
}

/// One finished request, as the engine saw it.
///
/// The engine keeps one per connection (per stream in HTTP/2) and fills it in place as the
/// request goes: handing it over by reference costs nothing, where building a copy of these
/// fields for every request showed up in profiles.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Completed {
    /// The connection's protocol.
    pub protocol: Protocol,
    /// The request method; `None` when the head could not be parsed.
    pub method: Option<Method>,
    /// The route template the service matched, or [`RouteId::UNMATCHED`].
    pub route: RouteId,
    /// The status sent (or being sent when the response was cut off).
    pub status: StatusCode,
    /// Response body bytes handed to the connection (nginx's `$body_bytes_sent`).
    pub body_bytes: u64,
    /// From the complete request head to the end of the response.
    pub duration: Duration,
    /// The peer, when the connection has one.
    pub peer: Option<SocketAddr>,
    /// The request's HTTP version.
    pub version: Version,
    /// The request ID, when request IDs are on.
    pub request_id: Option<RequestId>,
    /// Request line and headers for access logs, when [`Observe::wants_details`] said so.
    pub details: Option<Details>,
    /// The response was cut off (the client went away, or the body failed).
    pub aborted: bool,
    /// Bytes read from the connection since the last report (this request's head and body,
    /// and anything before it that was not a request). Counted here rather than through
    /// [`Observe::bytes_transferred`], which saves a call per request.
    pub received: u64,
    /// Bytes written to the connection since the last report.
    pub sent: u64,
}

impl Completed {
    /// A record with nothing in it yet, for a request on `protocol`.
    pub(crate) fn empty(protocol: Protocol, peer: Option<SocketAddr>, version: Version) -> Self {
        Completed {
            protocol,
            method: None,
            route: RouteId::UNMATCHED,
            status: record::CLIENT_CLOSED,
            body_bytes: 0,
            duration: Duration::ZERO,
            peer,
            version,
            request_id: None,
            details: None,
            aborted: false,
            received: 0,
            sent: 0,
        }
    }
}

/// What an access log needs from the request beyond the counters: the request target as the
/// client sent it, `Referer` and `User-Agent`, as raw (untrusted) bytes.
///
/// Over HTTP/1.1 these are ranges of the request head as received, held until the request
/// completes (the parser finds them in its walk over the fields, so this costs a reference
/// count). HTTP/2 copies them into a buffer the stream owns.
#[derive(Debug, Clone, Default)]
pub struct Details {
    /// The HTTP/1.1 head the spans point into; when `None`, they point into `copied`.
    head: Option<Bytes>,
    copied: Vec<u8>,
    target: Span,
    referer: Option<Span>,
    user_agent: Option<Span>,
}

/// A byte range of the details' bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Span(usize, usize);

impl Span {
    fn of((start, end): (u32, u32)) -> Span {
        Span(start as usize, end as usize)
    }
}

/// A details buffer grown past this by an odd request is not kept.
const KEEP_DETAILS_BUFFER: usize = 1024;

impl Details {
    /// Holds an HTTP/1.1 head whose request target lies at `target`; the parser then tells
    /// [`Details::note_field`] about each field.
    pub(crate) fn hold(&mut self, head: Bytes, target: (u32, u32)) {
        self.head = Some(head);
        self.target = Span::of(target);
        self.referer = None;
        self.user_agent = None;
    }

    /// A field of the held head, its value at `value`. The first of several counts, as
    /// nginx's `$http_user_agent` and `$http_referer`.
    #[inline]
    pub(crate) fn note_field(&mut self, name: &http::HeaderName, value: (u32, u32)) {
        if name == http::header::USER_AGENT {
            self.user_agent.get_or_insert(Span::of(value));
        } else if name == http::header::REFERER {
            self.referer.get_or_insert(Span::of(value));
        }
    }

    /// Copies what the access log wants of a request head. `path_target`: the target was
    /// sent as a path whatever the URI holds (HTTP/2's `:path`).
    #[cfg_attr(not(feature = "http2"), allow(dead_code))] // HTTP/2 only
    pub(crate) fn capture(&mut self, uri: &Uri, headers: &HeaderMap, path_target: bool) {
        self.head = None;
        let bytes = &mut self.copied;
        bytes.clear();
        match (uri.scheme(), uri.path_and_query()) {
            (None, Some(pq)) => bytes.extend_from_slice(pq.as_str().as_bytes()),
            (Some(_), Some(pq)) if path_target => {
                bytes.extend_from_slice(pq.as_str().as_bytes());
            }
            _ => {
                use std::io::Write as _;
                let _ = write!(bytes, "{uri}");
            }
        }
        self.target = Span(0, bytes.len());
        self.referer = None;
        self.user_agent = None;
        // One walk over the fields, not a hashed lookup per name. The first of several, as
        // nginx's `$http_user_agent` and `$http_referer`.
        for (name, value) in headers {
            let slot = if name == http::header::USER_AGENT {
                &mut self.user_agent
            } else if name == http::header::REFERER {
                &mut self.referer
            } else {
                continue;
            };
            if slot.is_none() {
                let start = bytes.len();
                bytes.extend_from_slice(value.as_bytes());
                *slot = Some(Span(start, bytes.len()));
            }
        }
    }

    /// Forgets the request: lets go of its head, and of a buffer an odd request grew.
    pub(crate) fn release(&mut self) {
        self.head = None;
        if self.copied.capacity() > KEEP_DETAILS_BUFFER {
            self.copied = Vec::new();
        }
    }

    fn get(&self, span: Span) -> &[u8] {
        let bytes = match &self.head {
            Some(head) => &head[..],
            None => &self.copied[..],
        };
        bytes.get(span.0..span.1).unwrap_or_default()
    }

    /// The request target as sent (`/path?query`, or an absolute URI).
    pub fn target(&self) -> &[u8] {
        self.get(self.target)
    }

    /// The `Referer` field's value (the first, if several).
    pub fn referer(&self) -> Option<&[u8]> {
        self.referer.map(|span| self.get(span))
    }

    /// The `User-Agent` field's value (the first, if several).
    pub fn user_agent(&self) -> Option<&[u8]> {
        self.user_agent.map(|span| self.get(span))
    }

    /// At least the bytes of the target, referer and user agent together (for HTTP/1.1 the
    /// whole head they lie in): room for a line holding all three, before any escaping.
    pub fn captured_len(&self) -> usize {
        // The whole head bounds them, and costs one load.
        match &self.head {
            Some(head) => head.len(),
            None => self.copied.len(),
        }
    }
}

/// The request an [`Event`] happened during, as far as it is known.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct RequestInfo<'a> {
    /// The peer.
    pub peer: Option<SocketAddr>,
    /// The method, once the head was parsed.
    pub method: Option<&'a Method>,
    /// The matched route, once the service was called.
    pub route: Option<RouteId>,
    /// The request ID, once the head was parsed and when IDs are on.
    pub request_id: Option<&'a RequestId>,
}

/// A categorised error or notable event. Client-caused ones are logged at `debug`, server
/// faults at `error`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The request broke a rule of the wire format (`rule` names it, e.g. `host`).
    Parse {
        /// The rule, in snake case.
        rule: &'static str,
        /// The status the client got.
        status: StatusCode,
        /// The first bytes of what the client sent, when still buffered (raw, untrusted).
        head: &'a [u8],
    },
    /// A configured limit was hit; `limit` is its configuration key (`max_uri_len`, ...).
    Limit {
        /// The limit's configuration key.
        limit: &'static str,
    },
    /// A timeout or minimum rate fired.
    Timeout {
        /// Which one.
        kind: TimeoutKind,
    },
    /// The client closed or reset the connection before the response was complete.
    ClientAbort,
    /// The service or a response body returned an error (answered `500`, or cut off).
    HandlerError {
        /// The error.
        error: &'a (dyn std::error::Error + 'static),
    },
    /// A handler panicked (answered `500`; the worker keeps serving).
    HandlerPanic {
        /// The panic message.
        message: &'a str,
    },
    /// `accept` failed (e.g. `EMFILE`); the accept loop backs off.
    AcceptError {
        /// The error.
        error: &'a std::io::Error,
    },
    /// The connection cap was reached: new connections wait in the kernel backlog.
    ConnectionCapReached,
    /// A TLS handshake failed: the client does not speak TLS (plain HTTP on an HTTPS port
    /// gets a `400` first), or speaks it in a way rustls refuses. Its timeout is
    /// [`Event::Timeout`] with [`TimeoutKind::TlsHandshake`].
    TlsHandshake {
        /// What went wrong.
        error: &'a (dyn std::error::Error + 'static),
    },
}

impl Event<'_> {
    /// A stable snake-case name of the category, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Parse { .. } => "parse",
            Event::Limit { .. } => "limit",
            Event::Timeout { kind } => kind.as_str(),
            Event::ClientAbort => "client_abort",
            Event::HandlerError { .. } => "handler_error",
            Event::HandlerPanic { .. } => "panic",
            Event::AcceptError { .. } => "accept",
            Event::ConnectionCapReached => "connection_cap",
            Event::TlsHandshake { .. } => "tls_handshake",
        }
    }
}

/// Which timeout fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// `header_read_timeout`: the head did not arrive in time (408).
    HeaderRead,
    /// `keep_alive_timeout`: an idle connection was closed (normal, not an error).
    KeepAlive,
    /// `body_min_rate`: the request body was too slow (408).
    BodyRate,
    /// `send_min_rate`: the client read the response too slowly (disconnected).
    SendRate,
    /// `handler_timeout`: the handler was too slow (503).
    Handler,
    /// The TLS handshake did not finish within its timeout
    /// ([`TlsBuilder::handshake_timeout`](crate::tls::TlsBuilder::handshake_timeout)); closed.
    TlsHandshake,
}

impl TimeoutKind {
    /// The metric label: `timeout_header_read`, `timeout_keep_alive`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutKind::HeaderRead => "timeout_header_read",
            TimeoutKind::KeepAlive => "timeout_keep_alive",
            TimeoutKind::BodyRate => "timeout_body_rate",
            TimeoutKind::SendRate => "timeout_send_rate",
            TimeoutKind::Handler => "timeout_handler",
            TimeoutKind::TlsHandshake => "timeout_tls_handshake",
        }
    }
}
