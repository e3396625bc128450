//! Per-route handler deadlines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use nucleus::{timeout, Body, Request, Router, StatusCode};
use tower::ServiceExt;

async fn sleepy(_req: Request) -> &'static str {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "done"
}

async fn quick(_req: Request) -> &'static str {
    "quick"
}

fn get(path: &str) -> http::Request<Body> {
    http::Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_route_over_its_deadline_gets_503_and_its_handler_is_dropped() {
    let app = Router::new()
        .get("/slow", timeout(Duration::from_millis(50), sleepy))
        .get("/quick", timeout(Duration::from_millis(50), quick));
    let started = Instant::now();
    let res = app.clone().oneshot(get("/slow")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(1));
    let res = app.oneshot(get("/quick")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
