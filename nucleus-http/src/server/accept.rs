//! One worker: its accept loops, its connections, and its part of a graceful shutdown.

use std::io;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_util::task::{AbortOnDropHandle, TaskTracker};

use super::cert_watch::Watches;
use super::housekeeping::Housekeeping;
use super::lifecycle::{ConnContext, Lifecycle};
use super::listener;
use super::protocol::{self, Scheme};
use super::DrainReport;
use crate::observe::record::{self, Quiet, Record, Tally};
use crate::observe::{Event, RequestInfo};
use crate::{stats, Config, HttpService, PeerAddr};

pub(super) struct Worker {
    pub(super) sockets: Vec<(std::net::TcpListener, Scheme)>,
    pub(super) config: Arc<Config>,
    pub(super) limit: Arc<Semaphore>,
    pub(super) lifecycle: Arc<Lifecycle>,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) shutdown_timeout: Duration,
    pub(super) starting: Arc<AtomicUsize>,
    /// Whether this worker keeps its own connections' clock (see `housekeeping`) rather
    /// than leave it to the sweeper thread.
    pub(super) own_housekeeping: bool,
    /// Certificate files to look at from the housekeeping (or to hand to a thread without it).
    pub(super) watches: Watches,
}

impl Worker {
    /// Serves until shutdown, then drains this worker's connections.
    pub(super) async fn serve<S: HttpService>(self, service: S) -> io::Result<DrainReport> {
        let connections = TaskTracker::new();
        let housekeeping = self
            .own_housekeeping
            .then(Housekeeping::new)
            .and_then(|made| {
                made.map_err(|err| tracing::debug!(error = %err, "no housekeeping timer; using the sweeper thread"))
                    .ok()
            });
        let (registry, housekeeping) = match housekeeping {
            Some(housekeeping) => {
                let registry = self.lifecycle.add_own_registry();
                let task = tokio::spawn(housekeeping.run(registry.clone(), self.watches));
                (registry, Some(AbortOnDropHandle::new(task)))
            }
            None => {
                self.watches.look_from_thread();
                (self.lifecycle.add_registry(), None)
            }
        };
        let ctx = ConnContext {
            lifecycle: self.lifecycle.clone(),
            registry,
        };
        let mut loops = Vec::with_capacity(self.sockets.len());
        for (socket, scheme) in self.sockets {
            let accept = AcceptLoop {
                listener: TcpListener::from_std(socket)?,
                scheme: Arc::new(scheme),
                service: service.clone(),
                config: self.config.clone(),
                limit: self.limit.clone(),
                ctx: ctx.clone(),
                connections: connections.clone(),
                shutdown: self.shutdown.clone(),
            };
            loops.push(tokio::spawn(accept.run()));
        }
        super::worker_started(&self.starting, &self.lifecycle);

        let mut shutdown = self.shutdown;
        let _ = shutdown.wait_for(|stop| *stop).await;
        // Each loop drops its listener as it returns: new connections are refused from here.
        for accept in loops {
            let _ = accept.await;
        }
        // Idle keep-alive connections go now; busy ones finish their request and close.
        ctx.registry.release_all();
        connections.close();
        let waited_for = connections.len();
        if waited_for > 0 {
            tracing::info!(
                connections = waited_for,
                "draining: waiting for in-flight requests"
            );
        }
        let forced = match tokio::time::timeout(self.shutdown_timeout, connections.wait()).await {
            Ok(()) => 0,
            // Returning drops the runtime and with it every remaining connection task.
            Err(_) => connections.len(),
        };
        drop(housekeeping);
        Ok(DrainReport { waited_for, forced })
    }
}

/// Spawns a plain-HTTP connection's task, with HTTP/1.1 awaited right in it rather than
/// through a helper future: one layer fewer in every poll of the connection.
#[allow(clippy::too_many_arguments)]
fn spawn_http<S: HttpService, R: Record>(
    connections: &TaskTracker,
    stream: tokio::net::TcpStream,
    peer: PeerAddr,
    service: S,
    config: Arc<Config>,
    ctx: ConnContext,
    record: R,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    connections.spawn(async move {
        let peer = Some(peer);
        let ended = crate::h1::serve(stream, peer, service, config, ctx, record).await;
        if let Ok(ended) = ended {
            let _ = protocol::after_http1(ended, peer).await;
        }
        drop(permit);
    });
}

struct AcceptLoop<S> {
    listener: TcpListener,
    scheme: Arc<Scheme>,
    service: S,
    config: Arc<Config>,
    limit: Arc<Semaphore>,
    ctx: ConnContext,
    connections: TaskTracker,
    shutdown: watch::Receiver<bool>,
}

