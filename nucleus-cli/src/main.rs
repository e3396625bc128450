//! `nucleus`: parse flags, build the server, run it; `main` owns the exit code.
#![forbid(unsafe_code)]

mod args;
mod config;
mod demo;
mod listen;
mod tls;
mod units;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Args;
use crate::config::Config;

/// mimalloc's per-thread free lists suit a server's allocate-and-free-per-request pattern:
/// measured with callgrind (docs/PERFORMANCE.md) it removes a large share of the remaining
/// per-request instructions compared with glibc's malloc. The library crates leave the choice
/// of allocator to the application.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes: 0 after a clean run (including a graceful drain) or `--print-config`; 2 for a
/// usage or configuration error, reported before anything binds; 1 for a runtime error.
fn main() -> ExitCode {
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
    init_logging();
    // After logging: an expired certificate is a warning in the log, not an error.
    let tls = match tls::load(&config) {
        Ok(tls) => tls,
        Err(err) => {
            eprintln!("nucleus: {err}");
            return ExitCode::from(2);
        }
    };
    match run(&config, tls) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("nucleus: {err}");
            ExitCode::from(1)
        }
    }
}

fn run(config: &Config, tls: Option<nucleus_http::TlsConfig>) -> std::io::Result<()> {
    let server = config.builder(tls.as_ref()).bind().map_err(|err| {
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
    for (addr, scheme) in server.local_addrs().into_iter().zip(schemes) {
        println!("nucleus listening on {scheme}://{addr}");
    }
    tracing::info!(
        workers = server.workers(),
        max_connections = server.max_connections(),
        "serving the demo app"
    );
    stop_on_signal(server.shutdown_handle(), tls)?;
    server.run(demo::app())?;
    tracing::info!("stopped");
    Ok(())
}

/// The first SIGTERM or SIGINT starts a graceful drain; a second one exits at once, for an
/// operator who will not wait for the drain. SIGHUP reloads the TLS certificates.
fn stop_on_signal(
    handle: nucleus_http::ShutdownHandle,
    tls: Option<nucleus_http::TlsConfig>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("nucleus-signals".into())
        .spawn(move || {
            runtime.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{signal, SignalKind};
                    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
                        signal(SignalKind::terminate()),
                        signal(SignalKind::interrupt()),
                        signal(SignalKind::hangup()),
                    ) else {
                        tracing::error!("cannot listen for signals; stop with SIGKILL");
                        return;
                    };
                    let mut draining = false;
                    loop {
                        let name = tokio::select! {
                            _ = term.recv() => "SIGTERM",
                            _ = int.recv() => "SIGINT",
                            _ = hup.recv() => {
                                reload(tls.as_ref());
                                continue;
                            }
                        };
                        if draining {
                            tracing::warn!("{name} received while draining, exiting now");
                            break;
                        }
                        tracing::info!(
                            "{name} received, draining; send another signal to exit now"
                        );
                        handle.shutdown();
                        draining = true;
                    }
                }
                #[cfg(not(unix))]
                {
                    let _ = &tls;
                    if tokio::signal::ctrl_c().await.is_err() {
                        return;
                    }
                    tracing::info!("Ctrl-C received, draining; press it again to exit now");
                    handle.shutdown();
                    let _ = tokio::signal::ctrl_c().await;
                    tracing::warn!("Ctrl-C received while draining, exiting now");
                }
                std::process::exit(1);
            });
        })?;
    Ok(())
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

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NUCLEUS_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
