//! Peer server for the Nucleus benchmarks: axum 0.8 (HTTP/1.1 only).
//!
//! `axum-server [--listen ADDR] [--workers N]` (defaults 127.0.0.1:8080, 1).
//! Routes are identical to Nucleus's demo app (see bench/README.md).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Query;
use axum::http::{header::CONTENT_TYPE, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Deserialize)]
struct MsQuery {
    #[serde(default)]
    ms: u64,
}

#[derive(Deserialize)]
struct NQuery {
    #[serde(default)]
    n: u64,
}

async fn root() -> &'static str {
    "Hello, World!"
}

async fn json() -> Json<Message> {
    Json(Message { message: "Hello, World!" })
}

async fn echo(headers: HeaderMap, body: Body) -> Response {
    let mut res = Response::new(body);
    if let Some(ct) = headers.get(CONTENT_TYPE) {
        res.headers_mut().insert(CONTENT_TYPE, ct.clone());
    }
    res
}

async fn slow(Query(q): Query<MsQuery>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(q.ms)).await;
    "done"
}

async fn blocking(Query(q): Query<MsQuery>) -> &'static str {
    let ms = q.ms;
    tokio::task::spawn_blocking(move || std::thread::sleep(Duration::from_millis(ms)))
        .await
        .unwrap();
    "done"
}

async fn stream(Query(q): Query<NQuery>) -> Response {
    let chunks = futures_util::stream::iter(
        (0..q.n).map(|i| Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n")))),
    );
    (
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from_stream(chunks),
    )
        .into_response()
}

async fn health() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok")
}

fn parse_args() -> (SocketAddr, usize) {
    let mut listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut workers = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().expect("--listen ADDR").parse().expect("bad ADDR"),
            "--workers" => workers = args.next().expect("--workers N").parse().expect("bad N"),
            other => {
                eprintln!("usage: axum-server [--listen ADDR] [--workers N] (unknown arg {other})");
                std::process::exit(2);
            }
        }
    }
    (listen, workers.max(1))
}

/// Exit cleanly (status 0) on SIGINT/SIGTERM so valgrind/callgrind write their output.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
}

fn main() {
    let (listen, workers) = parse_args();
    let rt = if workers == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    }
    .expect("runtime");
    let app = Router::new()
        .route("/", get(root))
        .route("/json", get(json))
        .route("/echo", post(echo).put(echo))
        .route("/slow", get(slow))
        .route("/blocking", get(blocking))
        .route("/stream", get(stream))
        .route("/health", get(health));
    rt.block_on(async {
        // axum::serve leaves Nagle on; the other servers (and Nucleus) set TCP_NODELAY,
        // without which pipelined responses stall on delayed ACKs.
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .expect("bind")
            .tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
        eprintln!("axum-server listening on {listen}");
        tokio::select! {
            r = axum::serve(listener, app) => { r.expect("serve"); }
            _ = shutdown_signal() => {}
        }
    });
    std::process::exit(0);
}
