//! Socket-free helpers: drive a service with `oneshot` and read the response.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::BodyExt;
use nucleus::{Body, Method, Response};
use tower::{Service, ServiceExt};

/// A request with `method`, `uri` and `body`.
pub fn request(method: Method, uri: &str, body: impl Into<Body>) -> http::Request<Body> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .body(body.into())
        .unwrap()
}

pub fn get(uri: &str) -> http::Request<Body> {
    request(Method::GET, uri, Body::empty())
}

/// Sends `req` through a clone of `app`.
pub async fn send<S>(app: &S, req: http::Request<Body>) -> Response
where
    S: Service<http::Request<Body>, Response = Response, Error = Infallible> + Clone,
{
    app.clone().oneshot(req).await.unwrap()
}

pub async fn body_bytes(res: Response) -> Bytes {
    res.into_body().collect().await.unwrap().to_bytes()
}

pub async fn body_text(res: Response) -> String {
    String::from_utf8(body_bytes(res).await.to_vec()).unwrap()
}

/// Status and body text of `req` sent to `app`.
pub async fn call<S>(app: &S, req: http::Request<Body>) -> (u16, String)
where
    S: Service<http::Request<Body>, Response = Response, Error = Infallible> + Clone,
{
    let res = send(app, req).await;
    (res.status().as_u16(), body_text(res).await)
}

pub fn header<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

/// A body arriving in `chunks`, with no size hint, as a chunked upload would.
pub fn chunked(chunks: &[&'static str]) -> Body {
    let chunks: Vec<Result<Bytes, Infallible>> = chunks
        .iter()
        .map(|c| Ok(Bytes::from_static(c.as_bytes())))
        .collect();
    Body::from_stream(futures_util::stream::iter(chunks))
}
