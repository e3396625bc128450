//! One HTTP/2 stream: check the request against the limits, call the service, send the
//! response, and notice when the client cancels.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body as _;
use tokio::time::Instant;

use super::backend::{Extra, RecvData, Reset, Respond, SendBody};
use super::body::{Broken, RecvBody};
use super::record::StreamRecord;
use crate::observe::record::take_caught_panic;
use crate::observe::{Event, RouteId, TimeoutKind};
use crate::server::Lifecycle;
use crate::service::{panic_message, with_current};
use crate::timer::{Deadline, RateGuard};
use crate::{stats, Body, BoxError, Config, HttpService, PeerAddr};

/// What a connection's streams share; one reference count per stream.
pub(super) struct Shared {
    pub(super) config: Arc<Config>,
    pub(super) lifecycle: Arc<Lifecycle>,
    pub(super) peer: Option<PeerAddr>,
}

/// How a stream ended, for the connection's cancellation budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// The response went out (or we reset the stream ourselves).
    Completed,
    /// The client reset the stream while its handler ran or its response was being sent.
    Cancelled,
}

/// Serves one stream. The request is split before the future is built: an `async fn` moves
/// its arguments into fresh locals on the first poll, a copy of a few hundred bytes for the
/// request, where an `async` block uses what it captured in place.
pub(super) fn serve<S: HttpService, Q: RecvData, P: Respond>(
    req: Request<Q>,
    mut respond: P,
    mut service: S,
    shared: Arc<Shared>,
) -> impl Future<Output = End> + Send {
    let (mut parts, recv) = req.into_parts();
    async move {
        let config = &shared.config;
        let mut record = StreamRecord::begin(config, shared.peer, &mut parts);
        let is_head = parts.method == Method::HEAD;
        if let Some((status, text, limit)) = check(&parts, config) {
            record.event(&Event::Limit { limit });
            return send_text(&mut respond, status, text, is_head, &mut record, config);
        }
        let (mut cookies, mut expects_continue) = (0, false);
        if let Some((status, rule, text)) = malformed(&parts, &mut cookies, &mut expects_continue) {
            record.event(&Event::Parse {
                rule,
                status,
                head: &[],
            });
            return send_text(&mut respond, status, text, is_head, &mut record, config);
        }
        if cookies > 1 {
            join_cookies(&mut parts.headers);
        }
        if let Some((status, text)) =
            crate::server::health_answer(config, &shared.lifecycle, &parts.method, parts.uri.path())
        {
            if config.observer.is_some() {
                // Interning takes a lock: only when something counts by route.
                record.set_route(RouteId::intern(parts.uri.path()));
            }
            return send_text(&mut respond, status, text, is_head, &mut record, config);
        }
        // HTTP/1.1 handlers read the authority from `Host`; HTTP/2 carries it in `:authority`
        // (RFC 9113 §8.3.1). Copy it over so that a handler need not care which protocol it got.
        // A walk over the (few) names compares integers; `contains_key` would hash.
        if !parts.headers.keys().any(|name| name == header::HOST) {
            if let Some(host) = parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                parts.headers.insert(header::HOST, host);
            }
        }
        if let (Some(peer), true) = (shared.peer, config.peer_addr_extension) {
            parts.extensions.insert(peer);
        }
        let (body, broken) = if recv.is_end_stream() {
            (Body::empty(), None)
        } else {
            let declared = content_length(&parts.headers);
            record.add_received(declared.unwrap_or(0));
            let broken = Arc::new(Broken::default());
            let body = Body::new(RecvBody::new(
                recv,
                config.max_body_size,
                declared,
                config.body_min_rate,
                broken.clone(),
            ));
            (body, Some(broken))
        };
        let req = Request::from_parts(parts, body);
        let called = call(&mut service, req, &mut respond, &shared, &mut record).await;
        if let Some(message) = take_caught_panic() {
            record.event(&Event::HandlerPanic { message: &message });
        }
        let response = match called {
            Called::Response(response) => response,
            Called::Status(status) => {
                report_broken(broken.as_deref(), &record);
                let text = match status {
                    StatusCode::SERVICE_UNAVAILABLE => "service unavailable: handler timeout\n",
                    _ => "internal server error\n",
                };
                return send_text(&mut respond, status, text, is_head, &mut record, config);
            }
            Called::Cancelled => {
                report_broken(broken.as_deref(), &record);
                record.event(&Event::ClientAbort);
                return End::Cancelled;
            }
        };
        if response.status().is_informational() {
            report_broken(broken.as_deref(), &record);
            // HTTP/2 has no upgrades, and `h2` would refuse the head (which is not the client
            // cancelling): the same 500 as an HTTP/1.1 `101` that nobody asked for.
            tracing::error!(
                status = response.status().as_u16(),
                "handler answered 1xx over HTTP/2"
            );
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            let text = "internal server error\n";
            return send_text(&mut respond, status, text, is_head, &mut record, config);
        }
        let end = send(
            response,
            respond,
            is_head,
            expects_continue,
            config,
            &mut record,
        )
        .await;
        report_broken(broken.as_deref(), &record);
        end
    }
}

