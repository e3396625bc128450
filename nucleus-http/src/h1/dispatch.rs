//! Drives one HTTP/1.1 connection: read a head, call the service, write the response, repeat.
//!
//! The loop is an `async fn` for the sequence; the phases where two things must progress at
//! once — the handler (or its response body) and the request body it reads from the socket —
//! are `poll_fn`s over `&mut Conn`, so one task owns the socket without locks or splitting.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use bytes::{Bytes, BytesMut};
use http::{Method, Request, Response, StatusCode};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::decode::{BodyDecoder, ChunkedDecoder, Decoded};
use super::encode::{self, Answering, BodyEncoder};
use super::io::WriteBuf;
use super::parse::{self, Framing, ParsedHead};
use crate::error::{Error, Kind, Timeout};
use crate::incoming::{self, Want};
use crate::server::{ConnContext, ConnSignal, Signal};
use crate::service::{handler_panicked, service_error};
use crate::timer::{Deadline, RateGuard};
use crate::upgrade::{self, Upgraded};
use crate::{stats, Body, BoxError, Config, HttpService, PeerAddr};

/// How an HTTP/1.1 connection ended.
pub(crate) enum Ended<I, S> {
    /// Closed, or upgraded and handed to the handler.
    Closed,
    /// It opened with the HTTP/2 preface: here are the socket, every byte read so far
    /// (preface included) and the service, for the HTTP/2 server.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    Http2(I, Bytes, S),
}

/// Serves one HTTP/1.1 connection with the server's readiness, draining and idle signal.
pub(crate) async fn serve<I, S>(
    io: I,
    peer: Option<PeerAddr>,
    service: S,
    config: Arc<Config>,
    ctx: ConnContext,
) -> Result<Ended<I, S>, Error>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
{
    let signal = ctx.registry.register();
    // The first head's clock starts at accept: a client that connects and says nothing is a
    // slowloris too.
    signal.set_deadline(
        config
            .header_read_timeout
            .map(|t| ctx.registry.deadline_after(t)),
    );
    let conn = Conn {
        sniff_h2: cfg!(feature = "http2") && config.http2.is_some(),
        h2_preface: false,
        read_buf: BytesMut::with_capacity(config.read_buffer_size),
        write: WriteBuf::with_capacity(1024),
        send_guard: config.send_min_rate.map(RateGuard::new),
        io,
        config,
        peer,
        ctx,
        served: 0,
        read_closed: false,
        head_timer_running: true,
        signal,
        read_timer: Deadline::default(),
        write_timer: Deadline::default(),
        handler_timer: Deadline::default(),
    };
    conn.run(service).await
}

struct Conn<I> {
    io: I,
    /// Look for the HTTP/2 preface before the first request (h2c with prior knowledge).
    sniff_h2: bool,
    /// The connection opened with the HTTP/2 preface.
    h2_preface: bool,
    read_buf: BytesMut,
    write: WriteBuf,
    config: Arc<Config>,
    peer: Option<PeerAddr>,
    ctx: ConnContext,
    served: u64,
    /// The peer sent FIN: no more requests can arrive, but we still answer the current one.
    read_closed: bool,
    /// The signal holds the current head's `header_read_timeout`.
    head_timer_running: bool,
    /// Coarse header and idle deadlines, shutdown and pressure (see `server/lifecycle.rs`).
    signal: Arc<ConnSignal>,
    /// The request-body rate deadline.
    read_timer: Deadline,
    /// The send-rate deadline.
    write_timer: Deadline,
    handler_timer: Deadline,
    send_guard: Option<RateGuard>,
}

/// How a wait for request bytes ended.
enum Wait {
    Read(usize),
    Expired,
    /// Shutdown or connection pressure asked idle connections to go.
    Released,
}

/// What happens to the connection after an exchange.
enum Next {
    KeepAlive,
    Close,
    Upgrade(tokio::sync::oneshot::Sender<Upgraded>),
}

