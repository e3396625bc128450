//! `nucleus`: parse flags, build the server, run it; `main` owns the exit code.
#![forbid(unsafe_code)]

mod args;
mod demo;

use std::process::ExitCode;

use clap::Parser;
use nucleus::{Config, Server, WorkerModel};

use crate::args::{Args, Model};

/// mimalloc's per-thread free lists suit a server's allocate-and-free-per-request pattern:
/// measured with callgrind (docs/PERFORMANCE.md) it removes a large share of the remaining
/// per-request instructions compared with glibc's malloc. The library crates leave the choice
/// of allocator to the application.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("nucleus: {err}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> std::io::Result<()> {
    let mut config = Config::default();
    if let Some(limit) = args.max_body_size {
        config.max_body_size = limit;
    }
    let mut builder = Server::builder()
        .config(config)
        .worker_model(match args.worker_model {
            Model::PerCore => WorkerModel::PerCore,
            Model::WorkStealing => WorkerModel::WorkStealing,
        });
    if let Some(workers) = args.workers {
        builder = builder.workers(usize::from(workers));
    }
    for addr in &args.listen {
        builder = builder.listen(*addr);
    }
    let server = builder.bind().map_err(|err| {
        std::io::Error::new(
            err.kind(),
            format!("cannot listen on {:?}: {err}", args.listen),
        )
    })?;
    for addr in server.local_addrs() {
        println!("nucleus listening on http://{addr}");
    }
    tracing::info!(workers = server.workers(), "serving the demo app");
    stop_on_signal(server.shutdown_handle())?;
    server.run(demo::app())
}

/// SIGINT/SIGTERM stop the server (graceful draining is the lifecycle layer's job).
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
                        return;
                    };
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                #[cfg(not(unix))]
                let _ = tokio::signal::ctrl_c().await;
                tracing::info!("signal received, stopping");
                handle.shutdown();
            });
        })?;
    Ok(())
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
