//! Binding listeners, running workers, and stopping gracefully.

mod accept;
mod cert_watch;
mod housekeeping;
mod lifecycle;
mod listener;
mod protocol;
#[cfg(feature = "tls")]
mod sniff;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tls")]
mod tls_stream;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio_util::task::AbortOnDropHandle;

use cert_watch::Watches;
pub use protocol::serve_connection;
use protocol::Scheme;

pub(crate) use lifecycle::{health_answer, ConnContext, ConnSignal, Lifecycle, Signal};

use crate::{Config, HttpService};

/// How connections are spread over CPU cores.
///
/// Measured on the `bench/` harness (see docs/PERFORMANCE.md): per-core current-thread
/// runtimes avoid cross-thread wake-ups and atomics, which is why it is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WorkerModel {
    /// One single-threaded runtime per worker thread, each accepting on its own
    /// `SO_REUSEPORT` socket (the kernel balances new connections). As actix and xitca.
    #[default]
    PerCore,
    /// One tokio work-stealing runtime with `workers` threads sharing one listener. As hyper
    /// and axum.
    WorkStealing,
}

/// Configures and binds a [`Server`].
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use nucleus_http::{Server, WorkerModel};
///
/// let server = Server::builder()
///     .listen("127.0.0.1:8000".parse().unwrap())
///     .listen("[::1]:8000".parse().unwrap())
///     .workers(4)
///     .worker_model(WorkerModel::PerCore)
///     .max_connections(10_000)
///     .shutdown_timeout(Duration::from_secs(10))
///     .bind()?;
/// println!("listening on {:?}", server.local_addrs());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    addrs: Vec<(SocketAddr, Listen)>,
    workers: Option<usize>,
    model: WorkerModel,
    config: Config,
    backlog: u32,
    max_connections: Option<usize>,
    shutdown_timeout: Duration,
    v6_only: bool,
}

/// What one listen address serves, as configured.
#[derive(Debug, Clone)]
enum Listen {
    Http,
    #[cfg(feature = "tls")]
    Https(crate::TlsConfig),
    RedirectToHttps(u16),
}

impl Builder {
    /// Adds an address to listen on, for plain HTTP: HTTP/1.1, and HTTP/2 for clients that
    /// start with its preface (h2c with prior knowledge) unless [`Config::http2`] is `None`.
    /// Port 0 picks a free port (the same for every worker). `[::]` serves IPv6 and IPv4
    /// (dual stack) unless [`Builder::ipv6_only`] is set.
    pub fn listen(mut self, addr: SocketAddr) -> Builder {
        self.addrs.push((addr, Listen::Http));
        self
    }

    /// Adds an address that serves HTTPS with `tls`: HTTP/2 or HTTP/1.1 as the client's ALPN
    /// offer says. Plain and TLS listeners mix freely on one server.
    #[cfg(feature = "tls")]
    pub fn listen_tls(mut self, addr: SocketAddr, tls: crate::TlsConfig) -> Builder {
        self.addrs.push((addr, Listen::Https(tls)));
        self
    }

    /// Adds a plain-HTTP address that answers every request (other than the health
    /// endpoints) with `308 Permanent Redirect` to the same host and path over HTTPS on
    /// `https_port`.
    pub fn listen_redirect(mut self, addr: SocketAddr, https_port: u16) -> Builder {
        self.addrs.push((addr, Listen::RedirectToHttps(https_port)));
        self
    }

    /// Worker threads; default: the number of CPUs available to the process.
    pub fn workers(mut self, workers: usize) -> Builder {
        self.workers = Some(workers.max(1));
        self
    }

    /// How workers share connections; see [`WorkerModel`].
    pub fn worker_model(mut self, model: WorkerModel) -> Builder {
        self.model = model;
        self
    }

    /// HTTP/1.1 limits, timeouts and tuning.
    pub fn config(mut self, config: Config) -> Builder {
        self.config = config;
        self
    }

    /// The listen backlog: connections the kernel holds while the server is at its
    /// connection limit or busy (default 1024).
    pub fn backlog(mut self, backlog: u32) -> Builder {
        self.backlog = backlog;
        self
    }