/// The answer, and the configuration key of the limit it enforces.
type Rejection = (StatusCode, &'static str, &'static str);

/// The limits HTTP/1.1 enforces while parsing, for a head `h2` has already decoded (the header
/// list size itself is bounded inside `h2` by `max_head_size`).
fn check(parts: &http::request::Parts, config: &Config) -> Option<Rejection> {
    let target_len = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > config.max_uri_len {
        let text = "request target too long\n";
        return Some((StatusCode::URI_TOO_LONG, text, "max_uri_len"));
    }
    if parts.headers.len() > config.max_headers {
        let text = "too many header fields\n";
        return Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            text,
            "max_headers",
        ));
    }
    if content_length(&parts.headers).is_some_and(|len| len > config.max_body_size) {
        let text = "payload too large\n";
        return Some((StatusCode::PAYLOAD_TOO_LARGE, text, "max_body_size"));
    }
    None
}

/// The request rules `h2` leaves to the server, as (status, rule, answer). A field value that
/// starts or ends with whitespace makes a request malformed (RFC 9113 §8.2.1), and so does a
/// `Host` that differs from `:authority` (§8.3.1, a SHOULD); a malformed request may be
/// answered before the stream is reset (§8.1.1), and a `400` says what was wrong. More than
/// one `Host`, or one that is not a valid authority, and an `Expect` other than
/// `100-continue`, get what HTTP/1.1 gives them (`400`, RFC 9112 §3.2; `417`, RFC 9110
/// §10.1.1), so that a handler sees the same rules on both protocols.
///
/// The walk also counts the `cookie` fields into `cookies` (see [`join_cookies`]), and notes
/// an `Expect: 100-continue` in `expects_continue`.
fn malformed(
    parts: &http::request::Parts,
    cookies: &mut u32,
    expects_continue: &mut bool,
) -> Option<(StatusCode, &'static str, &'static str)> {
    const BAD_HOST: (StatusCode, &str, &str) = (
        StatusCode::BAD_REQUEST,
        "host",
        "missing, duplicate or invalid Host header\n",
    );
    let mut host = None;
    // One walk over the fields: `get_all(HOST)` would hash, and every value is looked at.
    for (name, value) in &parts.headers {
        let bytes = value.as_bytes();
        let padded = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
        if padded(bytes.first()) || padded(bytes.last()) {
            return Some((
                StatusCode::BAD_REQUEST,
                "header_value",
                "field value with leading or trailing whitespace\n",
            ));
        }
        if name == header::HOST {
            if host.is_some() {
                return Some(BAD_HOST);
            }
            host = Some(bytes);
        } else if name == header::COOKIE {
            *cookies += 1;
        } else if name == header::EXPECT {
            if !bytes.eq_ignore_ascii_case(b"100-continue") {
                return Some((
                    StatusCode::EXPECTATION_FAILED,
                    "expectation",
                    "unsupported expectation\n",
                ));
            }
            *expects_continue = true;
        }
    }
    // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error, as on HTTP/1.1.
    if parts
        .uri
        .authority()
        .is_some_and(|a| a.as_str().bytes().any(|b| b == b'@'))
    {
        return Some((StatusCode::BAD_REQUEST, "uri", "invalid request target\n"));
    }
    let host = host?;
    let differs = parts.uri.authority().is_some_and(|authority| {
        let default_port = match parts.uri.scheme_str() {
            Some("https") => &b":443"[..],
            _ => &b":80"[..],
        };
        let authority = authority.as_str().as_bytes();
        let authority = authority.strip_suffix(default_port).unwrap_or(authority);
        let host = host.strip_suffix(default_port).unwrap_or(host);
        !authority.eq_ignore_ascii_case(host)
    });
    if differs || !crate::h1::parse::valid_host(host) {
        return Some(BAD_HOST);
    }
    None
}

