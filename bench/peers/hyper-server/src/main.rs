//! Peer server for the Nucleus benchmarks: hyper 1.x + hyper-util, HTTP/1.1 only.
//!
//! `hyper-server [--listen ADDR] [--workers N]` (defaults 127.0.0.1:8080, 1).
//! Routes are identical to Nucleus's demo app (see bench/README.md).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;

type Body = BoxBody<Bytes, hyper::Error>;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

fn full(status: StatusCode, ctype: &'static str, b: impl Into<Bytes>) -> Response<Body> {
    let mut res = Response::new(Full::new(b.into()).map_err(|e: Infallible| match e {}).boxed());
    *res.status_mut() = status;
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    res
}

fn query_u64(req: &Request<Incoming>, key: &str) -> u64 {
    req.uri()
        .query()
        .and_then(|q| {
            q.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == key).then(|| v.parse().ok()).flatten()
            })
        })
        .unwrap_or(0)
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let res = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => full(StatusCode::OK, TEXT, "Hello, World!"),
        (&Method::GET, "/json") => {
            let body = serde_json::to_vec(&Message { message: "Hello, World!" }).unwrap();
            full(StatusCode::OK, "application/json", body)
        }
        (&Method::POST | &Method::PUT, "/echo") => {
            let ctype = req.headers().get(CONTENT_TYPE).cloned();
            let mut res = Response::new(req.into_body().boxed());
            if let Some(ct) = ctype {
                res.headers_mut().insert(CONTENT_TYPE, ct);
            }
            res
        }
        (&Method::GET, "/slow") => {
            tokio::time::sleep(Duration::from_millis(query_u64(&req, "ms"))).await;
            full(StatusCode::OK, TEXT, "done")
        }
        (&Method::GET, "/blocking") => {
            let ms = query_u64(&req, "ms");
            tokio::task::spawn_blocking(move || std::thread::sleep(Duration::from_millis(ms)))
                .await
                .unwrap();
            full(StatusCode::OK, TEXT, "done")
        }
        (&Method::GET, "/stream") => {
            let n = query_u64(&req, "n");
            let chunks = futures_util::stream::iter(
                (0..n).map(|i| Ok::<_, hyper::Error>(Frame::data(Bytes::from(format!("chunk {i}\n"))))),
            );
            let mut res = Response::new(StreamBody::new(chunks).boxed());
            res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(TEXT));
            res
        }
        (&Method::GET, "/health") => full(StatusCode::OK, TEXT, "ok"),
        _ => full(StatusCode::NOT_FOUND, TEXT, "not found"),
    };
    Ok(res)
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
    rt.block_on(async {
        tokio::select! { _ = serve(listen) => {}, _ = shutdown_signal() => {} }
    });
    std::process::exit(0);
}