/// The request body as the connection feeds it to the handler.
struct Feed {
    sender: incoming::Sender,
    decoder: BodyDecoder,
    received: u64,
    limit: u64,
    expect: Expect,
    state: FeedState,
    rate: Option<RateGuard>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// No `Expect: 100-continue`, or the 100 went out.
    Nothing,
    /// The client waits for `100 Continue` before sending the body.
    Pending,
    /// The final response went out first; the client may never send the body.
    Unmet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeedState {
    Reading,
    Complete,
    /// The framing broke or the peer vanished: the connection cannot be reused.
    Broken,
}

/// Per-exchange facts the response writer needs.
struct Exchange {
    feed: Option<Feed>,
    answering: Answering,
}

impl<I> Conn<I>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    async fn run<S: HttpService>(mut self, mut service: S) -> Result<Ended<I, S>, Error> {
        loop {
            let head = match self.read_head().await {
                Ok(Some(head)) => head,
                Ok(None) if self.h2_preface => {
                    return Ok(Ended::Http2(
                        self.io,
                        self.read_buf.split().freeze(),
                        service,
                    ));
                }
                Ok(None) => return self.close(false).await.map(|()| Ended::Closed),
                Err(err) => return self.reject(err).await.map(|()| Ended::Closed),
            };
            self.served += 1;
            match self.exchange(&mut service, head).await {
                Ok(Next::KeepAlive) => {
                    if self.write.len() >= self.config.write_buffer_watermark {
                        self.flush().await?;
                    }
                }
                Ok(Next::Close) => return self.close(true).await.map(|()| Ended::Closed),
                Ok(Next::Upgrade(tx)) => {
                    self.flush().await?;
                    let buffered = self.read_buf.split().freeze();
                    // The handler may have given up on the upgrade; then the socket just drops.
                    let _ = tx.send(Upgraded::new(Box::new(self.io), buffered));
                    return Ok(Ended::Closed);
                }
                Err(err) => {
                    // Mid-response failure: the response cannot be fixed up, only cut off.
                    tracing::debug!(error = %err, "connection aborted");
                    return Err(err);
                }
            }
        }
    }

