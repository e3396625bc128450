//! The demo app: the routes every Nucleus build serves out of the box.
//!
//! These paths are a public contract (scripts and benchmarks use them): add, never rename.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use nucleus::{blocking, Json, Request, Router};
use serde::{Deserialize, Serialize};

/// Longest sleep `/slow` and `/blocking` accept, so a URL cannot park a task for a day.
const MAX_SLEEP_MS: u64 = 60_000;
/// Most chunks `/stream` sends.
const MAX_CHUNKS: u64 = 100_000;

/// Builds the demo router.
pub(crate) fn app() -> Router {
    Router::new()
        .get("/", hello)
        .get("/json", json)
        .post("/echo", echo)
        .put("/echo", echo)
        .get("/slow", slow)
        .get("/blocking", blocking(blocking_sleep))
        .get("/stream", stream)
        .get("/health", health)
}

async fn hello(_req: Request) -> &'static str {
    "Hello, World!"
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn json(_req: Request) -> Json<Message> {
    Json(Message {
        message: "Hello, World!",
    })
}

/// Streams the request body back as it arrives: memory stays bounded whatever the size.
async fn echo(req: Request) -> nucleus::Response {
    let content_type = req.headers().get(http::header::CONTENT_TYPE).cloned();
    let mut response = nucleus::Response::new(req.into_body());
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, content_type);
    }
    response
}

#[derive(Deserialize)]
struct Sleep {
    #[serde(default)]
    ms: u64,
}

fn sleep_duration(req: &Request) -> Duration {
    let ms = req.query::<Sleep>().map_or(0, |q| q.ms);
    Duration::from_millis(ms.min(MAX_SLEEP_MS))
}

async fn slow(req: Request) -> &'static str {
    tokio::time::sleep(sleep_duration(&req)).await;
    "done"
}

fn blocking_sleep(req: Request) -> &'static str {
    std::thread::sleep(sleep_duration(&req));
    "done"
}

#[derive(Deserialize)]
struct Chunks {
    #[serde(default = "default_chunks")]
    n: u64,
}

fn default_chunks() -> u64 {
    10
}

async fn stream(req: Request) -> nucleus::Response {
    let n = req
        .query::<Chunks>()
        .map_or(default_chunks(), |q| q.n)
        .min(MAX_CHUNKS);
    let chunks = futures_util::stream::iter(0..n)
        .map(|i| Ok::<_, std::convert::Infallible>(Bytes::from(format!("chunk {i}\n"))));
    let mut response = nucleus::Response::new(nucleus::Body::from_stream(chunks));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn health(_req: Request) -> &'static str {
    "ok"
}