/// A client may split `cookie` into one field per cookie, which compresses better
/// (RFC 9113 §8.2.3); before a generic application sees them they must be joined with "; ".
/// A handler written for HTTP/1.1 reads one `cookie` field, so it gets one.
fn join_cookies(headers: &mut HeaderMap) {
    let mut joined = Vec::new();
    for value in headers.get_all(header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(joined)) {
        // `insert` replaces every value the name had.
        headers.insert(header::COOKIE, value);
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

enum Called<B> {
    Response(Response<B>),
    Status(StatusCode),
    Cancelled,
}

/// Calls the service; a panic or an error becomes a `500`, the handler timeout a `503`, and
/// a reset from the client drops the handler's future (its work stops there).
async fn call<S: HttpService, P: Respond>(
    service: &mut S,
    req: Request<Body>,
    respond: &mut P,
    shared: &Shared,
    record: &mut StreamRecord,
) -> Called<S::ResBody> {
    if let Err(err) = poll_fn(|cx| service.poll_ready(cx)).await {
        return Called::Status(service_failed(record, err.into()));
    }
    let (peer, id) = (shared.peer, record.request_id());
    let called = catch_unwind(AssertUnwindSafe(|| {
        with_current(peer, id, || service.call(req))
    }));
    record.take_route();
    let future = match called {
        Ok(future) => future,
        Err(panic) => return Called::Status(panicked(record, &panic)),
    };
    let mut future = pin!(future);
    let mut timer = Deadline::default();
    if let Some(timeout) = shared.config.handler_timeout {
        timer.arm(Instant::now() + timeout);
    }
    poll_fn(|cx| {
        if timer.poll_expired(cx) {
            stats::count(&stats::HANDLER_TIMEOUTS);
            record.event(&Event::Timeout {
                kind: TimeoutKind::Handler,
            });
            return Poll::Ready(Called::Status(StatusCode::SERVICE_UNAVAILABLE));
        }
        let polled = catch_unwind(AssertUnwindSafe(|| {
            with_current(peer, id, || future.as_mut().poll(cx))
        }));
        Poll::Ready(match polled {
            // Only a handler that waits needs to hear of a reset (a lock in `h2`).
            Ok(Poll::Pending) if respond.poll_reset(cx).is_ready() => Called::Cancelled,
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(response))) => Called::Response(response),
            Ok(Poll::Ready(Err(err))) => Called::Status(service_failed(record, err.into())),
            Err(panic) => Called::Status(panicked(record, &panic)),
        })
    })
    .await
}

/// Reports the limit a request body broke (too large, too slow), once, as the client's doing.
fn report_broken(broken: Option<&Broken>, record: &StreamRecord) {
    if let Some(event) = broken.and_then(Broken::take_event) {
        record.event(&event);
    }
}

fn service_failed(record: &StreamRecord, err: BoxError) -> StatusCode {
    record.event(&Event::HandlerError { error: &*err });
    StatusCode::INTERNAL_SERVER_ERROR
}

fn panicked(record: &StreamRecord, panic: &Box<dyn std::any::Any + Send>) -> StatusCode {
    record.event(&Event::HandlerPanic {
        message: panic_message(panic),
    });
    StatusCode::INTERNAL_SERVER_ERROR
}