    /// Reads until a complete head is buffered. `Ok(None)`: the connection should close
    /// quietly (the peer closed, the idle timeout fired, or the server wants it back).
    async fn read_head(&mut self) -> Result<Option<ParsedHead>, Error> {
        loop {
            if self.sniff_h2 && !self.read_buf.is_empty() {
                match sniff_preface(&self.read_buf) {
                    Sniffed::Http2 => {
                        self.h2_preface = true;
                        return Ok(None);
                    }
                    Sniffed::Http1 => self.sniff_h2 = false,
                    Sniffed::NeedMore => {}
                }
            }
            if !self.read_buf.is_empty() && !self.sniff_h2 {
                if let Some(head) = parse::parse_head(&mut self.read_buf, &self.config)? {
                    if self.head_timer_running {
                        self.signal.set_deadline(None);
                        self.head_timer_running = false;
                    }
                    return Ok(Some(head));
                }
            }
            if self.read_closed {
                // Stray line breaks before EOF are not a request (RFC 9112 §2.2).
                if self.read_buf.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                    return Ok(None);
                }
                return Err(Error::new(Kind::Incomplete));
            }
            // Before waiting on the socket, send what pipelined requests queued: one write
            // per batch, and never a client left waiting for an answer we hold.
            if !self.write.is_empty() {
                self.flush().await?;
            }
            let idle = self.read_buf.is_empty() && !self.head_timer_running;
            let registry = &self.ctx.registry;
            if idle {
                // Going idle while the server is full or stopping: give the slot back now.
                let lifecycle = &self.ctx.lifecycle;
                if lifecycle.is_draining()
                    || lifecycle.under_pressure()
                    || self.signal.is_released()
                {
                    return Ok(None);
                }
                let deadline = self
                    .config
                    .keep_alive_timeout
                    .map(|t| registry.deadline_after(t));
                self.signal.set_deadline(deadline);
                self.signal.set_idle(Some(registry.now()));
            } else if !self.head_timer_running {
                // The first byte of this head arrived: its clock starts now.
                self.head_timer_running = true;
                let deadline = self
                    .config
                    .header_read_timeout
                    .map(|t| registry.deadline_after(t));
                self.signal.set_deadline(deadline);
            }
            let waited = self.wait_for_bytes(idle).await;
            if idle {
                self.signal.set_idle(None);
            }
            match waited? {
                Wait::Read(0) => self.read_closed = true,
                Wait::Read(_) => {}
                Wait::Expired if idle => {
                    stats::count(&stats::KEEP_ALIVE_TIMEOUTS);
                    tracing::debug!("keep-alive timeout: closing idle connection");
                    return Ok(None);
                }
                Wait::Expired => {
                    stats::count(&stats::HEADER_READ_TIMEOUTS);
                    tracing::debug!(timeout = Timeout::HeaderRead.as_str(), "slow request head");
                    return Err(Error::new(Kind::Timeout(Timeout::HeaderRead)));
                }
                Wait::Released => return Ok(None),
            }
        }
    }

    /// Waits for the socket, the head's or idle deadline, or (when idle) a release.
    async fn wait_for_bytes(&mut self, idle: bool) -> Result<Wait, Error> {
        poll_fn(|cx| {
            if let Poll::Ready(read) = self.poll_read_more(cx) {
                return Poll::Ready(read.map(Wait::Read).map_err(Error::io));
            }
            match self.signal.poll(cx) {
                Some(Signal::Expired) => Poll::Ready(Ok(Wait::Expired)),
                Some(Signal::Released) if idle => Poll::Ready(Ok(Wait::Released)),
                _ => Poll::Pending,
            }
        })
        .await
    }

    async fn exchange<S: HttpService>(
        &mut self,
        service: &mut S,
        head: ParsedHead,
    ) -> Result<Next, Error> {
        let ParsedHead {
            method,
            uri,
            version,
            headers,
            framing,
            keep_alive,
            expect_continue,
            upgrade,
        } = head;
        let mut answering = Answering {
            version,
            is_head: method == Method::HEAD,
            keep_alive,
        };
        if self.read_closed
            || self.ctx.lifecycle.is_draining()
            || self.signal.is_released()
            || self
                .config
                .max_requests_per_connection
                .is_some_and(|max| self.served >= max)
        {
            answering.keep_alive = false;
        }
        if framing == Framing::None {
            if let Some((status, text)) = self.health_answer(&method, uri.path()) {
                encode::write_text(&mut self.write, status, text, &mut answering);
                return Ok(if answering.keep_alive {
                    Next::KeepAlive
                } else {
                    Next::Close
                });
            }
        }

        let (feed, body) = self.feed_for(framing, expect_continue);
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.version_mut() = version;
        *req.headers_mut() = headers;
        if let (Some(peer), true) = (self.peer, self.config.peer_addr_extension) {
            req.extensions_mut().insert(peer);
        }
        let upgrade_tx = upgrade.then(|| {
            let (tx, on_upgrade) = upgrade::pending();
            req.extensions_mut().insert(on_upgrade);
            tx
        });

        let mut ex = Exchange { feed, answering };
        let response = self.call(service, req, &mut ex).await?;
        let response = match response {
            Ok(response) => response,
            Err(status) => {
                self.write_error_response(status, &mut ex);
                return Ok(self.after_response(ex, false).await);
            }
        };
        let (parts, body) = response.into_parts();
        let upgrading = parts.status == StatusCode::SWITCHING_PROTOCOLS && upgrade_tx.is_some();
        if parts.status == StatusCode::SWITCHING_PROTOCOLS && !upgrading {
            tracing::error!("handler answered 101 to a request that did not ask to upgrade");
            self.write_error_response(StatusCode::INTERNAL_SERVER_ERROR, &mut ex);
            return Ok(self.after_response(ex, false).await);
        }
        let body = pin!(body);
        self.respond(&parts, body, &mut ex).await?;
        Ok(match upgrade_tx {
            Some(tx) if upgrading => Next::Upgrade(tx),
            // The common case, without the body-settling future.
            _ if ex.feed.is_none() && ex.answering.keep_alive => Next::KeepAlive,
            _ if ex.feed.is_none() => Next::Close,
            _ => self.after_response(ex, true).await,
        })
    }

    fn feed_for(&self, framing: Framing, expect_continue: bool) -> (Option<Feed>, Body) {
        let (decoder, len) = match framing {
            Framing::None => return (None, Body::empty()),
            Framing::Length(len) => (BodyDecoder::Length(len), Some(len)),
            Framing::Chunked => (
                BodyDecoder::Chunked(ChunkedDecoder::new(
                    self.config.max_chunk_extensions,
                    self.config.max_trailer_size,
                )),
                None,
            ),
        };
        let (sender, incoming) = incoming::channel(len);
        let feed = Feed {
            sender,
            decoder,
            received: 0,
            limit: self.config.max_body_size,
            expect: if expect_continue {
                Expect::Pending
            } else {
                Expect::Nothing
            },
            state: FeedState::Reading,
            rate: self.config.body_min_rate.map(RateGuard::new),
        };
        (Some(feed), Body::incoming(incoming))
    }

    /// Calls the service while feeding it the request body. A service error or a panic
    /// becomes `Err(500)`; `Err(Error)` only when the connection itself failed.
    async fn call<S: HttpService>(
        &mut self,
        service: &mut S,
        req: Request<Body>,
        ex: &mut Exchange,
    ) -> Result<Result<Response<S::ResBody>, StatusCode>, Error> {
        if let Err(err) = poll_fn(|cx| service.poll_ready(cx)).await {
            return Ok(Err(service_error(err.into())));
        }
        let peer = self.peer;
        // `call` runs here, synchronously, so only its (small) future is moved around, not
        // the request. A panicking handler must cost one request a 500, not the connection
        // or the worker: both the call and every poll are guarded.
        let future = match catch_unwind(AssertUnwindSafe(|| {
            crate::service::with_peer(peer, || service.call(req))
        })) {
            Ok(future) => future,
            Err(panic) => return Ok(Err(handler_panicked(&panic))),
        };
        let mut future = pin!(future);
        let timed = match self.config.handler_timeout {
            Some(timeout) => {
                self.handler_timer.arm(Instant::now() + timeout);
                true
            }
            None => false,
        };
        let outcome = poll_fn(|cx| {
            if let Some(feed) = ex.feed.as_mut() {
                self.poll_feed(cx, feed, false)?;
            }
            if timed && self.handler_timer.poll_expired(cx) {
                return Poll::Ready(Ok(None));
            }
            let polled = catch_unwind(AssertUnwindSafe(|| {
                crate::service::with_peer(peer, || future.as_mut().poll(cx))
            }));
            match polled {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(result)) => Poll::Ready(Ok(Some(Ok(result)))),
                Err(panic) => Poll::Ready(Ok(Some(Err(panic)))),
            }
        })
        .await?;
        self.handler_timer.disarm();
        Ok(match outcome {
            Some(Ok(Ok(response))) => Ok(response),
            Some(Ok(Err(err))) => Err(service_error(err.into())),
            Some(Err(panic)) => Err(handler_panicked(&panic)),
            None => {
                // Returning drops the handler's future: its work stops here.
                stats::count(&stats::HANDLER_TIMEOUTS);
                tracing::debug!(timeout = Timeout::Handler.as_str(), "handler timed out");
                Err(StatusCode::SERVICE_UNAVAILABLE)
            }
        })
    }

    /// Writes the response head and streams the body, feeding the request body meanwhile.
    async fn respond<B>(
        &mut self,
        parts: &http::response::Parts,
        body: Pin<&mut B>,
        ex: &mut Exchange,
    ) -> Result<(), Error>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        let mut body = body;
        let mut out = Outgoing {
            parts: Some(parts),
            encoder: None,
            peeked: None,
        };
        poll_fn(|cx| self.poll_respond(cx, &mut out, body.as_mut(), ex)).await
    }

    fn poll_respond<B>(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Outgoing<'_>,
        mut body: std::pin::Pin<&mut B>,
        ex: &mut Exchange,
    ) -> Poll<Result<(), Error>>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        loop {
            let head_written = out.encoder.is_some();
            let mut fed = false;
            if let Some(feed) = ex.feed.as_mut() {
                fed = self.poll_feed(cx, feed, head_written)?;
            }
            if !head_written {
                let skip = ex.answering.is_head;
                let awaiting_continue = ex
                    .feed
                    .as_ref()
                    .is_some_and(|f| f.expect == Expect::Pending);
                if awaiting_continue && !skip && out.peeked.is_none() {
                    // Does the body depend on the request body? Then `100 Continue` must go
                    // out before this head; poll once to find out.
                    match body.as_mut().poll_frame(cx) {
                        Poll::Ready(frame) => {
                            out.peeked = Some(frame.map(|r| r.map_err(Error::user)))
                        }
                        Poll::Pending if ex.feed.as_ref().is_some_and(|f| f.sender.is_wanted()) => {
                            // It reads the body: loop so the feed sends `100 Continue` first.
                            continue;
                        }
                        Poll::Pending => {}
                    }
                }
                self.write_response_head(out, body.size_hint().exact(), ex);
            }

            let mut body_pending = false;
            while self.write.len() < self.config.write_buffer_watermark {
                let frame = match out.peeked.take() {
                    Some(frame) => frame,
                    None if matches!(out.encoder, Some(BodyEncoder::Skip)) => None,
                    None => match body.as_mut().poll_frame(cx) {
                        Poll::Ready(frame) => frame.map(|r| r.map_err(Error::user)),
                        Poll::Pending => {
                            body_pending = true;
                            break;
                        }
                    },
                };
                let Some(encoder) = out.encoder.as_mut() else {
                    break;
                };
                match frame {
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => {
                            encoder.data(
                                &mut self.write,
                                data,
                                self.config.write_copy_threshold,
                            )?;
                            // A full body ends with its only frame: finish without polling
                            // it again just to hear `None`.
                            if body.is_end_stream() {
                                encoder.finish(&mut self.write, None)?;
                                return Poll::Ready(Ok(()));
                            }
                        }
                        Err(frame) => {
                            if let Ok(trailers) = frame.into_trailers() {
                                encoder.finish(&mut self.write, Some(&trailers))?;
                                return Poll::Ready(Ok(()));
                            }
                        }
                    },
                    Some(Err(err)) => return Poll::Ready(Err(err)),
                    None => {
                        encoder.finish(&mut self.write, None)?;
                        // A close-delimited body already cleared keep-alive in `write_head`.
                        return Poll::Ready(Ok(()));
                    }
                }
            }
            if body_pending {
                // The body waits on the request body (an echo): if its bytes are already
                // buffered, hand them over and keep encoding rather than flushing a bare head.
                if let Some(feed) = ex.feed.as_mut() {
                    if self.poll_feed(cx, feed, true)? {
                        continue;
                    }
                }
            }
            // The client is waiting for these bytes (a slow stream, or a full buffer).
            match self.poll_flush(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            }
            // Loop again only if the handler just got body bytes it may turn into output.
            if body_pending && !fed {
                return Poll::Pending;
            }
        }
    }

    fn write_response_head(
        &mut self,
        out: &mut Outgoing<'_>,
        exact: Option<u64>,
        ex: &mut Exchange,
    ) {
        let Some(parts) = out.parts.take() else {
            return;
        };
        // The peeked frame is no longer in the body's size hint.
        let exact = match &out.peeked {
            None => exact,
            Some(None) => Some(0),
            Some(Some(Ok(frame))) => frame
                .data_ref()
                .and_then(|d| exact.map(|rest| rest + d.len() as u64)),
            Some(Some(Err(_))) => None,
        };
        if self.ctx.lifecycle.is_draining() {
            ex.answering.keep_alive = false;
        }
        if let Some(feed) = ex.feed.as_mut() {
            if feed.state == FeedState::Broken {
                ex.answering.keep_alive = false;
            }
            if feed.expect == Expect::Pending && feed.state == FeedState::Reading {
                // Answered without reading the body: the client may or may not send it now,
                // so the connection's framing is unknowable after this response.
                feed.expect = Expect::Unmet;
                ex.answering.keep_alive = false;
            }
        }
        out.encoder = Some(encode::write_head(
            &mut self.write,
            parts.status,
            &parts.headers,
            exact,
            &mut ex.answering,
        ));
    }

    fn write_error_response(&mut self, status: StatusCode, ex: &mut Exchange) {
        ex.answering.keep_alive = false;
        let body = match status {
            StatusCode::SERVICE_UNAVAILABLE => "service unavailable: handler timeout\n",
            _ => "internal server error\n",
        };
        encode::write_error(&mut self.write, status, body);
    }

    /// The built-in liveness and readiness answers, which never reach the service.
    fn health_answer(&self, method: &Method, path: &str) -> Option<(StatusCode, &'static str)> {
        crate::server::health_answer(&self.config, &self.ctx.lifecycle, method, path)
    }

    /// Moves request body bytes from the socket to the handler while it wants them.
    /// Returns whether anything reached the handler (data, trailers, the end, an error).
    fn poll_feed(
        &mut self,
        cx: &mut Context<'_>,
        feed: &mut Feed,
        head_written: bool,
    ) -> Result<bool, Error> {
        let mut progressed = false;
        while feed.state == FeedState::Reading {
            match feed.sender.poll_want(cx) {
                Want::No | Want::Gone => return Ok(progressed),
                Want::Yes => {}
            }
            if feed.expect == Expect::Pending {
                if head_written {
                    feed.expect = Expect::Unmet;
                } else {
                    // RFC 9110 §10.1.1: only now that the handler reads is the body wanted.
                    self.write.extend(b"HTTP/1.1 100 Continue\r\n\r\n");
                    feed.expect = Expect::Nothing;
                }
            }
            if !self.write.is_empty() && self.read_buf.is_empty() {
                // A 100 Continue must be on the wire before we wait for the body.
                if let Poll::Ready(Err(err)) = self.poll_flush(cx) {
                    return Err(err);
                }
            }
            let decoded = feed.decoder.decode(&mut self.read_buf);
            progressed |= !matches!(decoded, Ok(Decoded::NeedMore));
            match decoded {
                Ok(Decoded::Data(data)) => {
                    feed.received += data.len() as u64;
                    if feed.received > feed.limit {
                        feed.sender
                            .send_error(Error::new(Kind::BodyTooLarge(feed.limit)));
                        feed.state = FeedState::Broken;
                    } else if feed.decoder.is_done() {
                        // The last bytes of a sized body: end the stream in the same step, so
                        // the consumer need not come back just to learn it is over.
                        feed.sender.send_data(data);
                        feed.sender.finish();
                        feed.state = FeedState::Complete;
                    } else {
                        feed.sender.send_data(data);
                    }
                }
                Ok(Decoded::Trailers(trailers)) => {
                    feed.sender.send_trailers(trailers);
                    feed.state = FeedState::Complete;
                }
                Ok(Decoded::Done) => {
                    feed.sender.finish();
                    feed.state = FeedState::Complete;
                }
                Ok(Decoded::NeedMore) => {
                    if self.read_closed {
                        feed.sender.send_error(Error::new(Kind::Incomplete));
                        feed.state = FeedState::Broken;
                        progressed = true;
                        continue;
                    }
                    let read = self.poll_read_more(cx);
                    let too_slow = match (&read, feed.rate.as_mut()) {
                        (_, None) => false,
                        (Poll::Ready(Ok(n)), Some(rate)) => {
                            rate.progress(*n as u64, &mut self.read_timer).is_err()
                        }
                        (Poll::Ready(Err(_)), Some(_)) => false,
                        (Poll::Pending, Some(rate)) => {
                            rate.start_waiting(&mut self.read_timer);
                            self.read_timer.poll_expired(cx)
                                && rate.expired(&mut self.read_timer).is_err()
                        }
                    };
                    if too_slow {
                        stats::count(&stats::BODY_RATE_TIMEOUTS);
                        tracing::debug!(
                            timeout = Timeout::BodyRate.as_str(),
                            "request body too slow"
                        );
                        feed.sender
                            .send_error(Error::new(Kind::Timeout(Timeout::BodyRate)));
                        feed.state = FeedState::Broken;
                        progressed = true;
                        continue;
                    }
                    match read {
                        Poll::Pending => {
                            if let Some(rate) = feed.rate.as_mut() {
                                // A window closed with enough bytes: time the next one.
                                rate.start_waiting(&mut self.read_timer);
                                let _ = self.read_timer.poll_expired(cx);
                            }
                            return Ok(progressed);
                        }
                        Poll::Ready(Ok(0)) => self.read_closed = true,
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(err)) => {
                            feed.sender.send_error(Error::io(err));
                            feed.state = FeedState::Broken;
                            progressed = true;
                        }
                    }
                }
                Err(err) => {
                    tracing::debug!(error = %err, "request body framing error");
                    feed.sender.send_error(err);
                    feed.state = FeedState::Broken;
                }
            }
        }
        Ok(progressed)
    }

    /// Settles the request body after the response: drain a small remainder to keep the
    /// connection, else close.
    async fn after_response(&mut self, ex: Exchange, handler_answered: bool) -> Next {
        let mut keep_alive = ex.answering.keep_alive && handler_answered;
        if let Some(mut feed) = ex.feed {
            match feed.state {
                FeedState::Complete => {}
                FeedState::Broken => keep_alive = false,
                FeedState::Reading if feed.expect != Expect::Nothing || !keep_alive => {
                    keep_alive = false
                }
                FeedState::Reading => keep_alive = self.drain(&mut feed).await,
            }
        }
        if keep_alive {
            Next::KeepAlive
        } else {
            Next::Close
        }
    }

    /// Reads and discards the rest of an unread request body, up to `max_drain` bytes.
    async fn drain(&mut self, feed: &mut Feed) -> bool {
        let mut drained: u64 = 0;
        loop {
            match feed.decoder.decode(&mut self.read_buf) {
                Ok(Decoded::Data(data)) => {
                    drained += data.len() as u64;
                    if drained > self.config.max_drain {
                        return false;
                    }
                }
                Ok(Decoded::Trailers(_) | Decoded::Done) => return true,
                Ok(Decoded::NeedMore) => {
                    if let BodyDecoder::Length(rest) = feed.decoder {
                        if drained + rest > self.config.max_drain {
                            return false;
                        }
                    }
                    if self.read_closed {
                        return false;
                    }
                    if !self.write.is_empty() && self.flush().await.is_err() {
                        return false;
                    }
                    match poll_fn(|cx| self.poll_read_more(cx)).await {
                        Ok(0) | Err(_) => {
                            self.read_closed = true;
                            return false;
                        }
                        Ok(_) => {}
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Answers a request that could not be parsed, then closes.
    async fn reject(mut self, err: Error) -> Result<(), Error> {
        let (status, reason) = match err.kind() {
            Kind::Parse(parse) => parse.status_and_reason(),
            Kind::BodyTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ""),
            Kind::Timeout(timeout) => (StatusCode::REQUEST_TIMEOUT, timeout.as_str()),
            // The peer is gone or the socket failed: nobody to answer.
            _ => return Ok(()),
        };
        tracing::debug!(status = status.as_u16(), error = %err, "rejected request");
        let body = match err.body_limit() {
            Some(limit) => format!("payload too large: the limit is {limit} bytes\n"),
            None => format!("{reason}\n"),
        };
        encode::write_error(&mut self.write, status, &body);
        self.close(true).await
    }

    /// Flushes and closes. With `linger`, first reads and discards what the client is still
    /// sending (briefly), so our close does not become a RST that destroys the response in
    /// flight — the problem nginx's `lingering_close` solves.
    async fn close(mut self, linger: bool) -> Result<(), Error> {
        self.flush().await?;
        let _ = self.io.shutdown().await;
        if linger && !self.read_closed {
            let mut scratch = [0u8; 4096];
            let mut budget: usize = 1 << 20;
            let _ = tokio::time::timeout(LINGER, async {
                while let Ok(n @ 1..) = self.io.read(&mut scratch).await {
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        break;
                    }
                }
            })
            .await;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Writes what is queued, holding the client to `send_min_rate` while it is slow to take it.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let before = self.write.written();
        let flushed = self.write.poll_flush(&mut self.io, cx);
        let Some(guard) = self.send_guard.as_mut() else {
            return flushed.map_err(Error::io);
        };
        if flushed.is_ready() && guard.is_quiet() {
            return flushed.map_err(Error::io);
        }
        let moved = (self.write.written() - before) as u64;
        let too_slow = || {
            stats::count(&stats::SEND_RATE_TIMEOUTS);
            tracing::debug!(
                timeout = Timeout::SendRate.as_str(),
                "client reads too slowly"
            );
            Error::new(Kind::Timeout(Timeout::SendRate))
        };
        if moved > 0 || flushed.is_ready() {
            guard
                .progress(moved, &mut self.write_timer)
                .map_err(|_| too_slow())?;
            if flushed.is_ready() {
                return flushed.map_err(Error::io);
            }
        }
        // Still blocked on the client: time this wait.
        loop {
            guard.start_waiting(&mut self.write_timer);
            if !self.write_timer.poll_expired(cx) {
                return Poll::Pending;
            }
            if guard.expired(&mut self.write_timer).is_err() {
                return Poll::Ready(Err(too_slow()));
            }
        }
    }

    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        // Keep at least half a buffer free: a short read then means the socket is drained
        // (tokio skips the next `recv` that would only say EAGAIN), and a typical request
        // does not arrive in two reads because the buffer happened to be nearly full. Once
        // the previous request's bytes are dropped, `reserve` reuses the same allocation.
        if self.read_buf.capacity() - self.read_buf.len() < self.config.read_buffer_size / 2 {
            self.read_buf.reserve(self.config.read_buffer_size);
        }
        tokio_util::io::poll_read_buf(std::pin::Pin::new(&mut self.io), cx, &mut self.read_buf)
    }
}

/// What the first bytes of a connection say about its protocol.
#[derive(Debug, PartialEq, Eq)]
enum Sniffed {
    Http1,
    Http2,
    /// A prefix of the HTTP/2 preface so far.
    NeedMore,
}

/// Compares the first bytes with the HTTP/2 preface (RFC 9113 §3.4). No HTTP/1.1 request
/// starts with `PRI * HTTP/2.0`, so the first byte that differs settles it, and the check
/// runs only until then: nothing per request.
fn sniff_preface(buf: &[u8]) -> Sniffed {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let n = buf.len().min(PREFACE.len());
    if buf[..n] != PREFACE[..n] {
        Sniffed::Http1
    } else if n == PREFACE.len() {
        Sniffed::Http2
    } else {
        Sniffed::NeedMore
    }
}

/// How long a closing connection keeps reading what the client still sends.
const LINGER: Duration = Duration::from_secs(2);

struct Outgoing<'a> {
    /// The head to write; borrowed, so the response parts never move.
    parts: Option<&'a http::response::Parts>,
    /// `None` until the head is written.
    encoder: Option<BodyEncoder>,
    /// A frame polled before the head was written (see `Expect::Pending`).
    peeked: Option<Option<Result<http_body::Frame<Bytes>, Error>>>,
}

#[cfg(test)]
mod tests {
    use super::{sniff_preface, Sniffed};

    #[test]
    fn the_h2_preface_is_told_from_http1_by_its_first_differing_byte() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00";
        assert_eq!(sniff_preface(preface), Sniffed::Http2);
        assert_eq!(sniff_preface(&preface[..24]), Sniffed::Http2);
        assert_eq!(sniff_preface(&preface[..23]), Sniffed::NeedMore);
        assert_eq!(sniff_preface(b"P"), Sniffed::NeedMore);
        assert_eq!(sniff_preface(b"POST / HTTP/1.1\r\n"), Sniffed::Http1);
        assert_eq!(sniff_preface(b"PRI * HTTP/1.1\r\n"), Sniffed::Http1);
        assert_eq!(sniff_preface(b"GET / HTTP/1.1\r\n"), Sniffed::Http1);
    }
}
