//! The engine's side of observation: one `Tally` per connection records the request in
//! progress and turns what happens into [`Observe`] calls and categorised log lines.
//!
//! Without an observer the tally keeps only what log lines need (method, route, request
//! ID); the clock is read only when an observer is installed.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::sync::Arc;

use super::clock::{Clock, Stamp};
use super::{
    Completed, Details, Event, LocalInFlight, Observe, Protocol, RequestId, RequestInfo, RouteId,
};
use http::{Method, StatusCode, Version};

/// The status of a request whose client left before a response head went out: nginx's 499.
pub(crate) const CLIENT_CLOSED: StatusCode = match StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => StatusCode::BAD_REQUEST,
};

/// What a connection records about its requests. Two kinds: [`Tally`] when anything
/// observes (an observer, request IDs), and [`Quiet`] when nothing does, whose every method
/// is empty, so a connection that nobody watches compiles to the engine without hooks.
pub(crate) trait Record: Send + 'static {
    /// Whether a request's route is worth reading back from the router.
    const WANTS_ROUTE: bool;
    /// Where the parser should note what the access log wants of the next head.
    fn head_details(&mut self) -> Option<&mut Details>;
    fn begin(&mut self, method: &Method, version: Version, request_id: Option<RequestId>);
    fn request_id(&self) -> Option<&RequestId>;
    fn set_route(&mut self, route: Option<RouteId>);
    fn has_route(&self) -> bool;
    fn set_status(&mut self, status: StatusCode);
    fn add_body_bytes(&mut self, n: usize);
    fn received(&mut self, n: usize);
    fn sent(&mut self, n: usize);
    fn finish(&mut self, aborted: bool);
    fn rejected(&mut self, status: StatusCode, body_bytes: usize);
    fn event(&self, event: &Event<'_>);
}

/// The record of a connection nobody observes (no observer, no request IDs): it keeps only
/// what a log line about the request needs, its method and route.
pub(crate) struct Quiet {
    peer: Option<SocketAddr>,
    active: bool,
    method: Method,
    route: Option<RouteId>,
}

impl Quiet {
    pub(crate) fn new(peer: Option<crate::PeerAddr>) -> Quiet {
        Quiet {
            peer: peer.map(|p| p.0),
            active: false,
            method: Method::GET,
            route: None,
        }
    }
}

impl Record for Quiet {
    const WANTS_ROUTE: bool = true;
    #[inline(always)]
    fn head_details(&mut self) -> Option<&mut Details> {
        None
    }
    #[inline(always)]
    fn begin(&mut self, method: &Method, _: Version, _: Option<RequestId>) {
        self.active = true;
        if *method != self.method {
            self.method = method.clone();
        }
        self.route = None;
    }
    #[inline(always)]
    fn request_id(&self) -> Option<&RequestId> {
        None
    }
    #[inline(always)]
    fn set_route(&mut self, route: Option<RouteId>) {
        if route.is_some() {
            self.route = route;
        }
    }
    #[inline(always)]
    fn has_route(&self) -> bool {
        true
    }
    #[inline(always)]
    fn set_status(&mut self, _: StatusCode) {}
    #[inline(always)]
    fn add_body_bytes(&mut self, _: usize) {}
    #[inline(always)]
    fn received(&mut self, _: usize) {}
    #[inline(always)]
    fn sent(&mut self, _: usize) {}
    #[inline(always)]
    fn finish(&mut self, _: bool) {
        self.active = false;
    }
    #[inline(always)]
    fn rejected(&mut self, _: StatusCode, _: usize) {
        self.active = false;
    }
    fn event(&self, event: &Event<'_>) {
        let active = self.active;
        let info = RequestInfo {
            peer: self.peer,
            method: Some(&self.method).filter(|_| active),
            route: self.route.filter(|_| active),
            request_id: None,
        };
        emit(None, event, &info);
    }
}

pub(crate) struct Tally {
    observer: Option<Arc<dyn Observe>>,
    /// The observer's gauge of requests in flight, if it keeps one.
    in_flight: Option<LocalInFlight>,
    /// The request clock, fetched when the connection opens; only with an observer, so that
    /// request IDs alone never calibrate it.
    clock: Option<Clock>,
    /// When the connection became ready for its next head: the start of a rejected one.
    idle_since: Option<Stamp>,
    active: bool,
    started: Option<Stamp>,
    /// The route read back from the router, if it said (`done.route` is set from it at the
    /// end).
    route: Option<RouteId>,
    /// The request being answered, filled in place and handed to the observer by reference.
    /// Its `method` stays set between requests (a keep-alive connection's requests mostly
    /// share one, and comparing is cheaper than cloning); `active` says whether it is current.
    done: Completed,
}

