//! `nucleus`: parse flags, build the server, run it; `main` owns the exit code.
// Denied, not forbidden: `alloc.rs` holds the binary's one audited `unsafe` block.
#![deny(unsafe_code)]

mod alloc;
mod args;
mod config;
mod demo;
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
    alloc::purge_freed_memory_at_once();
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
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("nucleus: {err}");
            ExitCode::from(1)
        }
    }
}

fn run(config: &Config) -> std::io::Result<()> {
    let server = config.builder().bind().map_err(|err| {
        let addrs: Vec<String> = config.listen.iter().map(ToString::to_string).collect();
        std::io::Error::new(
            err.kind(),
            format!("cannot listen on {}: {err}", addrs.join(", ")),
        )
    })?;
    for addr in server.local_addrs() {
        println!("nucleus listening on http://{addr}");
    }
    tracing::info!(
        workers = server.workers(),
        max_connections = server.max_connections(),
        "serving the demo app"
    );
    stop_on_signal(server.shutdown_handle())?;
    server.run(demo::app())?;
    tracing::info!("stopped");
    Ok(())
}

/// The first SIGTERM or SIGINT starts a graceful drain; a second one exits at once, for an
/// operator who will not wait for the drain.
fn stop_on_signal(handle: nucleus_http::ShutdownHandle) -> std::io::Result<()> {
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
                    let (Ok(mut term), Ok(mut int)) = (
                        signal(SignalKind::terminate()),
                        signal(SignalKind::interrupt()),
                    ) else {
                        tracing::error!("cannot listen for signals; stop with SIGKILL");
                        return;
                    };
                    let first = next_signal(&mut term, &mut int).await;
                    tracing::info!("{first} received, draining; send another signal to exit now");
                    handle.shutdown();
                    let second = next_signal(&mut term, &mut int).await;
                    tracing::warn!("{second} received while draining, exiting now");
                }
                #[cfg(not(unix))]
                {
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

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NUCLEUS_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
