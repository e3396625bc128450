//! Drives one HTTP/1.1 connection: read a head, call the service, write the response, repeat.
//!
//! The loop is an `async fn` for the sequence; the phases where two things must progress at
//! once — the handler (or its response body) and the request body it reads from the socket —
//! are `poll_fn`s over `&mut Conn`, so one task owns the socket without locks or splitting.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use super::decode::{BodyDecoder, ChunkedDecoder, Decoded};
use super::encode::{self, Answering, BodyEncoder, Stamp};
use super::io::{Mark, WriteBuf};
use super::parse::{self, Framing, ParsedHead};
use crate::error::{request_body_error_among, Error, Kind, Timeout};
use crate::incoming::{self, Want};
use crate::observe::record::{self, Record};
use crate::observe::{request_id, Event, RouteId, TimeoutKind};
use crate::server::{health_answer, ConnContext, ConnSignal, Signal};
use crate::service::panic_message;
use crate::timer::{Deadline, RateGuard};
use crate::upgrade::{self, Upgraded};
use crate::{stats, Body, BoxError, Config, HttpService, PeerAddr};

/// How an HTTP/1.1 connection ended.
pub(crate) enum Ended<I, S> {
    /// Closed, or upgraded and handed to the handler.
    Closed,
    /// It opened with the HTTP/2 preface: here is what the HTTP/2 server needs, handed back
    /// rather than cloned up front for every connection that never gets here.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    Http2(Handover<I, S>),
}

/// A connection HTTP/1.1 gives to HTTP/2.
#[cfg_attr(not(feature = "http2"), allow(dead_code))]
pub(crate) struct Handover<I, S> {
    pub(crate) io: I,
    /// Every byte read so far, the preface included.
    pub(crate) read: Bytes,
    pub(crate) service: S,
    pub(crate) config: Arc<Config>,
    pub(crate) ctx: ConnContext,
}

/// Whether nothing observes this server's connections: then they run with [`Quiet`], whose
/// hooks compile to nothing. The choice is made where a connection's task is created, so
/// each kind of task is one future type (a branch inside would add a layer to every poll).
pub(crate) fn is_quiet(config: &Config) -> bool {
    config.observer.is_none() && config.request_id_header.is_none()
}

/// Serves one HTTP/1.1 connection with the server's readiness, draining and idle signal,
/// recording requests with `tally`.
pub(crate) async fn serve<I, S, R>(
    io: I,
    peer: Option<PeerAddr>,
    service: S,
    config: Arc<Config>,
    ctx: ConnContext,
    tally: R,
) -> Result<Ended<I, S>, Error>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
    R: Record,
{
    let signal = ctx.registry.register();
    // The first head's clock starts at accept: a client that connects and says nothing is a
    // slowloris too.
    signal.set_deadline(
        config
            .header_read_timeout
            .map(|t| ctx.registry.deadline_after(t)),
    );
    let mut conn = Conn {
        sniff_h2: cfg!(feature = "http2") && config.http2.is_some(),
        h2_preface: false,
        tally,
        read_buf: BytesMut::with_capacity(config.read_buffer_size),
        write: WriteBuf::with_capacity(INITIAL_WRITE_CAPACITY),
        send_guard: config.send_min_rate.map(RateGuard::new),
        io,
        config,
        peer,
        ctx,
        served: 0,
        read_closed: false,
        last_request: false,
        head_timer_running: true,
        signal,
        read_timer: Deadline::default(),
        write_timer: Deadline::default(),
        handler_timer: Deadline::default(),
        spare_headers: None,
        spare_feed: None,
        waiting: None,
        stashed: None,
        shrunk: false,
    };
    // The connection lives here, and the loop borrows it: a connection's future holds one
    // `Conn`, not a copy per nested `async fn` that took it by value.
    let (service, upgrade) = conn.run(service).await?;
    if conn.h2_preface {
        return Ok(Ended::Http2(Handover {
            read: conn.read_buf.split().freeze(),
            io: conn.io,
            service,
            config: conn.config,
            ctx: conn.ctx,
        }));
    }
    if let Some(upgrade) = upgrade {
        let buffered = conn.read_buf.split().freeze();
        // The handler may have given up on the upgrade; then the socket just drops.
        let _ = upgrade.send(Upgraded::new(Box::new(conn.io), buffered));
    }
    Ok(Ended::Closed)
}

struct Conn<I, R> {
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
    /// The client said this request, which has no body, is its last (`Connection: close`, or
    /// HTTP/1.0 without keep-alive): it sends nothing after it (RFC 9112 §9.6), so closing
    /// needs no lingering read (see [`Conn::close`]).
    last_request: bool,
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
    /// The last response's header map, emptied: the next request's headers go into it, which
    /// saves allocating and freeing a map per exchange.
    spare_headers: Option<HeaderMap>,
    /// The last request body's feed, its channel reusable: the next body costs no allocation.
    spare_feed: Option<Box<Feed>>,
    /// Set while `poll_head_bytes` waits for bytes, its deadlines set.
    waiting: Option<Waiting>,
    /// A parsed head waiting for the service to become ready (rare: boxed).
    stashed: Option<Box<ParsedHead>>,
    /// The buffers were freed while idle (see [`Conn::shrink`]).
    shrunk: bool,
    /// The request in progress, for observers and log lines.
    tally: R,
}

