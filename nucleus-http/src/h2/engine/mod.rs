//! Nucleus's own HTTP/2 framing (RFC 9113), behind the same [`backend`](super::backend)
//! interface as the `h2` crate.
//!
//! One task per connection, as with `h2`, but one lock and one write queue for everything:
//! a frame received is applied to the state where it lands, a response is HPACK-encoded
//! straight into the write queue when the handler returns it, and the queue goes out in one
//! write per pass over the connection's streams. `h2` passes every frame through per-stream
//! queues by value and encodes at write time; that is most of its cost per request.

pub(crate) mod fuzz;
mod handles;
mod request;
mod state;
mod stream;

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use http::{Request, Version};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

pub use self::fuzz::fuzz_connection;
use self::handles::{lock, RequestBody, Responder, Shared};
use self::state::{ConnError, Limits, NewStream, State};
use super::backend::{Accepted, Connection};
use super::frame::{self, Reason};
use crate::error::{Error, Kind};
use crate::{Config, Http2Config};

/// Read buffer to start with: room for a frame of the default maximum size and its head.
const READ_BUF: usize = 16 * 1024 + frame::HEAD_LEN;

/// The handshake: our SETTINGS out, the client's preface in (the SETTINGS frame that must
/// follow it is checked as the first frame).
pub(super) async fn handshake<I>(
    mut io: I,
    config: &Config,
    settings: &Http2Config,
) -> Result<EngineConnection<I>, Error>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let limits = Limits {
        max_concurrent_streams: settings.max_concurrent_streams,
        stream_window: settings.initial_stream_window.min(frame::MAX_WINDOW),
        connection_window: settings.initial_connection_window.min(frame::MAX_WINDOW),
        max_frame_size: settings
            .max_frame_size
            .clamp(frame::DEFAULT_MAX_FRAME_SIZE, frame::MAX_MAX_FRAME_SIZE),
        max_header_list_size: config.max_head_size,
        max_send_buffer: settings.max_send_buffer.max(16 * 1024),
        max_local_error_resets: settings.max_local_error_reset_streams,
        max_early_resets: settings.max_pending_accept_reset_streams,
    };
    let mut state = State::new(limits);
    let mut read_buf = BytesMut::with_capacity(READ_BUF);
    // Our SETTINGS go out while the preface comes in.
    poll_fn(|cx| {
        let _ = state.out.poll_flush(&mut io, cx)?;
        while read_buf.len() < frame::PREFACE.len() {
            let n = std::task::ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut io),
                cx,
                &mut read_buf
            ))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)));
            }
        }
        Poll::Ready(Ok(()))
    })
    .await
    .map_err(Error::io)?;
    if read_buf.get(..frame::PREFACE.len()) != Some(&frame::PREFACE[..]) {
        return Err(Error::new(Kind::Protocol).with(ConnError::new(
            Reason::PROTOCOL_ERROR,
            "not the HTTP/2 preface",
        )));
    }
    let _ = read_buf.split_to(frame::PREFACE.len());
    let keep_alive = settings
        .keep_alive_interval
        .map(|interval| KeepAlive::new(interval, settings.keep_alive_timeout));
    Ok(EngineConnection {
        io,
        read_buf,
        shared: Arc::new(Mutex::new(state)),
        read_closed: false,
        keep_alive,
    })
}

pub(super) struct EngineConnection<I> {
    io: I,
    read_buf: BytesMut,
    shared: Shared,
    read_closed: bool,
    keep_alive: Option<KeepAlive>,
}

impl<I> EngineConnection<I>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    fn hand_over(shared: &Shared, new: NewStream) -> Accepted<Self> {
        let (respond, body) = handles::handles(shared, new.key, new.id);
        let mut request = Request::new(body);
        *request.method_mut() = new.head.method;
        *request.uri_mut() = new.head.uri;
        *request.version_mut() = Version::HTTP_2;
        *request.headers_mut() = new.head.headers;
        (request, respond)
    }

    /// Applies every complete frame in the read buffer.
    fn process(read_buf: &mut BytesMut, state: &mut State) -> Result<(), ConnError> {
        let max = state.limits.max_frame_size;
        loop {
            if state.closing.is_some() || state.out.len() >= state.limits.max_send_buffer {
                // A peer that does not read what its frames make us write (PING or SETTINGS
                // floods) is not read from either, until it does.
                return Ok(());
            }
            match frame::decode(read_buf, max) {
                Ok(Some(frame)) => state.recv_frame(frame)?,
                Ok(None) => return Ok(()),
                Err(err) => state.frame_error(err)?,
            }
        }
    }

    /// The connection ends: `GOAWAY` with the error, every stream gone.
    fn fail(state: &mut State, err: ConnError) {
        tracing::debug!(reason = %err.reason, what = err.what, "HTTP/2 connection error");
        if state.goaway_sent.is_none() || err.reason != Reason::NO_ERROR {
            state.goaway_sent = None;
            state.go_away(err.reason);
        }
        state.fail_all();
        state.closing = Some(err);
    }
}