fn send_text<P: Respond>(
    respond: &mut P,
    status: StatusCode,
    text: &'static str,
    is_head: bool,
    record: &mut StreamRecord,
    config: &Config,
) -> End {
    let mut response = Response::new(());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let mut extra = Extra {
        content_length: Some(text.len() as u64),
        ..Extra::default()
    };
    Present::default().finish_head(&mut extra, record, config);
    record.set_status(status);
    match respond.send_response(response, extra, is_head) {
        Ok(_) if is_head => {
            record.finish(false);
            End::Completed
        }
        Ok(mut stream) => {
            record.add_body_bytes(text.len());
            let sent = stream.send_data(Bytes::from_static(text.as_bytes()), true);
            record.finish(sent.is_err());
            End::Completed
        }
        Err(_) => End::Cancelled,
    }
}

/// Sends the head, then the body as the client's flow-control window allows. The response is
/// split before the future is built, for the reason given at [`serve`].
fn send<'a, B, P: Respond>(
    response: Response<B>,
    mut respond: P,
    is_head: bool,
    expects_continue: bool,
    config: &'a Config,
    record: &'a mut StreamRecord,
) -> impl Future<Output = End> + 'a
where
    B: http_body::Body<Data = Bytes> + 'a,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = response.into_parts();
    async move {
        let mut body = pin!(body);
        let has = Present::scan(&parts.headers);
        if has.connection_specific {
            // Malformed in HTTP/2 (RFC 9113 §8.2.2); a handler written for HTTP/1.1 may set them.
            for name in CONNECTION_SPECIFIC {
                parts.headers.remove(name);
            }
        }
        // The framing rules HTTP/1.1's encoder applies (`h1/encode.rs`), so that a handler
        // gets the same answer on both protocols; `h2` would reset the stream instead. A 204
        // or 304 has no content (RFC 9110 §15.3.5, §15.4.5): a body is dropped, and only a
        // 304 keeps a handler's `content-length` (that of the representation, §8.6). Otherwise
        // a body of known size sets `content-length`, over a handler's that disagrees.
        let no_content =
            parts.status == StatusCode::NO_CONTENT || parts.status == StatusCode::NOT_MODIFIED;
        let mut extra = Extra::default();
        if no_content {
            if parts.status == StatusCode::NO_CONTENT && has.content_length {
                parts.headers.remove(header::CONTENT_LENGTH);
            }
        } else if let Some(len) = body.size_hint().exact() {
            if has.content_length {
                parts.headers.remove(header::CONTENT_LENGTH);
            }
            extra.content_length = Some(len);
        }
        has.finish_head(&mut extra, record, config);
        record.set_status(parts.status);
        let end = is_head || no_content || body.is_end_stream();
        // A body that is already complete in memory (`Full`, a string) goes out with the head,
        // without waiting for window: its bytes are in memory either way, and `h2` queues what
        // the window does not cover yet. That skips three round trips through `h2`'s lock.
        let mut peeked = if end {
            None
        } else {
            peek(body.as_mut(), expects_continue)
        };
        let stream = match respond.send_response(Response::from_parts(parts, ()), extra, end) {
            Ok(stream) => stream,
            Err(_) => return End::Cancelled,
        };
        if end {
            record.finish(false);
            return End::Completed;
        }
        let mut pipe = Pipe::<P::Stream> {
            stream,
            rate: config.send_min_rate.map(RateGuard::new),
            deadline: Deadline::default(),
            pending: None,
            reset: false,
        };
        if let Some(Some(Ok(frame))) = &peeked {
            if body.is_end_stream() && frame.is_data() {
                let data = peeked
                    .take()
                    .and_then(|f| f?.ok()?.into_data().ok())
                    .unwrap_or_default();
                record.add_body_bytes(data.len());
                return match pipe.stream.send_data(data, true) {
                    Ok(()) => {
                        record.finish(false);
                        End::Completed
                    }
                    Err(_) => End::Cancelled,
                };
            }
        }
        let end = poll_fn(|cx| pipe.poll(cx, body.as_mut(), &mut peeked, record)).await;
        if end == End::Completed {
            // Reset by us (a failed body, a client too slow to read) counts as cut off.
            record.finish(pipe.reset);
        }
        end
    }
}

/// A frame polled ahead, from a body whose exact size is known and small (so, most likely,
/// one buffer that is ready now). `None`: not polled, or not ready.
type Peeked = Option<Option<Result<http_body::Frame<Bytes>, BoxError>>>;

