//! Peer server for the Nucleus benchmarks: actix-web 4 (HTTP/1.1 only).
//!
//! `actix-server [--listen ADDR] [--workers N]` (defaults 127.0.0.1:8080, 1).
//! Routes are identical to Nucleus's demo app (see bench/README.md).
//! actix handles SIGINT/SIGTERM itself (graceful stop, bounded to 1 s here).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
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

const TEXT: &str = "text/plain; charset=utf-8";

async fn root() -> HttpResponse {
    HttpResponse::Ok().content_type(TEXT).body("Hello, World!")
}

async fn json() -> HttpResponse {
    HttpResponse::Ok().json(Message { message: "Hello, World!" })
}

/// actix-http closes the connection when a response starts before the request body has
/// been read to the end (`close_for_unread_payload` in its h1 dispatcher), so streaming
/// `web::Payload` straight back turns every echo into a new connection. Reading the
/// (bounded, 256 KiB default limit) body first keeps keep-alive, which is how actix apps echo.
async fn echo(req: HttpRequest, body: Bytes) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    if let Some(ct) = req.headers().get(CONTENT_TYPE) {
        res.insert_header((CONTENT_TYPE, ct.clone()));
    }
    res.body(body)
}

async fn slow(q: web::Query<MsQuery>) -> HttpResponse {
    actix_rt::time::sleep(Duration::from_millis(q.ms)).await;
    HttpResponse::Ok().content_type(TEXT).body("done")
}

async fn blocking(q: web::Query<MsQuery>) -> HttpResponse {
    let ms = q.ms;
    web::block(move || std::thread::sleep(Duration::from_millis(ms)))
        .await
        .unwrap();
    HttpResponse::Ok().content_type(TEXT).body("done")
}

async fn stream(q: web::Query<NQuery>) -> HttpResponse {
    let chunks = futures_util::stream::iter(
        (0..q.n).map(|i| Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n")))),
    );
    HttpResponse::Ok().content_type(TEXT).streaming(chunks)
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().content_type(TEXT).body("ok")
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
                eprintln!("usage: actix-server [--listen ADDR] [--workers N] (unknown arg {other})");
                std::process::exit(2);
            }
        }
    }
    (listen, workers.max(1))
}

fn main() -> std::io::Result<()> {
    let (listen, workers) = parse_args();
    eprintln!("actix-server listening on {listen}");
    actix_rt::System::new().block_on(
        HttpServer::new(|| {
            App::new()
                .route("/", web::get().to(root))
                .route("/json", web::get().to(json))
                .route("/echo", web::post().to(echo))
                .route("/echo", web::put().to(echo))
                .route("/slow", web::get().to(slow))
                .route("/blocking", web::get().to(blocking))
                .route("/stream", web::get().to(stream))
                .route("/health", web::get().to(health))
        })
        .workers(workers)
        .shutdown_timeout(1)
        .bind(listen)?
        .run(),
    )?;
    std::process::exit(0);
}
