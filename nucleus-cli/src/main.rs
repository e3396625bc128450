//! `nucleus`: parse flags, build the server, run it; `main` owns the exit code.
// Denied, not forbidden: `alloc.rs` holds the binary's audited `unsafe` code (the allocator
// and its tuning).
#![deny(unsafe_code)]

mod alloc;
mod args;
mod config;
mod demo;
mod listen;
mod log_writer;
mod observe;
mod tls;
mod units;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Args;
use crate::config::Config;

/// mimalloc's per-thread free lists suit a server's allocate-and-free-per-request pattern:
/// measured with callgrind (docs/PERFORMANCE.md) it removes a large share of the remaining
/// per-request instructions compared with glibc's malloc. The library crates leave the choice
/// of allocator to the application; `alloc::Mimalloc` says why it is not the `mimalloc`
/// crate's own `GlobalAlloc`.
#[global_allocator]
static GLOBAL: alloc::Mimalloc = alloc::Mimalloc;

/// Exit codes: 0 after a clean run (including a graceful drain) or `--print-config`; 2 for a
/// usage or configuration error, reported before anything binds; 1 for a runtime error.
fn main() -> ExitCode {
    alloc::purge_freed_memory_soon();
    // clap prints its own usage errors and exits with 2.
    let args = Args::parse();
    let config = match Config::load(&args, |name| std::env::var_os(name)) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("nucleus: {err}");
            return ExitCode::from(2);
        }
    };
    if args.print_config {
        return match config.to_toml() {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("nucleus: {err}");
                ExitCode::from(2)
            }
        };
    }
    let (_flush_logs, log_drops) =
        observe::init_logging(&config, args.log_level.as_deref(), |name| {
            std::env::var(name).ok()
        });
    // After logging: an expired certificate is a warning in the log, not an error.
    let tls = match tls::load(&config) {
        Ok(tls) => tls,
        Err(err) => {
            eprintln!("nucleus: {err}");
            return ExitCode::from(2);
        }
    };
    match run(&config, tls, log_drops) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("nucleus: {err}");
            ExitCode::from(1)
        }
    }
}