impl<S: HttpService> AcceptLoop<S> {
    async fn run(mut self) {
        let mut backoff = Backoff::new();
        loop {
            let permit = match self.limit.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    // At the cap: stop accepting (the kernel backlog holds newcomers) and ask
                    // the longest-idle connection to make room.
                    stats::count(&stats::CONNECTION_CAP_REACHED);
                    record::emit(
                        self.config.observer.as_deref(),
                        &Event::ConnectionCapReached,
                        &RequestInfo::default(),
                    );
                    let _pressure = self.ctx.lifecycle.press();
                    let mut acquire = std::pin::pin!(self.limit.clone().acquire_owned());
                    loop {
                        tokio::select! {
                            biased;
                            _ = self.shutdown.wait_for(|stop| *stop) => return,
                            permit = &mut acquire => match permit {
                                Ok(permit) => break permit,
                                Err(_) => return,
                            },
                            // Ask again each tick: a connection may have gone idle since,
                            // or come out of its grace (one that has not sent a byte).
                            () = tokio::time::sleep(super::lifecycle::TICK) => {
                                self.ctx.lifecycle.release_oldest_idle();
                            }
                        }
                    }
                }
            };
            let accepted = tokio::select! {
                biased;
                _ = self.shutdown.wait_for(|stop| *stop) => return,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff.reset();
                    if !listener::ACCEPTED_INHERIT_OPTIONS {
                        let socket = socket2::SockRef::from(&stream);
                        listener::tune_accepted(socket, self.config.send_buffer_size);
                    }
                    let service = self.service.clone();
                    let config = self.config.clone();
                    let ctx = self.ctx.clone();
                    let peer = PeerAddr(peer);
                    // Plain HTTP gets one task type per kind of record (see
                    // `h1::is_quiet`): a branch inside the task would cost every poll. Each
                    // scheme has its own task type too: a task's future is as large as its
                    // largest state, and spawning copies it several times, so a TLS
                    // connection's states must not weigh on plain ones, nor the other way.
                    match (&*self.scheme, crate::h1::is_quiet(&config)) {
                        (Scheme::Http, true) => {
                            let record = Quiet::new(Some(peer));
                            spawn_http(
                                &self.connections,
                                stream,
                                peer,
                                service,
                                config,
                                ctx,
                                record,
                                permit,
                            );
                        }
                        (Scheme::Http, false) => {
                            let record = Tally::for_http1(&config, Some(peer));
                            spawn_http(
                                &self.connections,
                                stream,
                                peer,
                                service,
                                config,
                                ctx,
                                record,
                                permit,
                            );
                        }
                        #[cfg(feature = "tls")]
                        (Scheme::Https(acceptor), _) => {
                            let acceptor = acceptor.clone();
                            self.connections.spawn(async move {
                                let _ = acceptor.serve(stream, peer, service, config, ctx).await;
                                drop(permit);
                            });
                        }
                        (Scheme::RedirectToHttps(port), _) => {
                            let port = *port;
                            self.connections.spawn(async move {
                                let _ =
                                    protocol::serve_redirect(stream, peer, port, config, ctx).await;
                                drop(permit);
                            });
                        }
                    }
                }
                Err(err) if is_connection_error(&err) => {
                    // The peer reset before we accepted; nothing to do with the listener.
                }
                Err(err) => {
                    // EMFILE/ENFILE/ENOBUFS/ENOMEM: the listener is fine but we cannot take
                    // more now. Accepting again at once would spin at 100% CPU; exiting would
                    // turn a transient overload into an outage. Back off, as hyper and axum do.
                    stats::count(&stats::ACCEPT_ERRORS);
                    let delay = backoff.next();
                    tracing::debug!(retry_in_ms = delay.as_millis() as u64, "accept back-off");
                    record::emit(
                        self.config.observer.as_deref(),
                        &Event::AcceptError { error: &err },
                        &RequestInfo::default(),
                    );
                    tokio::select! {
                        _ = self.shutdown.wait_for(|stop| *stop) => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Exponential backoff from 5 ms to 1 s.
struct Backoff {
    current: Duration,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    fn new() -> Backoff {
        Backoff {
            current: Backoff::MIN,
        }
    }

    fn reset(&mut self) {
        self.current = Backoff::MIN;
    }

    fn next(&mut self) -> Duration {
        let delay = self.current;
        self.current = (self.current * 2).min(Backoff::MAX);
        delay
    }
}
