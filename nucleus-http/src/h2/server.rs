//! Drives one HTTP/2 connection: the handshake, then accepting streams and running them all
//! on this task, then `GOAWAY` when the server drains, the connection idles out, or the
//! client cancels too much.
//!
//! Streams run as futures in a `FuturesUnordered` on the connection's task rather than as
//! tasks of their own: they share the connection's worker (the per-core model has no other),
//! they need no `Send` channel to the connection, and dropping the connection drops them.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};

use super::backend::Connection;
use super::record::ConnectionRecord;
use super::stream::{self, End, Shared};
use super::{engine, h2_crate};
use crate::error::{Error, Kind, Timeout};
use crate::server::{ConnContext, ConnSignal, Signal};
use crate::{stats, Config, Http2Config, Http2Engine, HttpService, PeerAddr};

/// Serves one HTTP/2 connection until it closes. `io` must start with the client preface.
pub(crate) async fn serve<I, S>(
    io: I,
    peer: Option<PeerAddr>,
    service: S,
    config: Arc<Config>,
    ctx: ConnContext,
) -> Result<(), Error>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
{
    let settings = config.http2.clone().unwrap_or_default();
    let _observed = ConnectionRecord::open(&config);
    let signal = ctx.registry.register();
    // The preface and SETTINGS are this protocol's request head: same slowloris clock.
    signal.set_deadline(
        config
            .header_read_timeout
            .map(|t| ctx.registry.deadline_after(t)),
    );
    if settings.engine == Http2Engine::Nucleus {
        let handshake = engine::handshake(io, &config, &settings);
        let Some(conn) = with_deadline(handshake, &signal).await? else {
            return Ok(());
        };
        return run(conn, peer, service, config, ctx, signal, settings).await;
    }
    let handshake = h2_crate::handshake(io, &config, &settings);
    let Some(conn) = with_deadline(handshake, &signal).await? else {
        return Ok(());
    };
    run(conn, peer, service, config, ctx, signal, settings).await
}

/// The handshake, unless the deadline passes first (`None`: counted and logged here).
async fn with_deadline<C>(
    handshake: impl Future<Output = Result<C, Error>>,
    signal: &ConnSignal,
) -> Result<Option<C>, Error> {
    let mut handshake = pin!(handshake);
    let handshake = poll_fn(|cx| {
        if let Poll::Ready(result) = handshake.as_mut().poll(cx) {
            return Poll::Ready(Some(result));
        }
        signal.poll(cx).map_or(Poll::Pending, |_| Poll::Ready(None))
    })
    .await;
    match handshake {
        Some(Ok(conn)) => {
            signal.set_deadline(None);
            Ok(Some(conn))
        }
        Some(Err(err)) => Err(err),
        None => {
            stats::count(&stats::HEADER_READ_TIMEOUTS);
            tracing::debug!("HTTP/2 preface did not arrive in time");
            Ok(None)
        }
    }
}