fn run(
    config: &Config,
    tls: Option<nucleus_http::TlsConfig>,
    log_drops: log_writer::LogWriter,
) -> std::io::Result<()> {
    let observers = observe::Observers::start(config, Some(log_drops))?;
    let mut engine = config.engine();
    engine.observer = observers.observer();
    let server = config
        .builder(tls.as_ref())
        .config(engine)
        .bind()
        .map_err(|err| {
            let addrs: Vec<String> = config.listen.iter().map(ToString::to_string).collect();
            std::io::Error::new(
                err.kind(),
                format!("cannot listen on {}: {err}", addrs.join(", ")),
            )
        })?;
    // `local_addrs` follows the order of `listen`, then `redirect_listen`.
    let schemes = config
        .listen
        .iter()
        .map(|l| {
            if l.is_tls(tls.is_some()) {
                "https"
            } else {
                "http"
            }
        })
        .chain(config.redirect_listen.iter().map(|_| "http"));
    let banner: Vec<String> = server
        .local_addrs()
        .into_iter()
        .zip(schemes)
        .map(|(addr, scheme)| format!("nucleus listening on {scheme}://{addr}"))
        .collect();
    let mut app = demo::app();
    let mut handles = vec![server.shutdown_handle()];
    let mut metrics_thread = None;
    if let (Some(metrics), Some(path)) = (&observers.metrics, config.metrics_path()) {
        match config.metrics_listen.0 {
            None => app = app.get(path, metrics.handler()),
            Some(addr) => {
                let (handle, thread) = serve_metrics(addr, path, metrics)?;
                handles.push(handle);
                metrics_thread = Some(thread);
            }
        }
    }
    let on_signal = stop_on_signal(handles, observers.access_log.clone(), tls)?;
    // Only now: whoever waits for this line may signal the server right after it, and the
    // handlers are in place (a SIGTERM before them would kill the process outright).
    for line in banner {
        println!("{line}");
    }
    tracing::info!(
        workers = server.workers(),
        max_connections = server.max_connections(),
        "serving the demo app"
    );
    let served = server.run_with(app, on_signal);
    if let Some(thread) = metrics_thread {
        let _ = thread.join();
    }
    observers.flush();
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Serves the metrics endpoint on its own listener (one worker, not observed, so scrapes do
/// not count as traffic), until the main server stops.
fn serve_metrics(
    addr: std::net::SocketAddr,
    path: &str,
    metrics: &std::sync::Arc<nucleus::metrics::Metrics>,
) -> std::io::Result<(
    nucleus_http::ShutdownHandle,
    std::thread::JoinHandle<std::io::Result<()>>,
)> {
    let server = nucleus_http::Server::builder()
        .listen(addr)
        .workers(1)
        .max_connections(64)
        .bind()
        .map_err(|err| {
            std::io::Error::new(
                err.kind(),
                format!("cannot listen on {addr} for metrics: {err}"),
            )
        })?;
    for addr in server.local_addrs() {
        println!("nucleus metrics on http://{addr}{path}");
    }
    let handle = server.shutdown_handle();
    let app = nucleus::Router::new().get(path, metrics.handler());
    let thread = std::thread::Builder::new()
        .name("nucleus-metrics".into())
        .spawn(move || server.run(app))?;
    Ok((handle, thread))
}

/// The first SIGTERM or SIGINT starts a graceful drain; a second one exits at once, for an
/// operator who will not wait for the drain.
///
/// SIGUSR1 reopens the access log file, for logrotate; SIGHUP reloads the TLS certificates.
///
/// The handlers are installed before this returns; the future it returns acts on the signals,
/// beside the server (`Server::run_with`: on the worker when there is one).
fn stop_on_signal(
    handles: Vec<nucleus_http::ShutdownHandle>,
    access_log: Option<std::sync::Arc<nucleus::access_log::AccessLog>>,
    tls: Option<nucleus_http::TlsConfig>,
) -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    let shutdown = move || {
        handles
            .iter()
            .for_each(nucleus_http::ShutdownHandle::shutdown)
    };
    // Only to install the handlers: tokio's signal streams are not tied to the runtime that
    // made them, and any runtime's driver (the worker's) delivers to them.
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let _entered = runtime.enter();
        // Always handled: SIGUSR1's default action ends the process, and a logrotate hook
        // sends it whether or not this server has an access log.
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
            signal(SignalKind::user_defined1()),
        )
    };
    Ok(async move {
        #[cfg(unix)]
        {
            let (Ok(mut term), Ok(mut int), Ok(mut hup), Ok(mut usr1)) = signals else {
                tracing::error!("cannot listen for signals; stop with SIGKILL");
                return;
            };
            tokio::spawn(async move {
                while usr1.recv().await.is_some() {
                    match &access_log {
                        Some(log) => {
                            tracing::info!("SIGUSR1 received, reopening the access log");
                            log.reopen();
                        }
                        None => tracing::info!("SIGUSR1 received; no access log to reopen"),
                    }
                }
            });
            let tls = std::sync::Arc::new(tls);
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    // Reading and checking the files is file IO and signatures: off the worker.
                    let tls = tls.clone();
                    let _ =
                        tokio::task::spawn_blocking(move || reload(tls.as_ref().as_ref())).await;
                }
            });
            let first = next_signal(&mut term, &mut int).await;
            tracing::info!("{first} received, draining; send another signal to exit now");
            shutdown();
            let second = next_signal(&mut term, &mut int).await;
            tracing::warn!("{second} received while draining, exiting now");
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            let _ = (access_log, tls);
            tracing::info!("Ctrl-C received, draining; press it again to exit now");
            shutdown();
            let _ = tokio::signal::ctrl_c().await;
            tracing::warn!("Ctrl-C received while draining, exiting now");
        }
        // `exit` runs no destructors: write out what the log still queues first.
        observe::flush_logs();
        std::process::exit(1);
    })
}

/// SIGHUP: read the certificate files again; on an error the certificates in use stay.
#[cfg(unix)]
fn reload(tls: Option<&nucleus_http::TlsConfig>) {
    match tls.map(nucleus_http::TlsConfig::reload) {
        None => tracing::info!("SIGHUP received; no TLS certificates to reload"),
        Some(Ok(())) => {}
        Some(Err(err)) => {
            tracing::error!(error = %err, "TLS reload failed; keeping the certificates in use")
        }
    }
}

#[cfg(unix)]
async fn next_signal(
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) -> &'static str {
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
