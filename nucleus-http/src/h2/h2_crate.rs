//! The `h2` crate behind the [`backend`](super::backend) traits.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Ping, PingPong, Reason, RecvStream, SendStream};
use http::{HeaderMap, Response};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

use super::backend::{Accepted, Connection, Extra, Gone, RecvData, Reset, Respond, SendBody};
use crate::error::Error;
use crate::{stats, Config, Http2Config};

/// The handshake: our SETTINGS out, the client's preface in.
pub(super) async fn handshake<I>(
    io: I,
    config: &Config,
    settings: &Http2Config,
) -> Result<H2Connection<I>, Error>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut conn = builder(config, settings)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(Error::h2)?;
    let keep_alive =
        settings
            .keep_alive_interval
            .zip(conn.ping_pong())
            .map(|(interval, ping_pong)| {
                KeepAlive::new(ping_pong, interval, settings.keep_alive_timeout)
            });
    Ok(H2Connection { conn, keep_alive })
}

fn builder(config: &Config, settings: &Http2Config) -> h2::server::Builder {
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(settings.max_concurrent_streams)
        .initial_window_size(settings.initial_stream_window)
        .initial_connection_window_size(settings.initial_connection_window)
        .max_frame_size(settings.max_frame_size)
        .max_header_list_size(u32::try_from(config.max_head_size).unwrap_or(u32::MAX))
        .max_send_buffer_size(settings.max_send_buffer)
        .max_pending_accept_reset_streams(settings.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(Some(settings.max_local_error_reset_streams));
    builder
}

pub(super) struct H2Connection<I> {
    conn: h2::server::Connection<I, Bytes>,
    keep_alive: Option<KeepAlive>,
}

impl<I> Connection for H2Connection<I>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Recv = RecvStream;
    type Respond = SendResponse<Bytes>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Accepted<Self>, Error>>> {
        match self.conn.poll_accept(cx) {
            Poll::Ready(Some(Err(err))) => {
                if err.reason() == Some(Reason::ENHANCE_YOUR_CALM) && !err.is_remote() {
                    // h2's own limits (pending-accept resets, local error resets) fired.
                    stats::count(&stats::H2_RESET_FLOODS);
                }
                Poll::Ready(Some(Err(Error::h2(err))))
            }
            other => other.map(|next| next.map(|accepted| accepted.map_err(Error::h2))),
        }
    }

    fn graceful_shutdown(&mut self) {
        self.conn.graceful_shutdown();
    }

    fn abrupt_shutdown(&mut self) {
        self.conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
    }

    fn poll_dead(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.keep_alive.as_mut() {
            Some(keep_alive) => keep_alive.poll_dead(cx),
            None => Poll::Pending,
        }
    }

    fn wants_write(&self) -> bool {
        // `h2` wakes the connection's task itself when a stream queues a frame.
        false
    }
}

impl Respond for SendResponse<Bytes> {
    type Stream = SendStream<Bytes>;

    fn send_response(
        &mut self,
        mut head: Response<()>,
        extra: Extra,
        end: bool,
    ) -> Result<Self::Stream, Gone> {
        extra.insert_into(head.headers_mut());
        SendResponse::send_response(self, head, end).map_err(|_| Gone)
    }

    fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        SendResponse::poll_reset(self, cx).map(|_| ())
    }
}

fn reason(reset: Reset) -> Reason {
    match reset {
        Reset::Cancel => Reason::CANCEL,
        Reset::Internal => Reason::INTERNAL_ERROR,
    }
}

impl SendBody for SendStream<Bytes> {
    fn send_data(&mut self, data: Bytes, end: bool) -> Result<(), Gone> {
        SendStream::send_data(self, data, end).map_err(|_| Gone)
    }

    fn send_trailers(&mut self, trailers: HeaderMap) -> Result<(), Gone> {
        SendStream::send_trailers(self, trailers).map_err(|_| Gone)
    }

    fn send_reset(&mut self, reset: Reset) {
        SendStream::send_reset(self, reason(reset));
    }

    fn reserve_capacity(&mut self, wanted: usize) {
        SendStream::reserve_capacity(self, wanted);
    }

    fn capacity(&self) -> usize {
        SendStream::capacity(self)
    }

    fn poll_capacity(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<usize, Gone>>> {
        SendStream::poll_capacity(self, cx).map(|c| c.map(|r| r.map_err(|_| Gone)))
    }

    fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        SendStream::poll_reset(self, cx).map(|_| ())
    }
}

impl RecvData for RecvStream {
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        RecvStream::poll_data(self, cx).map(|d| d.map(|r| r.map_err(Error::h2)))
    }

    fn release_capacity(&mut self, len: usize) {
        let _ = self.flow_control().release_capacity(len);
    }

    fn poll_trailers(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<HeaderMap>, Error>> {
        RecvStream::poll_trailers(self, cx).map(|t| t.map_err(Error::h2))
    }

    fn is_end_stream(&self) -> bool {
        RecvStream::is_end_stream(self)
    }
}

/// Optional `PING` keep-alive: one ping every interval, and the connection is dead if the
/// answer does not come within the timeout.
struct KeepAlive {
    ping_pong: PingPong,
    interval: Duration,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    waiting: bool,
}

impl KeepAlive {
    fn new(ping_pong: PingPong, interval: Duration, timeout: Duration) -> KeepAlive {
        KeepAlive {
            ping_pong,
            interval,
            timeout,
            sleep: Box::pin(tokio::time::sleep(interval)),
            waiting: false,
        }
    }

    /// Ready when the peer failed to answer in time.
    fn poll_dead(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.waiting {
                match self.ping_pong.poll_pong(cx) {
                    Poll::Ready(Ok(_)) => {
                        self.waiting = false;
                        self.sleep.as_mut().reset(Instant::now() + self.interval);
                        continue;
                    }
                    // The connection is closing; its own poll reports why.
                    Poll::Ready(Err(_)) => return Poll::Pending,
                    Poll::Pending => {}
                }
                return self.sleep.as_mut().poll(cx);
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.ping_pong.send_ping(Ping::opaque()).is_err() {
                return Poll::Pending;
            }
            self.waiting = true;
            self.sleep.as_mut().reset(Instant::now() + self.timeout);
        }
    }
}