fn peek<B>(body: std::pin::Pin<&mut B>, expects_continue: bool) -> Peeked
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    const SMALL: u64 = 64 * 1024;
    // With `Expect: 100-continue`, polled whatever its size: a body that reads the request's
    // (an echo) makes the engine send `100 Continue` now, before this head, as HTTP/1.1 does;
    // once the final head is out, no `100` may follow.
    if !expects_continue && body.size_hint().exact().is_none_or(|len| len > SMALL) {
        return None;
    }
    // The real waker registers when the pipe polls again; a body that was ready needs none.
    let waker = futures_util::task::noop_waker();
    match body.poll_frame(&mut Context::from_waker(&waker)) {
        Poll::Ready(frame) => Some(frame.map(|r| r.map_err(Into::into))),
        Poll::Pending => None,
    }
}

/// Fields that are malformed in HTTP/2 (RFC 9113 §8.2.2): removed from a handler's response,
/// and a request that has one is reset (`engine/request.rs`).
pub(super) const CONNECTION_SPECIFIC: [HeaderName; 5] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// Which of the fields the engine adds or removes a response already has, found in one walk
/// over its (few) fields: comparing standard names is an integer compare, where a lookup per
/// name hashes it (~600 instructions per response in callgrind for the eight lookups).
#[derive(Debug, Default)]
struct Present {
    content_length: bool,
    date: bool,
    connection_specific: bool,
}

impl Present {
    fn scan(headers: &HeaderMap) -> Present {
        let mut has = Present::default();
        for name in headers.keys() {
            if name == header::CONTENT_LENGTH {
                has.content_length = true;
            } else if name == header::DATE {
                has.date = true;
            } else if CONNECTION_SPECIFIC.contains(name) {
                has.connection_specific = true;
            }
        }
        has
    }

    /// `Date`, which an origin server with a clock must send (RFC 9110 §6.6.1), and the
    /// request ID when IDs are on. Not `Server`, unlike HTTP/1.1: HPACK-encoding a field costs
    /// about 700 instructions per response in callgrind (the encoder looks it up in its
    /// dynamic table), 3% of a small exchange, for a field no client acts on.
    fn finish_head(&self, extra: &mut Extra, record: &StreamRecord, config: &Config) {
        extra.date = !self.date;
        if let Some((name, id)) = record.id_header(config) {
            if let Ok(value) = HeaderValue::from_bytes(id.as_bytes()) {
                extra.request_id = Some((name.clone(), value));
            }
        }
    }
}

/// Moves a response body into a send stream, one frame at a time, waiting for window.
struct Pipe<T> {
    stream: T,
    /// `send_min_rate`, judged on the window the client opens while we wait for it: a client
    /// that stops reading would otherwise hold the stream, its handler and `max_send_buffer`
    /// bytes for as long as the connection lives.
    rate: Option<RateGuard>,
    deadline: Deadline,
    /// A data chunk (and whether it ends the body) waiting for the client's window.
    pending: Option<(Bytes, bool)>,
    /// We reset the stream: the response did not go out whole.
    reset: bool,
}

impl<T: SendBody> Pipe<T> {
    fn too_slow(&mut self, record: &StreamRecord) -> End {
        stats::count(&stats::SEND_RATE_TIMEOUTS);
        record.event(&Event::Timeout {
            kind: TimeoutKind::SendRate,
        });
        self.stream.send_reset(Reset::Cancel);
        self.reset = true;
        End::Completed
    }

