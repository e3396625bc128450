//! The demo routes, as Nucleus's demo app serves them (see bench/README.md), and the signal
//! handling both hyper peers need. Shared by `hyper-server` and `hyper-h2-server`
//! (bench/h2-peer, a workspace of its own, which includes this file with `#[path]`).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

pub type Body = BoxBody<Bytes, hyper::Error>;

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

pub async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
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

/// Exit cleanly (status 0) on SIGINT/SIGTERM so valgrind/callgrind write their output.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
}