    /// Most connections open at once, over all workers. At the limit the server stops
    /// accepting (newcomers wait in the kernel backlog) and asks idle keep-alive connections
    /// to close first. Default: the open-file limit (raised to its hard limit at bind) less a
    /// reserve of 64 for listeners, logs and the blocking pool.
    pub fn max_connections(mut self, max: usize) -> Builder {
        self.max_connections = Some(max.max(1));
        self
    }

    /// How long a graceful shutdown waits for in-flight requests before closing what is left
    /// (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Builder {
        self.shutdown_timeout = timeout;
        self
    }

    /// Makes `[::]` listeners IPv6-only instead of dual stack.
    pub fn ipv6_only(mut self, v6_only: bool) -> Builder {
        self.v6_only = v6_only;
        self
    }

    /// Binds every address now, so that errors (address in use, permission) surface before
    /// anything runs and the real ports are known.
    ///
    /// # Errors
    ///
    /// Any error from creating or binding a socket; an error if no address was given.
    pub fn bind(self) -> io::Result<Server> {
        if self.addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no listen address",
            ));
        }
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let sockets_per_addr = match self.model {
            WorkerModel::PerCore => workers,
            WorkerModel::WorkStealing => 1,
        };
        let mut listeners = Vec::with_capacity(self.addrs.len());
        for (addr, listen) in &self.addrs {
            let scheme = match listen {
                Listen::Http => Scheme::Http,
                #[cfg(feature = "tls")]
                Listen::Https(tls) => {
                    Scheme::Https(Arc::new(tls::Acceptor::new(tls, &self.config)?))
                }
                Listen::RedirectToHttps(port) => Scheme::RedirectToHttps(*port),
            };
            let options = listener::Options {
                count: sockets_per_addr,
                backlog: self.backlog,
                v6_only: self.v6_only,
                send_buffer_size: self.config.send_buffer_size,
            };
            listeners.push((listener::bind_group(*addr, &options)?, scheme));
        }
        let max_connections = self.max_connections.unwrap_or_else(default_max_connections);
        let (tx, rx) = watch::channel(false);
        Ok(Server {
            listeners,
            workers,
            model: self.model,
            config: Arc::new(self.config),
            limit: Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS))),
            max_connections,
            shutdown_timeout: self.shutdown_timeout,
            lifecycle: Lifecycle::new(false),
            shutdown_tx: Arc::new(tx),
            shutdown_rx: rx,
        })
    }
}

/// Raises the soft open-file limit to the hard limit and derives the connection cap from it.
fn default_max_connections() -> usize {
    const RESERVE: u64 = 64;
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    usize::try_from(nofile.saturating_sub(RESERVE).max(16)).unwrap_or(usize::MAX)
}

/// A bound HTTP server. [`Server::run`] serves a service until shut down.
#[derive(Debug)]
pub struct Server {
    /// One group per address; each group has one socket per worker (per-core) or one.
    listeners: Vec<(Vec<std::net::TcpListener>, Scheme)>,
    workers: usize,
    model: WorkerModel,
    config: Arc<Config>,
    limit: Arc<Semaphore>,
    max_connections: usize,
    shutdown_timeout: Duration,
    lifecycle: Arc<Lifecycle>,
    shutdown_tx: Arc<watch::Sender<bool>>,
    shutdown_rx: watch::Receiver<bool>,
}

/// Stops a running [`Server`] gracefully, from another thread or task.
///
/// # Examples
///
/// ```no_run
/// use std::convert::Infallible;
/// use nucleus_http::{Body, Server};
///
/// let server = Server::builder().listen("127.0.0.1:0".parse().unwrap()).bind()?;
/// let handle = server.shutdown_handle();
/// std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_secs(5));
///     handle.shutdown(); // `run` returns once in-flight requests are done
/// });
/// let hello = tower::service_fn(|_req: http::Request<Body>| async {
///     Ok::<_, Infallible>(http::Response::new(Body::from("hi")))
/// });
/// server.run(hello)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    tx: Arc<watch::Sender<bool>>,
    lifecycle: Arc<Lifecycle>,
}

impl ShutdownHandle {
    /// Starts a graceful shutdown: stop accepting at once, report not ready, close idle
    /// keep-alive connections, let in-flight requests finish (their responses carry
    /// `Connection: close`), and force-close whatever is left after the shutdown timeout.
    /// [`Server::run`] returns when that is done. Calling it again has no further effect.
    pub fn shutdown(&self) {
        self.lifecycle.start_draining();
        self.tx.send_replace(true);
    }