    fn poll<B>(
        &mut self,
        cx: &mut Context<'_>,
        mut body: std::pin::Pin<&mut B>,
        peeked: &mut Peeked,
        record: &mut StreamRecord,
    ) -> Poll<End>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        loop {
            if self.pending.is_some() {
                match self.poll_send_pending(cx, record) {
                    Poll::Ready(Some(end)) => return Poll::Ready(end),
                    Poll::Ready(None) => continue,
                    Poll::Pending => return Poll::Pending,
                }
            }
            let polled = match peeked.take() {
                Some(frame) => Poll::Ready(frame),
                None => body
                    .as_mut()
                    .poll_frame(cx)
                    .map(|f| f.map(|r| r.map_err(Into::into))),
            };
            let frame = match polled {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    // A slow body: still notice a reset while it thinks.
                    if self.stream.poll_reset(cx).is_ready() {
                        return Poll::Ready(End::Cancelled);
                    }
                    return Poll::Pending;
                }
            };
            let sent = match frame {
                None => self.stream.send_data(Bytes::new(), true),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let last = body.is_end_stream();
                        if data.is_empty() && !last {
                            continue;
                        }
                        self.pending = Some((data, last));
                        continue;
                    }
                    Err(frame) => match frame.into_trailers() {
                        Ok(trailers) => self
                            .stream
                            .send_trailers(crate::trailers::sendable(trailers)),
                        Err(_) => continue,
                    },
                },
                Some(Err(err)) => {
                    // An echo's body fails when the client resets the stream: its cancel.
                    if self.stream.poll_reset(cx).is_ready() {
                        return Poll::Ready(End::Cancelled);
                    }
                    // It also fails when the request body it streams broke a limit: the
                    // client's doing, reported by `report_broken`, and a CANCEL rather than
                    // a claim that the server failed.
                    let reason = if crate::error::request_body_error_among(Some(&*err)) {
                        Reset::Cancel
                    } else {
                        record.event(&Event::HandlerError { error: &*err });
                        Reset::Internal
                    };
                    self.stream.send_reset(reason);
                    self.reset = true;
                    return Poll::Ready(End::Completed);
                }
            };
            return Poll::Ready(match sent {
                Ok(()) => End::Completed,
                Err(_) => End::Cancelled,
            });
        }
    }

    /// Sends as much of the pending chunk as the client's window allows. `Ready(None)`: the
    /// chunk is out and the stream goes on.
    ///
    /// Only window-sized pieces are handed to `h2`, never a whole large chunk: `h2` would
    /// buffer all of it and report the stream done, and a client that stops reading could
    /// then hold that memory, unseen by `send_min_rate`, for as long as the connection lives.
    fn poll_send_pending(
        &mut self,
        cx: &mut Context<'_>,
        record: &mut StreamRecord,
    ) -> Poll<Option<End>> {
        let Some((data, last)) = self.pending.as_mut() else {
            return Poll::Ready(None);
        };
        if data.is_empty() {
            // An empty frame needs no window, and none would ever be granted for it: the end
            // of a body whose last bytes came alone (an echo of an upload that a client ended
            // with an empty DATA frame, as curl -T - and httpx do).
            let end = *last;
            self.pending = None;
            if end && self.stream.send_data(Bytes::new(), true).is_err() {
                return Poll::Ready(Some(End::Cancelled));
            }
            return Poll::Ready(end.then_some(End::Completed));
        }
        self.stream.reserve_capacity(data.len());
        let mut window = self.stream.capacity();
        while window == 0 {
            match self.stream.poll_capacity(cx) {
                Poll::Ready(Some(Ok(granted))) => window = granted,
                Poll::Ready(Some(Err(_)) | None) => return Poll::Ready(Some(End::Cancelled)),
                Poll::Pending => {
                    let Some(rate) = self.rate.as_mut() else {
                        return Poll::Pending;
                    };
                    // A window that closes with enough bytes opens the next one at once.
                    loop {
                        rate.start_waiting(&mut self.deadline);
                        if !self.deadline.poll_expired(cx) {
                            return Poll::Pending;
                        }
                        if rate.expired(&mut self.deadline).is_err() {
                            return Poll::Ready(Some(self.too_slow(record)));
                        }
                    }
                }
            }
        }
        let piece = data.split_to(window.min(data.len()));
        let end = data.is_empty() && *last;
        let done = data.is_empty();
        if let Some(rate) = self.rate.as_mut() {
            if rate
                .progress(piece.len() as u64, &mut self.deadline)
                .is_err()
            {
                return Poll::Ready(Some(self.too_slow(record)));
            }
        }
        record.add_body_bytes(piece.len());
        if self.stream.send_data(piece, end).is_err() {
            return Poll::Ready(Some(End::Cancelled));
        }
        if done {
            self.pending = None;
        }
        Poll::Ready(end.then_some(End::Completed))
    }
}