impl Tally {
    /// The record of an HTTP/1 connection on a server with an observer or request IDs.
    pub(crate) fn for_http1(config: &crate::Config, peer: Option<crate::PeerAddr>) -> Tally {
        Tally::new(config.observer.clone(), Protocol::Http1, peer.map(|p| p.0))
    }

    pub(crate) fn new(
        observer: Option<Arc<dyn Observe>>,
        protocol: Protocol,
        peer: Option<SocketAddr>,
    ) -> Tally {
        let clock = observer.as_ref().map(|_| Clock::get());
        let idle_since = observer.as_ref().zip(clock).map(|(o, clock)| {
            o.connection_opened(protocol);
            clock.now()
        });
        let mut done = Completed::empty(protocol, peer, Version::HTTP_11);
        done.method = Some(Method::GET);
        if observer.as_ref().is_some_and(|o| o.wants_details()) {
            done.details = Some(Details::default());
        }
        let in_flight = observer
            .as_ref()
            .and_then(|o| o.in_flight())
            .map(|gauge| gauge.local());
        Tally {
            observer,
            in_flight,
            clock,
            idle_since,
            active: false,
            started: None,
            route: None,
            done,
        }
    }

    /// Counts a request in flight and notes when it started.
    fn start(&mut self) {
        if let Some(in_flight) = &self.in_flight {
            in_flight.started();
        }
        self.started = self.clock.map(Clock::now);
    }

    /// Tells the observer about the request that just ended.
    fn complete(&mut self, aborted: bool) {
        let (Some(observer), Some(clock)) = (&self.observer, self.clock) else {
            return;
        };
        if let Some(in_flight) = &self.in_flight {
            in_flight.completed();
        }
        let now = clock.now();
        let done = &mut self.done;
        done.duration = self
            .started
            .map(|s| clock.between(s, now))
            .unwrap_or_default();
        done.route = self.route.unwrap_or(RouteId::UNMATCHED);
        done.aborted = aborted;
        observer.request_completed(done);
        done.received = 0;
        done.sent = 0;
        if let Some(details) = &mut done.details {
            details.release();
        }
        self.idle_since = Some(now);
    }

    fn report_bytes(&mut self) {
        let done = &mut self.done;
        if let Some(observer) = &self.observer {
            if done.received > 0 || done.sent > 0 {
                observer.bytes_transferred(done.received, done.sent);
            }
        }
        done.received = 0;
        done.sent = 0;
    }

    /// The current request's method, for log lines.
    fn method(&self) -> Option<&Method> {
        self.done.method.as_ref().filter(|_| self.active)
    }
}

impl Record for Tally {
    const WANTS_ROUTE: bool = true;

    #[inline]
    fn head_details(&mut self) -> Option<&mut Details> {
        self.done.details.as_mut()
    }

    /// Starts recording a request whose head was just parsed (and whose details the parser
    /// noted in [`Record::head_details`]).
    #[inline(always)]
    fn begin(&mut self, method: &Method, version: Version, request_id: Option<RequestId>) {
        self.active = true;
        self.route = None;
        let done = &mut self.done;
        if done.method.as_ref() != Some(method) {
            done.method = Some(method.clone());
        }
        done.version = version;
        done.status = CLIENT_CLOSED;
        done.body_bytes = 0;
        if request_id.is_some() || done.request_id.is_some() {
            done.request_id = request_id;
        }
        if self.observer.is_some() {
            self.start();
        }
    }

    #[inline]
    fn request_id(&self) -> Option<&RequestId> {
        self.done.request_id.as_ref().filter(|_| self.active)
    }

    #[inline]
    fn set_route(&mut self, route: Option<RouteId>) {
        if route.is_some() {
            self.route = route;
        }
    }

    #[inline]
    fn has_route(&self) -> bool {
        self.route.is_some()
    }

    #[inline]
    fn set_status(&mut self, status: StatusCode) {
        self.done.status = status;
    }

    #[inline]
    fn add_body_bytes(&mut self, n: usize) {
        self.done.body_bytes += n as u64;
    }

    #[inline]
    fn received(&mut self, n: usize) {
        self.done.received += n as u64;
    }

    #[inline]
    fn sent(&mut self, n: usize) {
        self.done.sent += n as u64;
    }

    /// Ends the current request: its response is complete, or was cut off (`aborted`).
    #[inline]
    fn finish(&mut self, aborted: bool) {
        if std::mem::take(&mut self.active) && self.observer.is_some() {
            self.complete(aborted);
        }
    }

