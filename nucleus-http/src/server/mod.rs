//! Binding listeners and running workers.

mod accept;
mod listener;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

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
/// use nucleus_http::{Server, WorkerModel};
///
/// let server = Server::builder()
///     .listen("127.0.0.1:8000".parse().unwrap())
///     .listen("[::1]:8000".parse().unwrap())
///     .workers(4)
///     .worker_model(WorkerModel::PerCore)
///     .bind()?;
/// println!("listening on {:?}", server.local_addrs());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    addrs: Vec<SocketAddr>,
    workers: Option<usize>,
    model: WorkerModel,
    config: Config,
    backlog: u32,
}

impl Builder {
    /// Adds an address to listen on. Port 0 picks a free port (the same for every worker).
    pub fn listen(mut self, addr: SocketAddr) -> Builder {
        self.addrs.push(addr);
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

    /// HTTP/1.1 limits and tuning.
    pub fn config(mut self, config: Config) -> Builder {
        self.config = config;
        self
    }

    /// The listen backlog (default 1024).
    pub fn backlog(mut self, backlog: u32) -> Builder {
        self.backlog = backlog;
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
        let workers = self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        let sockets_per_addr = match self.model {
            WorkerModel::PerCore => workers,
            WorkerModel::WorkStealing => 1,
        };
        let mut listeners = Vec::with_capacity(self.addrs.len());
        for addr in &self.addrs {
            listeners.push(listener::bind_group(*addr, sockets_per_addr, self.backlog)?);
        }
        let (tx, rx) = watch::channel(false);
        Ok(Server {
            listeners,
            workers,
            model: self.model,
            config: Arc::new(self.config),
            shutdown_tx: Arc::new(tx),
            shutdown_rx: rx,
        })
    }
}

/// A bound HTTP server. [`Server::run`] serves a service until shut down.
#[derive(Debug)]
pub struct Server {
    /// One group per address; each group has one socket per worker (per-core) or one.
    listeners: Vec<Vec<std::net::TcpListener>>,
    workers: usize,
    model: WorkerModel,
    config: Arc<Config>,
    shutdown_tx: Arc<watch::Sender<bool>>,
    shutdown_rx: watch::Receiver<bool>,
}

/// Stops a running [`Server`] from another thread or task.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    tx: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    /// Stops accepting and makes [`Server::run`] return once the workers have stopped.
    /// Open connections are dropped; graceful draining is a lifecycle feature layered on top.
    pub fn shutdown(&self) {
        self.tx.send_replace(true);
    }
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
        }
    }

    /// The addresses actually bound (real ports when port 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|group| group.first().and_then(|l| l.local_addr().ok()))
            .collect()
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            tx: self.shutdown_tx.clone(),
        }
    }

    /// Serves `service` on every listener until shut down; blocks the calling thread.
    ///
    /// # Errors
    ///
    /// An error building a runtime or registering a listener with it.
    pub fn run<S: HttpService>(self, service: S) -> io::Result<()> {
        match self.model {
            WorkerModel::PerCore => self.run_per_core(service),
            WorkerModel::WorkStealing => self.run_work_stealing(service),
        }
    }

    fn run_per_core<S: HttpService>(self, service: S) -> io::Result<()> {
        // Transpose: worker i gets socket i of every address group.
        let mut per_worker: Vec<Vec<std::net::TcpListener>> =
            (0..self.workers).map(|_| Vec::new()).collect();
        for group in self.listeners {
            for (i, socket) in group.into_iter().enumerate() {
                if let Some(slot) = per_worker.get_mut(i) {
                    slot.push(socket);
                }
            }
        }
        let mut threads = Vec::with_capacity(self.workers);
        for (i, sockets) in per_worker.into_iter().enumerate() {
            let service = service.clone();
            let config = self.config.clone();
            let shutdown = self.shutdown_rx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("nucleus-worker-{i}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(accept::serve_listeners(sockets, service, config, shutdown))
                })?;
            threads.push(thread);
        }
        join_all(threads)
    }

    fn run_work_stealing<S: HttpService>(self, service: S) -> io::Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.workers)
            .thread_name("nucleus-worker")
            .enable_all()
            .build()?;
        let sockets = self.listeners.into_iter().flatten().collect();
        rt.block_on(accept::serve_listeners(
            sockets,
            service,
            self.config,
            self.shutdown_rx,
        ))
    }
}

fn join_all(threads: Vec<std::thread::JoinHandle<io::Result<()>>>) -> io::Result<()> {
    let mut result = Ok(());
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => result = Err(err),
            Err(_) => result = Err(io::Error::other("a worker thread panicked")),
        }
    }
    result
}
