//! Peer server for the Nucleus benchmarks: hyper 1.x + hyper-util, HTTP/1.1 only.
//!
//! `hyper-server [--listen ADDR] [--workers N]` (defaults 127.0.0.1:8080, 1).
//! Routes are identical to Nucleus's demo app (see bench/README.md).

mod routes;

use std::net::SocketAddr;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use routes::{handle, shutdown_signal};

fn parse_args() -> (SocketAddr, usize) {
    let mut listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut workers = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().expect("--listen ADDR").parse().expect("bad ADDR"),
            "--workers" => workers = args.next().expect("--workers N").parse().expect("bad N"),
            other => {
                eprintln!("usage: hyper-server [--listen ADDR] [--workers N] (unknown arg {other})");
                std::process::exit(2);
            }
        }
    }
    (listen, workers.max(1))
}

async fn serve(listen: SocketAddr) {
    let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
    eprintln!("hyper-server listening on {listen}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}

fn main() {
    let (listen, workers) = parse_args();
    let rt = if workers == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    }
    .expect("runtime");
    rt.block_on(async {
        tokio::select! { _ = serve(listen) => {}, _ = shutdown_signal() => {} }
    });
    std::process::exit(0);
}
