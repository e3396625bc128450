//! One HTTP/2 stream: check the request against the limits, call the service, send the
//! response, and notice when the client cancels.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body as _;
use tokio::time::Instant;

use super::body::RecvBody;
use crate::error::Timeout;
use crate::server::Lifecycle;
use crate::service::{handler_panicked, service_error, with_peer};
use crate::timer::Deadline;
use crate::{date, stats, Body, BoxError, Config, HttpService, PeerAddr};

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

pub(super) async fn serve<S: HttpService>(
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    mut service: S,
    shared: Arc<Shared>,
) -> End {
    let config = &shared.config;
    let (mut parts, recv) = req.into_parts();
    if let Some((status, text)) = check(&parts, config) {
        return send_text(&mut respond, status, text);
    }
    if let Some((status, text)) =
        crate::server::health_answer(config, &shared.lifecycle, &parts.method, parts.uri.path())
    {
        return send_text(&mut respond, status, text);
    }
    let is_head = parts.method == Method::HEAD;
    // HTTP/1.1 handlers read the authority from `Host`; HTTP/2 carries it in `:authority`
    // (RFC 9113 §8.3.1). Copy it over so that a handler need not care which protocol it got.
    if !parts.headers.contains_key(header::HOST) {
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
    let body = if recv.is_end_stream() {
        Body::empty()
    } else {
        Body::new(RecvBody::new(
            recv,
            config.max_body_size,
            content_length(&parts.headers),
        ))
    };
    let req = Request::from_parts(parts, body);
    let response = match call(&mut service, req, &mut respond, &shared).await {
        Called::Response(response) => response,
        Called::Status(status) => {
            let text = match status {
                StatusCode::SERVICE_UNAVAILABLE => "service unavailable: handler timeout\n",
                _ => "internal server error\n",
            };
            return send_text(&mut respond, status, text);
        }
        Called::Cancelled => return End::Cancelled,
    };
    send(response, respond, is_head).await
}

/// The limits HTTP/1.1 enforces while parsing, for a head `h2` has already decoded (the header
/// list size itself is bounded inside `h2` by `max_head_size`).
fn check(parts: &http::request::Parts, config: &Config) -> Option<(StatusCode, &'static str)> {
    let target_len = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > config.max_uri_len {
        return Some((StatusCode::URI_TOO_LONG, "request target too long\n"));
    }
    if parts.headers.len() > config.max_headers {
        return Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "too many header fields\n",
        ));
    }
    if content_length(&parts.headers).is_some_and(|len| len > config.max_body_size) {
        return Some((StatusCode::PAYLOAD_TOO_LARGE, "payload too large\n"));
    }
    None
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
async fn call<S: HttpService>(
    service: &mut S,
    req: Request<Body>,
    respond: &mut SendResponse<Bytes>,
    shared: &Shared,
) -> Called<S::ResBody> {
    if let Err(err) = poll_fn(|cx| service.poll_ready(cx)).await {
        return Called::Status(service_error(err.into()));
    }
    let peer = shared.peer;
    let future = match catch_unwind(AssertUnwindSafe(|| with_peer(peer, || service.call(req)))) {
        Ok(future) => future,
        Err(panic) => return Called::Status(handler_panicked(&panic)),
    };
    let mut future = pin!(future);
    let mut timer = Deadline::default();
    if let Some(timeout) = shared.config.handler_timeout {
        timer.arm(Instant::now() + timeout);
    }
    poll_fn(|cx| {
        if respond.poll_reset(cx).is_ready() {
            return Poll::Ready(Called::Cancelled);
        }
        if timer.poll_expired(cx) {
            stats::count(&stats::HANDLER_TIMEOUTS);
            tracing::debug!(timeout = Timeout::Handler.as_str(), "handler timed out");
            return Poll::Ready(Called::Status(StatusCode::SERVICE_UNAVAILABLE));
        }
        match catch_unwind(AssertUnwindSafe(|| {
            with_peer(peer, || future.as_mut().poll(cx))
        })) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(response))) => Poll::Ready(Called::Response(response)),
            Ok(Poll::Ready(Err(err))) => Poll::Ready(Called::Status(service_error(err.into()))),
            Err(panic) => Poll::Ready(Called::Status(handler_panicked(&panic))),
        }
    })
    .await
}

