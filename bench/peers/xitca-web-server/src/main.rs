//! Peer server for the Nucleus benchmarks: xitca-web 0.8 (HTTP/1.1 only).
//!
//! `xitca-web-server [--listen ADDR] [--workers N]` (defaults 127.0.0.1:8080, 1).
//! Routes are identical to Nucleus's demo app (see bench/README.md).
//!
//! The server is put together the way `xitca_web::HttpServer::bind` does it (App ->
//! xitca-http's `HttpServiceBuilder` -> xitca-server), with two additions that
//! `HttpServer` has no setter for: xitca-http's `SocketConfig` middleware sets TCP_NODELAY on
//! every accepted connection (xitca leaves Nagle on), and a 1 s `shutdown_timeout`.
//! Each worker is a tokio current-thread runtime on its own thread. xitca-server handles
//! SIGINT/SIGTERM itself (graceful stop); `wait()` then returns and we exit 0.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use xitca_http::util::middleware::SocketConfig;
use xitca_http::HttpServiceBuilder;
use xitca_web::body::{ResponseBody, StreamDataBody};
use xitca_web::bytes::Bytes;
use xitca_web::handler::handler_service;
use xitca_web::handler::json::Json;
use xitca_web::http::header::CONTENT_TYPE;
use xitca_web::http::WebResponse;
use xitca_web::route::{get, post};
use xitca_web::service::ServiceExt;
use xitca_web::{App, WebContext};

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

fn query_u64(ctx: &WebContext<'_>, key: &str) -> u64 {
    ctx.req()
        .uri()
        .query()
        .and_then(|q| {
            q.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == key).then(|| v.parse().ok()).flatten()
            })
        })
        .unwrap_or(0)
}

// `&'static str` responds with `text/plain; charset=utf-8`.
async fn root() -> &'static str {
    "Hello, World!"
}

// serde_json::to_vec per request, `application/json`.
async fn json() -> Json<Message> {
    Json(Message {
        message: "Hello, World!",
    })
}

/// Streams the request body straight back (as hyper does), with the request's Content-Type.
async fn echo(ctx: &WebContext<'_>) -> WebResponse {
    let ctype = ctx.req().headers().get(CONTENT_TYPE).cloned();
    let body = std::mem::take(&mut *ctx.body_borrow_mut());
    let mut res = WebResponse::new(ResponseBody::boxed(body));
    if let Some(ct) = ctype {
        res.headers_mut().insert(CONTENT_TYPE, ct);
    }
    res
}

async fn slow(ctx: &WebContext<'_>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(query_u64(ctx, "ms"))).await;
    "done"
}

// Each worker's tokio runtime has its own blocking pool.
async fn blocking(ctx: &WebContext<'_>) -> &'static str {
    let ms = query_u64(ctx, "ms");
    tokio::task::spawn_blocking(move || std::thread::sleep(Duration::from_millis(ms)))
        .await
        .unwrap();
    "done"
}

async fn stream(ctx: &WebContext<'_>) -> WebResponse {
    let n = query_u64(ctx, "n");
    // Not `stream::iter`: http-body-alt's `StreamDataBody` turns a stream's exact *item*
    // count (iter's size_hint) into an exact body *byte* length, so n=3 would be sent as
    // `content-length: 3` and truncated. `unfold` has no size hint -> chunked encoding.
    let chunks = futures_util::stream::unfold(0, move |i| async move {
        (i < n).then(|| {
            (
                Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n"))),
                i + 1,
            )
        })
    });
    let mut res = WebResponse::new(ResponseBody::boxed(StreamDataBody::new(chunks)));
    res.headers_mut()
        .insert(CONTENT_TYPE, "text/plain; charset=utf-8".parse().unwrap());
    res
}

async fn health() -> &'static str {
    "ok"
}

fn parse_args() -> (SocketAddr, usize) {
    let mut listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut workers = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => {
                listen = args
                    .next()
                    .expect("--listen ADDR")
                    .parse()
                    .expect("bad ADDR")
            }
            "--workers" => workers = args.next().expect("--workers N").parse().expect("bad N"),
            other => {
                eprintln!(
                    "usage: xitca-web-server [--listen ADDR] [--workers N] (unknown arg {other})"
                );
                std::process::exit(2);
            }
        }
    }
    (listen, workers.max(1))
}

fn main() -> std::io::Result<()> {
    let (listen, workers) = parse_args();
    let service = App::new()
        .at("/", get(handler_service(root)))
        .at("/json", get(handler_service(json)))
        .at(
            "/echo",
            post(handler_service(echo)).put(handler_service(echo)),
        )
        .at("/slow", get(handler_service(slow)))
        .at("/blocking", get(handler_service(blocking)))
        .at("/stream", get(handler_service(stream)))
        .at("/health", get(handler_service(health)))
        .finish()
        .enclosed(HttpServiceBuilder::new())
        .enclosed(SocketConfig::new().set_nodelay(true));
    eprintln!("xitca-web-server listening on {listen}");
    xitca_server::Builder::new()
        .worker_threads(workers)
        .shutdown_timeout(1)
        .bind("xitca-web", listen, service)?
        .build()
        .wait()?;
    std::process::exit(0);
}