    /// A request rejected before it had a usable head (malformed, too large, too slow).
    fn rejected(&mut self, status: StatusCode, body_bytes: usize) {
        if self.active {
            self.set_status(status);
            self.add_body_bytes(body_bytes);
            self.finish(false);
            return;
        }
        let Some(observer) = &self.observer else {
            return;
        };
        let mut done = Completed::empty(self.done.protocol, self.done.peer, Version::HTTP_11);
        done.status = status;
        done.body_bytes = body_bytes as u64;
        done.duration = self.idle_since.map(|s| s.elapsed()).unwrap_or_default();
        done.received = std::mem::take(&mut self.done.received);
        done.sent = std::mem::take(&mut self.done.sent);
        observer.request_completed(&done);
    }

    /// Logs `event` at its level with what is known of the request, and tells the observer.
    fn event(&self, event: &Event<'_>) {
        let info = RequestInfo {
            peer: self.done.peer,
            method: self.method(),
            route: self.route.filter(|_| self.active),
            request_id: self.request_id(),
        };
        emit(self.observer.as_deref(), event, &info);
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        // A connection dropped mid-request (shutdown deadline, a failed write): the request
        // still needs its one completion, or in-flight gauges would drift.
        self.finish(true);
        self.report_bytes();
        if let Some(observer) = &self.observer {
            observer.connection_closed(self.done.protocol);
        }
    }
}

/// Logs an event at the level its category deserves and passes it to `observer`.
pub(crate) fn emit(observer: Option<&dyn Observe>, event: &Event<'_>, info: &RequestInfo<'_>) {
    log(event, info);
    if let Some(observer) = observer {
        observer.event(event, info);
    }
}

/// How many bytes of a malformed head a log line shows.
const LOGGED_HEAD: usize = 64;

fn log(event: &Event<'_>, info: &RequestInfo<'_>) {
    let peer = info.peer.map(tracing::field::display);
    let method = info.method.map(|m| m.as_str());
    let route = info.route.map(|r| tracing::field::display(r.template()));
    let request_id = info.request_id.map(RequestId::as_str);
    match event {
        // Client-caused: debug, so that a scanner cannot flood the log at the default level.
        Event::Parse { rule, status, head } => tracing::debug!(
            peer,
            method,
            route,
            request_id,
            rule,
            status = status.as_u16(),
            head = %head
                .get(..LOGGED_HEAD.min(head.len()))
                .unwrap_or_default()
                .escape_ascii(),
            truncated = head.len() > LOGGED_HEAD,
            "malformed request"
        ),
        Event::Limit { limit } => {
            tracing::debug!(
                peer,
                method,
                route,
                request_id,
                limit,
                "request over a limit"
            )
        }
        Event::Timeout { kind } => {
            tracing::debug!(
                peer,
                method,
                route,
                request_id,
                timeout = kind.as_str(),
                "timeout"
            )
        }
        Event::ClientAbort => tracing::debug!(
            peer,
            method,
            route,
            request_id,
            "client closed the connection before the response was complete"
        ),
        Event::TlsHandshake { error } => {
            tracing::debug!(peer, error = %error, "TLS handshake failed")
        }
        // Server faults: error.
        Event::HandlerError { error } => {
            tracing::error!(peer, method, route, request_id, error = %error, "handler error")
        }
        Event::HandlerPanic { message } => {
            tracing::error!(
                peer,
                method,
                route,
                request_id,
                panic = message,
                "handler panicked"
            )
        }
        Event::AcceptError { error } => tracing::error!(error = %error, "accept failed"),
        Event::ConnectionCapReached => {
            tracing::info!("connection limit reached; new connections wait in the backlog")
        }
    }
}

thread_local! {
    /// A panic a service caught and reported during the current call or poll.
    static CAUGHT_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Whether `CAUGHT_PANIC` holds one: a `Cell` read per request instead of a borrow.
    static PANIC_CAUGHT: Cell<bool> = const { Cell::new(false) };
}

pub(crate) fn report_panic(message: &str) -> bool {
    if !crate::service::is_serving() {
        return false;
    }
    CAUGHT_PANIC.with(|p| *p.borrow_mut() = Some(message.to_owned()));
    PANIC_CAUGHT.with(|f| f.set(true));
    true
}

/// The panic a service reported since the last take.
pub(crate) fn take_caught_panic() -> Option<String> {
    if !PANIC_CAUGHT.with(|f| f.replace(false)) {
        return None;
    }
    CAUGHT_PANIC.with(|p| p.borrow_mut().take())
}