/// Accepts and runs the streams of a connection whose handshake is done.
async fn run<C, S>(
    mut conn: C,
    peer: Option<PeerAddr>,
    service: S,
    config: Arc<Config>,
    ctx: ConnContext,
    signal: Arc<ConnSignal>,
    settings: Http2Config,
) -> Result<(), Error>
where
    C: Connection,
    S: HttpService,
{
    let shared = Arc::new(Shared {
        config: config.clone(),
        lifecycle: ctx.lifecycle.clone(),
        peer,
    });
    // Boxed: a stream's future holds its handler's and its response writer's state (over a
    // kilobyte), and `FuturesUnordered::push` moves what it is given into its task node, so
    // unboxed it was copied three times per stream (~600 instructions in callgrind); a box
    // is one allocation and one copy.
    let mut streams: FuturesUnordered<Pin<Box<dyn Future<Output = End> + Send>>> =
        FuturesUnordered::new();
    let mut going_away = false;
    let mut idle = false;
    // Client cancellations net of completed streams (never below zero).
    let mut cancelled: u32 = 0;
    // `move`: the closure owns the service, so the future is `Send` without `S: Sync`.
    //
    // One pass: accept every stream the peer has opened, then run the streams. Responses
    // they queue make `h2` wake this task, and the next pass's `poll_accept` writes all of
    // them at once: one write per batch of streams, not per stream. (Polling the connection
    // after each stream cost a `writev` per response, 0.6x hyper's throughput on h2load.)
    poll_fn(move |cx| 'pass: loop {
        if !going_away && (ctx.lifecycle.is_draining() || signal.is_released()) {
            conn.graceful_shutdown();
            going_away = true;
        }
        loop {
            match conn.poll_accept(cx) {
                Poll::Ready(Some(Ok((req, respond)))) => {
                    // The box first, then the future written into it: `Box::pin(future)`
                    // copied all of the future's space (about 1.8 KiB, most of it not yet
                    // in use) from the stack into the box.
                    let slot = Box::new_uninit();
                    let stream = Box::write(
                        slot,
                        stream::serve(req, respond, service.clone(), shared.clone()),
                    );
                    streams.push(Box::into_pin(stream));
                }
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Err(err)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => break,
            }
        }
        while let Poll::Ready(Some(end)) = streams.poll_next_unpin(cx) {
            match end {
                End::Completed => cancelled = cancelled.saturating_sub(1),
                End::Cancelled => cancelled += 1,
            }
            if cancelled > settings.max_cancelled_streams && !going_away {
                stats::count(&stats::H2_RESET_FLOODS);
                tracing::debug!(cancelled, "client cancels too many streams; GOAWAY");
                conn.abrupt_shutdown();
                going_away = true;
                // Poll the connection again so that the GOAWAY goes out.
                continue 'pass;
            }
        }
        if conn.wants_write() {
            // The streams queued frames: write them in this pass, in one write.
            continue 'pass;
        }
        if conn.poll_dead(cx).is_ready() {
            tracing::debug!("HTTP/2 keep-alive PING unanswered; closing");
            return Poll::Ready(Err(Error::new(Kind::Timeout(Timeout::Ping))));
        }
        // A connection with no open stream is idle: the keep-alive timeout runs, and the
        // server may ask for it back under pressure.
        if streams.is_empty() != idle {
            idle = streams.is_empty();
            let registry = &ctx.registry;
            if idle {
                signal.set_deadline(
                    config
                        .keep_alive_timeout
                        .map(|t| registry.deadline_after(t)),
                );
                signal.set_idle(Some(registry.now()));
            } else {
                signal.set_deadline(None);
                signal.set_idle(None);
                signal.set_shrunk(false);
            }
        }
        match signal.poll(cx) {
            Some(Signal::Expired) if idle && going_away => {
                // No stream of ours is open, yet `h2` has not closed: a response it holds
                // waits for window the client never opens. Drop the connection.
                tracing::debug!("HTTP/2 connection still open a timeout after GOAWAY; closing");
                return Poll::Ready(Ok(()));
            }
            Some(Signal::Expired) if idle => {
                stats::count(&stats::KEEP_ALIVE_TIMEOUTS);
                tracing::debug!("HTTP/2 connection idle; GOAWAY");
                conn.graceful_shutdown();
                going_away = true;
                // One more keep-alive timeout for the client to finish and close.
                let registry = &ctx.registry;
                signal.set_deadline(
                    config
                        .keep_alive_timeout
                        .map(|t| registry.deadline_after(t)),
                );
            }
            // Shutdown or pressure: the top of the loop sends GOAWAY.
            Some(Signal::Released) if !going_away => {}
            Some(Signal::Shrink) if idle => {
                // Idle for a while: its buffers go back until bytes arrive, as HTTP/1.1's.
                conn.shrink();
                signal.set_shrunk(true);
                conn.end_pass();
                return Poll::Pending;
            }
            _ => {
                conn.end_pass();
                return Poll::Pending;
            }
        }
    })
    .await
}