    /// Whether a shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.lifecycle.is_draining()
    }
}

/// What a worker saw while draining, for the shutdown log.
#[derive(Debug, Default, Clone, Copy)]
struct DrainReport {
    waited_for: usize,
    forced: usize,
}

impl Server {
    /// A builder with no addresses, default workers and [`Config::default`].
    pub fn builder() -> Builder {
        Builder {
            addrs: Vec::new(),
            workers: None,
            model: WorkerModel::default(),
            config: Config::default(),
            backlog: 1024,
            max_connections: None,
            shutdown_timeout: Duration::from_secs(30),
            v6_only: false,
        }
    }

    /// The addresses actually bound (real ports when port 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(group, _)| group.first().and_then(|l| l.local_addr().ok()))
            .collect()
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The connection cap in force.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// A handle that shuts the server down gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            tx: self.shutdown_tx.clone(),
            lifecycle: self.lifecycle.clone(),
        }
    }

    /// Serves `service` on every listener until shut down; blocks the calling thread.
    /// Readiness (`/ready`) turns true once every worker is accepting.
    ///
    ///
    /// With one per-core worker the calling thread is that worker, and the worker keeps its own
    /// timeouts and `Date` clock on Linux: the process then has one thread while it serves,
    /// which Linux rewards with cheaper system calls (`docs/ARCHITECTURE.md`).
    ///
    /// # Errors
    ///
    /// An error building a runtime or registering a listener with it.
    pub fn run<S: HttpService>(self, service: S) -> io::Result<()> {
        self.serve(service, None::<std::future::Pending<()>>)
    }

    /// As [`Server::run`], with `background` running beside the workers until the server
    /// stops, for work such as watching for signals: on the worker when there is one (so that
    /// it needs no thread of its own), on a thread of its own otherwise. It is dropped, if
    /// still pending, once the server has drained.
    ///
    /// ```no_run
    /// use nucleus_http::{Body, Server};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let server = Server::builder().listen("127.0.0.1:8080".parse().unwrap()).workers(1).bind()?;
    /// let handle = server.shutdown_handle();
    /// let stop_on_ctrl_c = async move {
    ///     if tokio::signal::ctrl_c().await.is_ok() {
    ///         handle.shutdown();
    ///     }
    /// };
    /// server.run_with(
    ///     tower::service_fn(|_req: http::Request<Body>| async {
    ///         Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("hi")))
    ///     }),
    ///     stop_on_ctrl_c,
    /// )
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Server::run`], and an error starting `background`'s thread.
    pub fn run_with<S, B>(self, service: S, background: B) -> io::Result<()>
    where
        S: HttpService,
        B: Future<Output = ()> + Send + 'static,
    {
        self.serve(service, Some(background))
    }

    fn serve<S, B>(self, service: S, background: Option<B>) -> io::Result<()>
    where
        S: HttpService,
        B: Future<Output = ()> + Send + 'static,
    {
        if self.config.observer.is_some() {
            // Calibrates the request clock now rather than in the first request.
            crate::observe::clock::start();
        }
        let watches = Watches::of(self.listeners.iter().map(|(_, scheme)| scheme));
        match self.model {
            WorkerModel::PerCore => self.run_per_core(service, background, watches),
            WorkerModel::WorkStealing => {
                watches.look_from_thread();
                self.run_work_stealing(service, background)
            }
        }
    }

    fn worker(
        &self,
        sockets: Vec<(std::net::TcpListener, Scheme)>,
        starting: Arc<AtomicUsize>,
        own_housekeeping: bool,
    ) -> accept::Worker {
        accept::Worker {
            sockets,
            config: self.config.clone(),
            limit: self.limit.clone(),
            lifecycle: self.lifecycle.clone(),
            shutdown: self.shutdown_rx.clone(),
            shutdown_timeout: self.shutdown_timeout,
            starting,
            own_housekeeping,
            watches: Watches::default(),
        }
    }

    fn run_per_core<S, B>(
        mut self,
        service: S,
        background: Option<B>,
        watches: Watches,
    ) -> io::Result<()>
    where
        S: HttpService,
        B: Future<Output = ()> + Send + 'static,
    {
        // Transpose: worker i gets socket i of every address group.
        let mut per_worker: Vec<Vec<(std::net::TcpListener, Scheme)>> =
            (0..self.workers).map(|_| Vec::new()).collect();
        // Moved, not cloned: when the workers stop accepting, the sockets close and the
        // kernel refuses new connections instead of queueing them for nobody.
        for (group, scheme) in std::mem::take(&mut self.listeners) {
            for (i, socket) in group.into_iter().enumerate() {
                if let Some(slot) = per_worker.get_mut(i) {
                    slot.push((socket, scheme.clone()));
                }
            }
        }
        let starting = Arc::new(AtomicUsize::new(self.workers));
        if let ([sockets], false) = (per_worker.as_mut_slice(), in_runtime()) {
            let mut worker = self.worker(std::mem::take(sockets), starting, true);
            worker.watches = watches;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let report = rt.block_on(async move {
                let _background = background.map(|b| AbortOnDropHandle::new(tokio::spawn(b)));
                worker.serve(service).await
            })?;
            log_drain(report, self.shutdown_timeout);
            return Ok(());
        }
        watches.look_from_thread();
        let _background = background.map(spawn_background).transpose()?;
        let mut threads = Vec::with_capacity(self.workers);
        for (i, sockets) in per_worker.into_iter().enumerate() {
            let service = service.clone();
            let worker = self.worker(sockets, starting.clone(), false);
            let thread = std::thread::Builder::new()
                .name(format!("nucleus-worker-{i}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(worker.serve(service))
                })?;
            threads.push(thread);
        }
        let report = join_all(threads)?;
        log_drain(report, self.shutdown_timeout);
        Ok(())
    }

    fn run_work_stealing<S, B>(mut self, service: S, background: Option<B>) -> io::Result<()>
    where
        S: HttpService,
        B: Future<Output = ()> + Send + 'static,
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.workers)
            .thread_name("nucleus-worker")
            .enable_all()
            .build()?;
        let sockets = std::mem::take(&mut self.listeners)
            .into_iter()
            .flat_map(|(group, scheme)| group.into_iter().map(move |s| (s, scheme.clone())))
            .collect();
        let worker = self.worker(sockets, Arc::new(AtomicUsize::new(1)), false);
        let report = rt.block_on(async move {
            let _background = background.map(|b| AbortOnDropHandle::new(tokio::spawn(b)));
            worker.serve(service).await
        })?;
        log_drain(report, self.shutdown_timeout);
        Ok(())
    }
}

fn log_drain(report: DrainReport, timeout: Duration) {
    if report.forced > 0 {
        tracing::warn!(
            waited_for = report.waited_for,
            forced = report.forced,
            timeout_s = timeout.as_secs_f64(),
            "shutdown deadline passed; closed the remaining connections"
        );
    } else {
        tracing::info!(
            waited_for = report.waited_for,
            "shutdown complete; all connections drained"
        );
    }
}

/// Whether the calling thread is inside a tokio runtime, where it cannot start one of its own.
fn in_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// Runs `background` on a thread of its own until it ends or the returned guard drops.
fn spawn_background<B>(background: B) -> io::Result<tokio::sync::oneshot::Sender<()>>
where
    B: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (guard, dropped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("nucleus-background".into())
        .spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    () = background => {}
                    _ = dropped => {}
                }
            });
        })?;
    Ok(guard)
}

fn join_all(
    threads: Vec<std::thread::JoinHandle<io::Result<DrainReport>>>,
) -> io::Result<DrainReport> {
    let mut result = Ok(DrainReport::default());
    for thread in threads {
        match thread.join() {
            Ok(Ok(report)) => {
                if let Ok(total) = &mut result {
                    total.waited_for += report.waited_for;
                    total.forced += report.forced;
                }
            }
            Ok(Err(err)) => result = Err(err),
            Err(_) => result = Err(io::Error::other("a worker thread panicked")),
        }
    }
    result
}

/// Marks the server ready once the last worker has its listeners registered.
fn worker_started(starting: &AtomicUsize, lifecycle: &Lifecycle) {
    if starting.fetch_sub(1, Ordering::AcqRel) == 1 {
        lifecycle.set_ready();
    }
}