/// How a wait for request bytes ended.
enum Wait {
    Read(usize),
    Expired,
    /// Shutdown or connection pressure asked idle connections to go.
    Released,
}

/// What follows writing out what is queued.
#[derive(Clone, Copy)]
enum Out {
    Flush,
    /// Shut the writing side (which flushes).
    Shutdown,
}

/// What happens to the connection after an exchange.
enum Next {
    KeepAlive,
    Close,
    /// No request came (the peer closed, or the connection idled out): close without a word.
    Quiet,
    /// The request could not be parsed: answer with its error status, then close.
    Reject(Error),
    Upgrade(oneshot::Sender<Upgraded>),
}

/// How the start of an exchange ended.
enum Start<F> {
    /// The service was called: its future answers the request.
    Called {
        future: F,
        ex: Exchange,
        upgrade_tx: Option<oneshot::Sender<Upgraded>>,
    },
    /// Settled without the service (a health answer, an error, no request at all).
    Done(Next),
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
    /// The last `poll_feed` stopped on a socket with nothing to read while the consumer
    /// was asking for bytes: the socket, not the consumer, wakes the task next.
    waiting: bool,
}

impl Feed {
    /// Whether the consumer waits for body bytes this feed has not offered yet.
    #[cold]
    fn asks(&self) -> bool {
        self.state == FeedState::Reading && self.sender.wants()
    }
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
    /// Boxed: most requests have no body, and every move of the exchange would otherwise
    /// copy a body feed's worth of bytes.
    feed: Option<Box<Feed>>,
    answering: Answering,
}

impl<I, R> Conn<I, R>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    R: Record,
{
    /// Serves requests until the connection ends, and gives the service back (for HTTP/2
    /// when the connection opened with its preface); `Some` when the connection is to be
    /// handed over after a `101 Switching Protocols`.
    async fn run<S: HttpService>(
        &mut self,
        mut service: S,
    ) -> Result<(S, Option<oneshot::Sender<Upgraded>>), Error> {
        loop {
            let next = self.exchange(&mut service).await;
            self.settle_record();
            if let Err(err) = &next {
                self.aborted(err);
            }
            self.tally.finish(next.is_err());
            match next {
                Ok(Next::KeepAlive) => {
                    if self.write.len() >= self.config.write_buffer_watermark {
                        self.flush().await?;
                    }
                }
                Ok(Next::Close) => return self.close(true).await.map(|()| (service, None)),
                // The HTTP/2 preface: the connection goes to the HTTP/2 server as it is.
                Ok(Next::Quiet) if self.h2_preface => return Ok((service, None)),
                Ok(Next::Quiet) => return self.close(false).await.map(|()| (service, None)),
                Ok(Next::Reject(err)) => return self.reject(err).await.map(|()| (service, None)),
                Ok(Next::Upgrade(tx)) => {
                    self.flush().await?;
                    return Ok((service, Some(tx)));
                }
                // Mid-response failure: the response cannot be fixed up, only cut off.
                Err(err) => return Err(err),
            }
        }
    }