fn send_text(respond: &mut SendResponse<Bytes>, status: StatusCode, text: &'static str) -> End {
    let mut response = Response::new(());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    finish_head(headers);
    match respond.send_response(response, false) {
        Ok(mut stream) => {
            let _ = stream.send_data(Bytes::from_static(text.as_bytes()), true);
            End::Completed
        }
        Err(_) => End::Cancelled,
    }
}

/// Sends the head, then the body as the client's flow-control window allows.
async fn send<B>(response: Response<B>, mut respond: SendResponse<Bytes>, is_head: bool) -> End
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = response.into_parts();
    let mut body = pin!(body);
    // Connection-specific fields are malformed in HTTP/2 (RFC 9113 §8.2.2); a handler written
    // for HTTP/1.1 may still set them.
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ] {
        parts.headers.remove(name);
    }
    if let Some(len) = body.size_hint().exact() {
        if !parts.headers.contains_key(header::CONTENT_LENGTH) {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    finish_head(&mut parts.headers);
    let end = is_head || body.is_end_stream();
    let stream = match respond.send_response(Response::from_parts(parts, ()), end) {
        Ok(stream) => stream,
        Err(_) => return End::Cancelled,
    };
    if end {
        return End::Completed;
    }
    let mut pipe = Pipe { stream };
    poll_fn(|cx| pipe.poll(cx, body.as_mut())).await
}

use http::header::HeaderName;

/// `Date` and `Server`, as HTTP/1.1 responses have them.
fn finish_head(headers: &mut HeaderMap) {
    if !headers.contains_key(header::DATE) {
        headers.insert(header::DATE, date::header_value());
    }
    if !headers.contains_key(header::SERVER) {
        headers.insert(header::SERVER, HeaderValue::from_static("nucleus"));
    }
}

/// Moves a response body into a send stream, one frame at a time, waiting for window.
struct Pipe {
    stream: SendStream<Bytes>,
}

impl Pipe {
    fn poll<B>(&mut self, cx: &mut Context<'_>, mut body: std::pin::Pin<&mut B>) -> Poll<End>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        loop {
            // Ask for window before polling the body, so that a body that is ready waits for
            // the client rather than piling up in memory. `h2` buffers what a frame holds
            // beyond the window, up to `max_send_buffer`.
            self.stream.reserve_capacity(1);
            if self.stream.capacity() == 0 {
                loop {
                    match ready!(self.stream.poll_capacity(cx)) {
                        Some(Ok(0)) => {}
                        Some(Ok(_)) => break,
                        Some(Err(_)) | None => return Poll::Ready(End::Cancelled),
                    }
                }
            } else if let Poll::Ready(reason) = self.stream.poll_reset(cx) {
                let _ = reason;
                return Poll::Ready(End::Cancelled);
            }
            let frame = match body.as_mut().poll_frame(cx) {
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
                None => self.stream.send_data(Bytes::new(), true).map(|()| true),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let last = body.is_end_stream();
                        self.stream.send_data(data, last).map(|()| last)
                    }
                    Err(frame) => match frame.into_trailers() {
                        Ok(trailers) => self.stream.send_trailers(trailers).map(|()| true),
                        Err(_) => Ok(false),
                    },
                },
                Some(Err(err)) => {
                    let err: BoxError = err.into();
                    tracing::debug!(error = %err, "response body failed; resetting the stream");
                    self.stream.send_reset(Reason::INTERNAL_ERROR);
                    return Poll::Ready(End::Completed);
                }
            };
            match sent {
                Ok(true) => return Poll::Ready(End::Completed),
                Ok(false) => {}
                Err(_) => return Poll::Ready(End::Cancelled),
            }
        }
    }
}