impl<I> Connection for EngineConnection<I>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Recv = RequestBody;
    type Respond = Responder;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Accepted<Self>, Error>>> {
        // The fields apart, so that the state's guard can borrow `shared` while the socket
        // and the read buffer are used (cloning the `Arc` for that cost two atomic operations
        // per call, and this is called once per stream).
        let EngineConnection {
            io,
            read_buf,
            shared,
            read_closed,
            ..
        } = self;
        let mut state = lock(shared);
        state.in_pass = true;
        match &state.conn_waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.conn_waker = Some(cx.waker().clone()),
        }
        loop {
            if let Some(new) = state.accepted.pop_front() {
                return Poll::Ready(Some(Ok(Self::hand_over(shared, new))));
            }
            // Write what is queued (responses of the last pass, control frames).
            let before = state.out.len();
            match state.out.poll_flush(io, cx) {
                Poll::Ready(Ok(())) => state.write_blocked = false,
                Poll::Ready(Err(err)) => {
                    state.fail_all();
                    return Poll::Ready(Some(Err(Error::io(err))));
                }
                Poll::Pending => state.write_blocked = true,
            }
            if state.out.len() < before {
                // Room in the queue again: streams it held back go on, and what they add
                // goes out in this call unless the socket is full.
                state.unblock();
                if !state.write_blocked && !state.out.is_empty() {
                    continue;
                }
            }
            if let Some(err) = state.closing {
                if !state.out.is_empty() {
                    return Poll::Pending;
                }
                let _ = Pin::new(&mut *io).poll_shutdown(cx);
                return Poll::Ready(match err.reason {
                    Reason::NO_ERROR => None,
                    _ => Some(Err(Error::new(Kind::Protocol).with(err))),
                });
            }
            let going_away = state.goaway_sent.is_some() || state.goaway_received;
            if going_away && !state.has_open_streams() && state.out.is_empty() {
                state.closing = Some(ConnError::new(Reason::NO_ERROR, "done"));
                continue;
            }
            // The frames already here first, then the socket.
            let had = read_buf.len();
            if let Err(err) = Self::process(read_buf, &mut state) {
                Self::fail(&mut state, err);
                continue;
            }
            if !state.accepted.is_empty() || read_buf.len() < had {
                continue;
            }
            if *read_closed || state.out.len() >= state.limits.max_send_buffer {
                return Poll::Pending;
            }
            if read_buf.capacity() - read_buf.len() < frame::HEAD_LEN {
                let need = frame::frame_len(read_buf).unwrap_or(READ_BUF);
                read_buf.reserve(need.max(READ_BUF));
            }
            match tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, read_buf) {
                Poll::Ready(Ok(0)) => {
                    *read_closed = true;
                    // Requests the client completed before closing its side are answered;
                    // with none left, the client left and the connection is over.
                    if !state.peer_stopped_sending() {
                        state.fail_all();
                        state.closing = Some(ConnError::new(Reason::NO_ERROR, "peer closed"));
                        state.out = crate::h1::io::WriteBuf::default();
                    }
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(err)) => {
                    state.fail_all();
                    return Poll::Ready(Some(Err(Error::io(err))));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn graceful_shutdown(&mut self) {
        let mut state = lock(&self.shared);
        state.go_away(Reason::NO_ERROR);
        state.wake_conn();
    }

    fn abrupt_shutdown(&mut self) {
        let mut state = lock(&self.shared);
        Self::fail(
            &mut state,
            ConnError::new(Reason::ENHANCE_YOUR_CALM, "client cancels too many streams"),
        );
        state.wake_conn();
    }

    fn poll_dead(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(keep_alive) = self.keep_alive.as_mut() else {
            return Poll::Pending;
        };
        let mut state = lock(&self.shared);
        keep_alive.poll_dead(&mut state, cx)
    }

    fn wants_write(&self) -> bool {
        let state = lock(&self.shared);
        !state.out.is_empty() && !state.write_blocked
    }

    fn end_pass(&mut self) {
        lock(&self.shared).in_pass = false;
    }

    fn shrink(&mut self) {
        if self.read_buf.is_empty() {
            // The next read allocates it again (`poll_accept` reserves before reading).
            self.read_buf = BytesMut::new();
        }
        lock(&self.shared).shrink();
    }
}

/// Optional `PING` keep-alive: one ping every interval, and the connection is dead if the
/// answer does not come within the timeout.
struct KeepAlive {
    interval: Duration,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    waiting: bool,
    sent: u64,
}

impl KeepAlive {
    fn new(interval: Duration, timeout: Duration) -> KeepAlive {
        KeepAlive {
            interval,
            timeout,
            sleep: Box::pin(tokio::time::sleep(interval)),
            waiting: false,
            sent: 0,
        }
    }

    fn poll_dead(&mut self, state: &mut State, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.waiting {
                if std::mem::take(&mut state.pong_received) {
                    self.waiting = false;
                    self.sleep.as_mut().reset(Instant::now() + self.interval);
                    continue;
                }
                return self.sleep.as_mut().poll(cx);
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sent += 1;
            state.send_ping(self.sent.to_be_bytes());
            // Written on the next pass.
            cx.waker().wake_by_ref();
            self.waiting = true;
            self.sleep.as_mut().reset(Instant::now() + self.timeout);
        }
    }
}