    /// Waits for more bytes of a head that is not complete yet. `Ok(true)`: bytes arrived (or
    /// the peer closed), parse again; `Ok(false)`: close quietly.
    #[inline]
    fn poll_head_bytes(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        if self.read_closed {
            // Stray line breaks before EOF are not a request (RFC 9112 §2.2).
            if self.read_buf.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                return Poll::Ready(Ok(false));
            }
            return Poll::Ready(Err(Error::new(Kind::Incomplete)));
        }
        // Before waiting on the socket, send what pipelined requests queued: one write
        // per batch, and never a client left waiting for an answer we hold.
        if !self.write.is_empty() {
            if let Err(err) = ready!(self.poll_flush(cx)) {
                return Poll::Ready(Err(err));
            }
        }
        let Waiting { idle, releasable } = match self.waiting {
            // Polled again while waiting: the deadlines are already set.
            Some(waiting) => waiting,
            None => {
                let idle = self.read_buf.is_empty() && !self.head_timer_running;
                // No byte of a first request yet (a browser's pre-connect): no request is
                // lost by closing it, so a drain or a full server may, though its clock
                // stays the header timeout's, started at accept.
                let fresh = !idle && self.served == 0 && self.read_buf.is_empty();
                if idle && !self.arm_idle() {
                    return Poll::Ready(Ok(false));
                }
                if fresh && !self.mark_fresh() {
                    return Poll::Ready(Ok(false));
                }
                if !idle && !self.head_timer_running {
                    // The first byte of this head arrived: its clock starts now.
                    self.head_timer_running = true;
                    let registry = &self.ctx.registry;
                    let deadline = self
                        .config
                        .header_read_timeout
                        .map(|t| registry.deadline_after(t));
                    self.signal.set_deadline(deadline);
                }
                let waiting = Waiting {
                    idle,
                    releasable: idle || fresh,
                };
                self.waiting = Some(waiting);
                waiting
            }
        };
        let waited = ready!(self.poll_wait(cx, releasable));
        self.waiting = None;
        if releasable {
            self.signal.set_idle(None);
        }
        match waited? {
            Wait::Read(0) => self.read_closed = true,
            Wait::Read(_) => {}
            Wait::Expired if idle => {
                stats::count(&stats::KEEP_ALIVE_TIMEOUTS);
                self.tally.event(&Event::Timeout {
                    kind: TimeoutKind::KeepAlive,
                });
                return Poll::Ready(Ok(false));
            }
            Wait::Expired => {
                stats::count(&stats::HEADER_READ_TIMEOUTS);
                self.tally.event(&Event::Timeout {
                    kind: TimeoutKind::HeaderRead,
                });
                return Poll::Ready(Err(Error::new(Kind::Timeout(Timeout::HeaderRead))));
            }
            Wait::Released => return Poll::Ready(Ok(false)),
        }
        Poll::Ready(Ok(true))
    }

    /// Counts a new request and starts its record (and request ID).
    #[inline(always)]
    fn begin(&mut self, head: &mut ParsedHead) {
        self.served += 1;
        let request_id = self
            .config
            .request_id_header
            .as_ref()
            .map(|name| request_id::for_request(name, &mut head.headers));
        self.tally.begin(&head.method, head.version, request_id);
    }

    /// Starts an idle wait: the keep-alive deadline, and the idle mark that lets a server
    /// under pressure take this connection back. `false`: close now instead (the server is
    /// full or stopping, or already asked for it).
    fn arm_idle(&mut self) -> bool {
        let lifecycle = &self.ctx.lifecycle;
        if lifecycle.is_draining() || lifecycle.under_pressure() || self.signal.is_released() {
            return false;
        }
        let registry = &self.ctx.registry;
        let deadline = self
            .config
            .keep_alive_timeout
            .map(|t| registry.deadline_after(t));
        self.signal.set_deadline(deadline);
        self.signal.set_idle(Some(registry.now()));
        true
    }

    /// Marks a connection that has not sent a byte yet as one the server may take back (see
    /// `poll_head_bytes`). `false`: close now instead (the server is stopping, or already
    /// asked for it). Unlike an idle keep-alive connection it is not closed at once under
    /// pressure, nor taken back in its first second (`Registry::fresh_since`): its client
    /// has only just connected, and its request is likely on the way.
    #[cold]
    fn mark_fresh(&mut self) -> bool {
        if self.ctx.lifecycle.is_draining() || self.signal.is_released() {
            return false;
        }
        self.signal.set_idle(Some(self.ctx.registry.fresh_since()));
        true
    }

    /// Waits for the socket, the head's or idle deadline, or (when `releasable`) a release.
    /// Inlined into its one caller: out of line it cost every request about 90 instructions.
    #[inline(always)]
    fn poll_wait(&mut self, cx: &mut Context<'_>, releasable: bool) -> Poll<Result<Wait, Error>> {
        loop {
            if let Poll::Ready(read) = self.poll_read_more(cx) {
                return Poll::Ready(read.map(Wait::Read).map_err(Error::io));
            }
            return match self.signal.poll(cx) {
                Some(Signal::Expired) => Poll::Ready(Ok(Wait::Expired)),
                Some(Signal::Released) if releasable => Poll::Ready(Ok(Wait::Released)),
                Some(Signal::Shrink) if releasable => {
                    // Then wait again, now without buffers.
                    self.shrink();
                    continue;
                }
                _ => Poll::Pending,
            };
        }
    }

    /// Frees the buffers of a connection that has been idle a while: an idle keep-alive
    /// connection then costs its future and its socket, not 9 KiB of empty buffers.
    #[cold]
    fn shrink(&mut self) {
        if self.read_buf.is_empty() && self.write.is_empty() {
            self.read_buf = BytesMut::new();
            self.write.shrink();
            self.spare_headers = None;
            self.spare_feed = None;
            self.shrunk = true;
            stats::count(&stats::IDLE_BUFFERS_RELEASED);
        }
        self.signal.set_shrunk(true);
    }

    /// The first read after [`Conn::shrink`]: into a small stack buffer, so the buffers come
    /// back only when bytes do.
    #[cold]
    #[inline(never)]
    fn poll_read_shrunk(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let mut first = [0u8; 512];
        let mut buf = tokio::io::ReadBuf::new(&mut first);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let filled = buf.filled();
        if !filled.is_empty() {
            self.read_buf = BytesMut::with_capacity(self.config.read_buffer_size);
            self.read_buf.extend_from_slice(filled);
            self.write.reserve(INITIAL_WRITE_CAPACITY);
            self.shrunk = false;
            self.signal.set_shrunk(false);
        }
        Poll::Ready(Ok(filled.len()))
    }

    /// Reads the next request and answers it.
    async fn exchange<S: HttpService>(&mut self, service: &mut S) -> Result<Next, Error> {
        let (future, mut ex, upgrade_tx) = match poll_fn(|cx| self.poll_start(cx, service)).await {
            Start::Called {
                future,
                ex,
                upgrade_tx,
            } => (future, ex, upgrade_tx),
            Start::Done(next) => return Ok(next),
        };
        let (mut parts, body) = match self.drive(pin!(future), &mut ex).await? {
            Ok(response) => response.into_parts(),
            Err(status) => {
                self.write_error_response(status, &mut ex);
                return Ok(Next::Close);
            }
        };
        let upgrading = parts.status == StatusCode::SWITCHING_PROTOCOLS && upgrade_tx.is_some();
        if parts.status.is_informational() && !upgrading {
            // A 1xx is not a final response: sent as one, the client would take the next
            // response for this request's (the same 500 as HTTP/2 gives).
            tracing::error!(
                status = parts.status.as_u16(),
                "handler answered 1xx as its final response (101 only upgrades a request that \
                 asked to)"
            );
            self.write_error_response(StatusCode::INTERNAL_SERVER_ERROR, &mut ex);
            return Ok(Next::Close);
        }
        {
            // Dropped here, before the request body settles: an echoed body is the request
            // body's channel, which the next request can reuse only once nobody holds it.
            let body = pin!(body);
            self.respond(&parts, body, &mut ex).await?;
        }
        if parts.headers.capacity() <= SPARE_HEADERS_MAX {
            parts.headers.clear();
            self.spare_headers = Some(parts.headers);
        }
        Ok(match upgrade_tx {
            Some(tx) if upgrading => Next::Upgrade(tx),
            // The common case, without the body-settling future.
            _ if ex.feed.is_none() && ex.answering.keep_alive => Next::KeepAlive,
            _ if ex.feed.is_none() => Next::Close,
            _ => self.after_response(ex, true).await,
        })
    }

    /// Reads a head and calls the service with it.
    ///
    /// One poll function from the socket to `call`: the parsed head and the request built
    /// from it never live in the connection's future (they are a few hundred bytes, which
    /// every idle connection would carry). If the service is not ready, the head waits in a
    /// box.
    fn poll_start<S: HttpService>(
        &mut self,
        cx: &mut Context<'_>,
        service: &mut S,
    ) -> Poll<Start<S::Future>> {
        // The head is parsed here rather than returned by a helper: moving it out through a
        // `Poll` costs a copy of a few hundred bytes.
        let head = match self.stashed.take() {
            Some(head) => *head,
            None => loop {
                if self.sniff_h2 && !self.read_buf.is_empty() {
                    match sniff_preface(&self.read_buf) {
                        Sniffed::Http2 => {
                            self.h2_preface = true;
                            return Poll::Ready(Start::Done(Next::Quiet));
                        }
                        Sniffed::Http1 => self.sniff_h2 = false,
                        Sniffed::NeedMore => {}
                    }
                }
                if !self.read_buf.is_empty() && !self.sniff_h2 {
                    let parsed = parse::parse_head_reusing(
                        &mut self.read_buf,
                        &self.config,
                        &mut self.spare_headers,
                        self.tally.head_details(),
                    );
                    match parsed {
                        Ok(Some(mut head)) => {
                            if self.head_timer_running {
                                self.signal.set_deadline(None);
                                self.head_timer_running = false;
                            }
                            self.begin(&mut head);
                            break head;
                        }
                        Ok(None) => {}
                        Err(err) => return Poll::Ready(Start::Done(Next::Reject(err))),
                    }
                }
                match ready!(self.poll_head_bytes(cx)) {
                    Ok(true) => {}
                    Ok(false) => return Poll::Ready(Start::Done(Next::Quiet)),
                    Err(err) => return Poll::Ready(Start::Done(Next::Reject(err))),
                }
            },
        };
        let mut answering = Answering {
            version: head.version,
            is_head: head.method == Method::HEAD,
            keep_alive: head.keep_alive,
        };
        if !head.keep_alive {
            // No reset needed: the connection closes after this exchange.
            self.last_request = head.framing == Framing::None;
        }
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
        if head.framing == Framing::None {
            let lifecycle = &self.ctx.lifecycle;
            let health = health_answer(&self.config, lifecycle, &head.method, head.uri.path());
            if let Some((status, text)) = health {
                if self.config.observer.is_some() {
                    self.tally.set_route(Some(RouteId::intern(head.uri.path())));
                }
                self.tally.set_status(status);
                self.tally.add_body_bytes(text.len());
                let stamp = stamp(&self.config, self.tally.request_id());
                encode::write_text(&mut self.write, status, text, &mut answering, stamp);
                return Poll::Ready(Start::Done(if answering.keep_alive {
                    Next::KeepAlive
                } else {
                    Next::Close
                }));
            }
        }
        match service.poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(err)) => {
                let mut ex = Exchange {
                    feed: None,
                    answering,
                };
                let status = self.service_error(err.into());
                self.write_error_response(status, &mut ex);
                return Poll::Ready(Start::Done(Next::Close));
            }
            Poll::Pending => {
                self.stashed = Some(Box::new(head));
                return Poll::Pending;
            }
        }

        let ParsedHead {
            method,
            uri,
            version,
            headers,
            framing,
            keep_alive: _,
            expect_continue,
            upgrade,
        } = head;
        let (feed, body) = match framing {
            // Most requests: no body to feed, and no call to find that out.
            Framing::None | Framing::Length(0) => (None, Body::empty()),
            // The whole body came with the head (a small upload usually does): it goes to the
            // handler as it is, without the feed and channel that stream a body still on its
            // way (about 500 instructions a request). Not for `Expect: 100-continue`, whose
            // client waits before sending, nor for an upgrade, whose bytes after the head may
            // belong to the new protocol.
            Framing::Length(len)
                if !expect_continue && !upgrade && len <= self.read_buf.len() as u64 =>
            {
                (
                    None,
                    Body::from(self.read_buf.split_to(len as usize).freeze()),
                )
            }
            framing => self.feed_for(framing, expect_continue),
        };
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.version_mut() = version;
        put_headers(req.headers_mut(), headers);
        if let (Some(peer), true) = (self.peer, self.config.peer_addr_extension) {
            req.extensions_mut().insert(peer);
        }
        let upgrade_tx = upgrade.then(|| {
            let (tx, on_upgrade) = upgrade::pending();
            req.extensions_mut().insert(on_upgrade);
            tx
        });

        let mut ex = Exchange { feed, answering };
        let peer = self.peer;
        let id = self.tally.request_id().copied();
        // A panicking handler must cost one request a 500, not the connection or the worker:
        // both the call and every poll are guarded.
        let called = catch_unwind(AssertUnwindSafe(|| {
            crate::service::with_current(peer, id, || service.call(req))
        }));
        if R::WANTS_ROUTE {
            self.tally.set_route(RouteId::take_current());
        }
        Poll::Ready(match called {
            Ok(future) => Start::Called {
                future,
                ex,
                upgrade_tx,
            },
            Err(panic) => {
                let status = self.handler_panicked(&panic);
                self.write_error_response(status, &mut ex);
                // Without a response the request body's framing is unknown: close.
                Start::Done(Next::Close)
            }
        })
    }

    fn feed_for(&mut self, framing: Framing, expect_continue: bool) -> (Option<Box<Feed>>, Body) {
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
        let expect = if expect_continue {
            Expect::Pending
        } else {
            Expect::Nothing
        };
        let rate = self.config.body_min_rate.map(RateGuard::new);
        // The last body's box and channel, when its consumer let go of it.
        if let Some(mut feed) = self.spare_feed.take() {
            if let Some(incoming) = feed.sender.reuse(len) {
                feed.decoder = decoder;
                feed.received = 0;
                feed.limit = self.config.max_body_size;
                feed.expect = expect;
                feed.state = FeedState::Reading;
                feed.rate = rate;
                feed.waiting = false;
                return (Some(feed), Body::incoming(incoming));
            }
        }
        let (sender, incoming) = incoming::channel(len);
        let feed = Feed {
            sender,
            decoder,
            received: 0,
            limit: self.config.max_body_size,
            expect,
            state: FeedState::Reading,
            rate,
            waiting: false,
        };
        (Some(Box::new(feed)), Body::incoming(incoming))
    }

    /// Polls the service's response future while feeding it the request body. A service
    /// error or a panic becomes `Err(500)`; `Err(Error)` only when the connection itself failed.
    fn drive<'a, F, B, E>(
        &'a mut self,
        mut future: Pin<&'a mut F>,
        ex: &'a mut Exchange,
    ) -> impl Future<Output = Result<Result<Response<B>, StatusCode>, Error>> + 'a
    where
        F: Future<Output = Result<Response<B>, E>>,
        E: Into<BoxError>,
    {
        let peer = self.peer;
        let id = self.tally.request_id().copied();
        let timed = match self.config.handler_timeout {
            Some(timeout) => {
                self.handler_timer.arm(Instant::now() + timeout);
                true
            }
            None => false,
        };
        // A plain `poll_fn`, not an `async fn`: the response is moved out once, not twice.
        poll_fn(move |cx| {
            // Whether the handler had already asked for body bytes that have not come.
            let mut asked = false;
            if let Some(feed) = ex.feed.as_mut() {
                self.poll_feed(cx, feed, false)?;
                asked = feed.waiting;
            }
            if timed && self.handler_timer.poll_expired(cx) {
                self.handler_timer.disarm();
                // Returning drops the handler's future: its work stops here.
                stats::count(&stats::HANDLER_TIMEOUTS);
                self.tally.event(&Event::Timeout {
                    kind: TimeoutKind::Handler,
                });
                return Poll::Ready(Ok(Err(StatusCode::SERVICE_UNAVAILABLE)));
            }
            let polled = catch_unwind(AssertUnwindSafe(|| {
                crate::service::with_current(peer, id, || future.as_mut().poll(cx))
            }));
            // The error and panic payload become a status here: neither is `Send`, so neither
            // may live across an await.
            // Each arm returns at once: binding the response first costs a copy of it.
            match polled {
                Ok(Poll::Pending) => {
                    // The request body does not wake the task it is read in (see
                    // `incoming::wake_other`): a handler that has just asked for body bytes
                    // gets this task polled again, to feed it.
                    if !asked && ex.feed.as_ref().is_some_and(|feed| feed.asks()) {
                        cx.waker().wake_by_ref();
                    }
                    Poll::Pending
                }
                Ok(Poll::Ready(Ok(response))) => {
                    if timed {
                        self.handler_timer.disarm();
                    }
                    Poll::Ready(Ok(Ok(response)))
                }
                Ok(Poll::Ready(Err(err))) => {
                    if timed {
                        self.handler_timer.disarm();
                    }
                    Poll::Ready(Ok(Err(self.service_error(err.into()))))
                }
                Err(panic) => {
                    if timed {
                        self.handler_timer.disarm();
                    }
                    Poll::Ready(Ok(Err(self.handler_panicked(&panic))))
                }
            }
        })
    }

    /// Writes the response head and streams the body, feeding the request body meanwhile.
    ///
    /// A plain `poll_fn` rather than an `async fn`: one future layer fewer in every poll.
    fn respond<'a, B>(
        &'a mut self,
        parts: &'a http::response::Parts,
        body: Pin<&'a mut B>,
        ex: &'a mut Exchange,
    ) -> impl Future<Output = Result<(), Error>> + 'a
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        let mut body = body;
        let mut out = Outgoing {
            parts: Some(parts),
            encoder: None,
            peeked: None,
            head_at: None,
        };
        poll_fn(move |cx| self.poll_respond(cx, &mut out, body.as_mut(), ex))
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
                            out.head_at = None;
                            self.tally.add_body_bytes(data.len());
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
                    Some(Err(err)) => {
                        // Failed before its first byte, with the head still unsent: the client
                        // can get a 500 rather than an empty reply. Not when the request body
                        // it streams broke (an echo): that was reported where it broke.
                        let by_request_body =
                            request_body_error_among(std::error::Error::source(&err));
                        if let (Some(mark), false) = (out.head_at.take(), by_request_body) {
                            if self.write.rollback(&mark) {
                                self.tally.event(&Event::HandlerError { error: &err });
                                self.write_error_response(StatusCode::INTERNAL_SERVER_ERROR, ex);
                                return Poll::Ready(Ok(()));
                            }
                        }
                        return Poll::Ready(Err(err));
                    }
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
            // Nobody will read the rest of the body (the handler let it go) and more of it
            // is coming than `drain` may discard: the connection closes after this response,
            // and its head should say so.
            if feed.state == FeedState::Reading
                && matches!(feed.decoder, BodyDecoder::Length(rest) if rest > self.config.max_drain)
                && feed.sender.reusable()
            {
                ex.answering.keep_alive = false;
            }
            if feed.expect == Expect::Pending && feed.state == FeedState::Reading {
                // Answered without reading the body: the client may or may not send it now,
                // so the connection's framing is unknowable after this response.
                feed.expect = Expect::Unmet;
                ex.answering.keep_alive = false;
            }
        }
        self.tally.set_status(parts.status);
        let stamp = stamp(&self.config, self.tally.request_id());
        out.head_at = Some(self.write.mark());
        out.encoder = Some(encode::write_head(
            &mut self.write,
            parts.status,
            &parts.headers,
            exact,
            &mut ex.answering,
            stamp,
        ));
    }

    fn write_error_response(&mut self, status: StatusCode, ex: &mut Exchange) {
        ex.answering.keep_alive = false;
        let body = match status {
            StatusCode::SERVICE_UNAVAILABLE => "service unavailable: handler timeout\n",
            _ => "internal server error\n",
        };
        self.tally.set_status(status);
        self.tally.add_body_bytes(body.len());
        encode::write_error(&mut self.write, status, body);
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
        feed.waiting = false;
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
                        self.tally.event(&Event::Limit {
                            limit: "max_body_size",
                        });
                        feed.sender
                            .send_error(Error::new(Kind::BodyTooLarge(feed.limit)), cx);
                        feed.state = FeedState::Broken;
                    } else if feed.decoder.is_done() {
                        // The last bytes of a sized body: end the stream in the same step, so
                        // the consumer need not come back just to learn it is over.
                        feed.sender.send_last_data(data, cx);
                        feed.state = FeedState::Complete;
                    } else {
                        feed.sender.send_data(data, cx);
                    }
                }
                Ok(Decoded::Trailers(trailers)) => {
                    feed.sender.send_trailers(trailers, cx);
                    feed.state = FeedState::Complete;
                }
                Ok(Decoded::Done) => {
                    feed.sender.finish(cx);
                    feed.state = FeedState::Complete;
                }
                Ok(Decoded::NeedMore) => {
                    if self.read_closed {
                        feed.sender.send_error(Error::new(Kind::Incomplete), cx);
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
                        self.tally.event(&Event::Timeout {
                            kind: TimeoutKind::BodyRate,
                        });
                        feed.sender
                            .send_error(Error::new(Kind::Timeout(Timeout::BodyRate)), cx);
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
                            feed.waiting = true;
                            return Ok(progressed);
                        }
                        Poll::Ready(Ok(0)) => self.read_closed = true,
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(err)) => {
                            feed.sender.send_error(Error::io(err), cx);
                            feed.state = FeedState::Broken;
                            progressed = true;
                        }
                    }
                }
                Err(err) => {
                    self.parse_event(&err, &[]);
                    feed.sender.send_error(err, cx);
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
            // Kept only if the body's consumer is gone: dropping the feed is also how a
            // consumer that still holds the body learns it will get no more of it.
            if keep_alive && feed.sender.reusable() {
                self.spare_feed = Some(feed);
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
    async fn reject(&mut self, err: Error) -> Result<(), Error> {
        let (status, reason) = match err.kind() {
            Kind::Parse(parse) => parse.status_and_reason(),
            Kind::BodyTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ""),
            Kind::Timeout(timeout) => (StatusCode::REQUEST_TIMEOUT, timeout.as_str()),
            // The peer is gone or the socket failed: nobody to answer.
            _ => return Ok(()),
        };
        // A head that broke a rule after it was tokenized has left the buffer: the error
        // carries it. Otherwise the buffer starts with what could not be parsed.
        self.parse_event(&err, err.head().unwrap_or(&self.read_buf));
        let body = match err.body_limit() {
            Some(limit) => format!("payload too large: the limit is {limit} bytes\n"),
            None => format!("{reason}\n"),
        };
        self.tally.rejected(status, body.len());
        encode::write_error(&mut self.write, status, &body);
        self.close(true).await
    }

    /// Flushes and closes. With `linger`, first reads and discards what the client may still
    /// be sending (briefly), so our close does not become a RST that destroys the response in
    /// flight — the problem nginx's `lingering_close` solves.
    ///
    /// Like nginx, no lingering when nothing more can come: the peer already closed, or the
    /// client announced its last request, sent no body, and sent no byte past it (unread
    /// bytes would be in the read buffer: reads leave half of it free). A client that breaks
    /// RFC 9112 §9.6 and sends more after `Connection: close` can get a reset; every client
    /// that keeps the rule (the usual connection-per-request client) costs no timer, no
    /// extra wake-up and no extra `read`, as in hyper, which never lingers.
    async fn close(&mut self, linger: bool) -> Result<(), Error> {
        // Not a flush, then a shutdown: over TLS that would be two writes (the response,
        // then close_notify) where one does.
        poll_fn(|cx| self.poll_write_out(cx, Out::Shutdown)).await?;
        let nothing_more = self.last_request && self.read_buf.is_empty();
        if linger && !self.read_closed && !nothing_more {
            self.linger().await;
        }
        Ok(())
    }

    /// Reads and discards until the client closes, `LINGER` passes (on the coarse timer:
    /// no tokio timer, whose arming wakes the driver) or `LINGER_BUDGET` bytes came.
    #[cold]
    async fn linger(&mut self) {
        let registry = &self.ctx.registry;
        self.signal
            .set_deadline(Some(registry.deadline_after(LINGER)));
        let mut budget = LINGER_BUDGET;
        poll_fn(|cx| loop {
            // Into the connection's own read buffer: nothing to allocate or zero.
            self.read_buf.clear();
            self.read_buf.reserve(LINGER_READ);
            let read =
                tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read_buf);
            match read {
                Poll::Ready(Ok(n @ 1..)) => {
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => {
                    return match self.signal.poll(cx) {
                        Some(Signal::Expired) => Poll::Ready(()),
                        // Released (shutdown, pressure): this connection is closing already.
                        _ => Poll::Pending,
                    };
                }
            }
        })
        .await;
        self.read_buf.clear();
    }

    async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Writes what is queued, holding the client to `send_min_rate` while it is slow to take it.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_write_out(cx, Out::Flush)
    }

    /// Writes what is queued, then flushes or shuts down the connection's writing side, holding
    /// the client to `send_min_rate` while it is slow to take it.
    fn poll_write_out(&mut self, cx: &mut Context<'_>, then: Out) -> Poll<Result<(), Error>> {
        let before = self.write.written();
        let flushed = match then {
            Out::Flush => self.write.poll_flush(&mut self.io, cx),
            Out::Shutdown => self.write.poll_shutdown(&mut self.io, cx),
        };
        let moved = self.write.written() - before;
        self.tally.sent(moved);
        let moved = moved as u64;
        let Some(guard) = self.send_guard.as_mut() else {
            return flushed.map_err(Error::io);
        };
        if flushed.is_ready() && guard.is_quiet() {
            return flushed.map_err(Error::io);
        }
        let too_slow = || {
            stats::count(&stats::SEND_RATE_TIMEOUTS);
            self.tally.event(&Event::Timeout {
                kind: TimeoutKind::SendRate,
            });
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
        if self.shrunk {
            return self.poll_read_shrunk(cx);
        }
        // Keep at least half a buffer free: a short read then means the socket is drained
        // (tokio skips the next `recv` that would only say EAGAIN), and a typical request
        // does not arrive in two reads because the buffer happened to be nearly full. Once
        // the previous request's bytes are dropped, `reserve` reuses the same allocation.
        if self.read_buf.capacity() - self.read_buf.len() < self.config.read_buffer_size / 2 {
            self.read_buf.reserve(self.config.read_buffer_size);
        }
        let read =
            tokio_util::io::poll_read_buf(std::pin::Pin::new(&mut self.io), cx, &mut self.read_buf);
        if let Poll::Ready(Ok(n)) = read {
            self.tally.received(n);
        }
        read
    }

    /// Reports a body or head that broke a rule or a limit; `head` is what is still buffered.
    fn parse_event(&self, err: &Error, head: &[u8]) {
        let event = match err.kind() {
            Kind::Parse(parse) => match parse.limit() {
                Some(limit) => Event::Limit { limit },
                None => Event::Parse {
                    rule: parse.rule(),
                    status: parse.status_and_reason().0,
                    head,
                },
            },
            Kind::BodyTooLarge(_) => Event::Limit {
                limit: "max_body_size",
            },
            // Timeouts were reported where they fired.
            _ => return,
        };
        self.tally.event(&event);
    }

    /// Reports why a response was cut off.
    fn aborted(&self, err: &Error) {
        match err.kind() {
            Kind::Timeout(_) => {}
            // A body that failed because the request body it streams failed (an echo of a
            // broken upload): the client's fault, reported where the request body broke.
            Kind::User if request_body_error_among(std::error::Error::source(err)) => {}
            Kind::User => self.tally.event(&Event::HandlerError { error: err }),
            _ => self.tally.event(&Event::ClientAbort),
        }
    }

    /// What the service left for the record: a route chosen while polled, a panic it caught
    /// and answered itself. Read once the exchange is over, not in the poll that produced the
    /// response: a call there made that poll copy the response (~70 instructions).
    fn settle_record(&mut self) {
        // A service that routes only when polled labels the request now (for metrics; the
        // routes of log lines come from `call`, which is where routers route).
        if R::WANTS_ROUTE && self.config.observer.is_some() && !self.tally.has_route() {
            self.tally.set_route(RouteId::take_current());
        }
        if let Some(message) = record::take_caught_panic() {
            self.tally.event(&Event::HandlerPanic { message: &message });
        }
    }

    fn service_error(&self, err: BoxError) -> StatusCode {
        self.tally.event(&Event::HandlerError { error: &*err });
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn handler_panicked(&self, panic: &Box<dyn std::any::Any + Send>) -> StatusCode {
        self.tally.event(&Event::HandlerPanic {
            message: panic_message(panic),
        });
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// The response buffer a connection starts with: a typical head and small body.
const INITIAL_WRITE_CAPACITY: usize = 1024;

/// The largest header map kept between exchanges (see `Conn::spare_headers`): enough for
/// ordinary requests, small enough that an idle connection does not hoard memory.
const SPARE_HEADERS_MAX: usize = 48;

/// What a connection waiting for request bytes is (see `Conn::poll_head_bytes`).
#[derive(Debug, Clone, Copy)]
struct Waiting {
    /// Between requests: the keep-alive deadline runs, and expiry is a silent close.
    idle: bool,
    /// No request would be lost by closing it (idle, or no byte of a first request yet): a
    /// drain or a full server may take it back, and it may give back its buffers.
    releasable: bool,
}

/// Whether a connection's first bytes are the HTTP/2 preface (RFC 9113 §3.4).
#[derive(Debug, PartialEq, Eq)]
enum Sniffed {
    Http1,
    Http2,
    /// A prefix of the HTTP/2 preface so far.
    NeedMore,
}

fn sniff_preface(buf: &[u8]) -> Sniffed {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let n = buf.len().min(PREFACE.len());
    if buf.get(..n) != PREFACE.get(..n) {
        Sniffed::Http1
    } else if n == PREFACE.len() {
        Sniffed::Http2
    } else {
        Sniffed::NeedMore
    }
}

/// How long a closing connection keeps reading what the client still sends.
const LINGER: Duration = Duration::from_secs(2);
/// Most bytes a lingering close reads and discards.
const LINGER_BUDGET: usize = 1 << 20;
/// Room for each lingering read.
const LINGER_READ: usize = 4096;

struct Outgoing<'a> {
    /// The head to write; borrowed, so the response parts never move.
    parts: Option<&'a http::response::Parts>,
    /// `None` until the head is written.
    encoder: Option<BodyEncoder>,
    /// A frame polled before the head was written (see `Expect::Pending`).
    peeked: Option<Option<Result<http_body::Frame<Bytes>, Error>>>,
    /// Where the head starts in the write buffer, until the body's first bytes follow it.
    head_at: Option<Mark>,
}

/// Moves `headers` into a fresh message's (empty) header map.
///
/// An empty `HeaderMap` owns no heap memory, yet dropping one walks its three containers
/// (~60 instructions, a per-request cost); forgetting it instead leaks nothing.
fn put_headers(slot: &mut HeaderMap, headers: HeaderMap) {
    let empty = std::mem::replace(slot, headers);
    if empty.capacity() == 0 {
        std::mem::forget(empty);
    }
}

/// The request ID header for a response, when IDs are on.
fn stamp<'a>(config: &'a Config, id: Option<&'a crate::observe::RequestId>) -> Option<Stamp<'a>> {
    let id = id?;
    Some(Stamp {
        name: config.request_id_header.as_ref()?,
        id,
    })
}

#[cfg(test)]
mod sniff_tests {
    use super::{sniff_preface, Sniffed};

    #[test]
    fn the_h2_preface_is_told_from_http1_by_its_first_differing_byte() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0";
        assert_eq!(sniff_preface(preface), Sniffed::Http2);
        assert_eq!(sniff_preface(&preface[..24]), Sniffed::Http2);
        assert_eq!(sniff_preface(&preface[..23]), Sniffed::NeedMore);
        assert_eq!(sniff_preface(b"P"), Sniffed::NeedMore);
        assert_eq!(sniff_preface(b"POST / HTTP/1.1\r\n"), Sniffed::Http1);
        assert_eq!(sniff_preface(b"PRI * HTTP/1.1\r\n"), Sniffed::Http1);
        assert_eq!(sniff_preface(b"GET / HTTP/1.1\r\n"), Sniffed::Http1);
    }
}
