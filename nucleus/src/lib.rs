//! # Nucleus: the web framework
//!
//! Routes, async handlers and responses on top of the `nucleus-http` engine. A [`Router`] is
//! a `tower::Service`, so the engine serves it directly, tower middleware wraps it, and any
//! tower service mounts inside it.
//!
//! ```no_run
//! use nucleus::{Request, Router};
//!
//! async fn hello(_req: Request) -> &'static str {
//!     "Hello, World!"
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     let app = Router::new().get("/", hello);
//!     nucleus::Server::builder().listen("127.0.0.1:8000".parse().unwrap()).bind()?.run(app)
//! }
//! ```
//!
//! A request travels:
//!
//! ```text
//!  engine (nucleus-http) ─▶ [your tower layers] ─▶ Router ─▶ path match (matchit)
//!      ─▶ method match (405 / HEAD / OPTIONS) ─▶ handler(Request) ─▶ IntoResponse ─▶ engine
//! ```
//!
//! The examples below drive the router with `tower::ServiceExt::oneshot`, the way tests do,
//! without a socket.
//!
//! ## Routing and path parameters
//!
//! Register a handler per method and path. `{name}` captures one segment, `{*name}` the rest
//! of the path; [`Request::param`] reads them, percent-decoded. Unknown paths get `404`, a
//! known path with another method `405` with `Allow`; `HEAD` runs the `GET` handler and
//! `OPTIONS` is answered for you. See [`routing`] for the matching rules.
//!
//! ```
//! use nucleus::{Body, Request, Router};
//! use tower::ServiceExt;
//!
//! async fn user(req: Request) -> String {
//!     format!("user {}", req.param("id").unwrap_or_default())
//! }
//!
//! async fn asset(req: Request) -> String {
//!     format!("asset {}", req.param("path").unwrap_or_default())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new().get("/users/{id}", user).get("/static/{*path}", asset);
//!
//! let res = app.clone().oneshot(http::Request::get("/users/42").body(Body::empty()).unwrap());
//! let body = http_body_util::BodyExt::collect(res.await.unwrap().into_body()).await.unwrap();
//! assert_eq!(body.to_bytes(), "user 42");
//!
//! let res = app.oneshot(http::Request::post("/users/42").body(Body::empty()).unwrap());
//! assert_eq!(res.await.unwrap().status(), 405);
//! # }
//! ```
//!
//! ## Handlers and responses
//!
//! A handler is an `async fn` taking a [`Request`] and returning anything that implements
//! [`IntoResponse`]: text, bytes, [`Json`], a [`StatusCode`], tuples that set the status and
//! headers, a full [`Response`], or a `Result` of those. See [`response`] for the table.
//!
//! Blocking or CPU-heavy work goes in [`blocking`], which runs a synchronous function on
//! tokio's blocking pool so that workers keep serving:
//!
//! ```
//! use nucleus::{blocking, Request, Router};
//!
//! fn hash(req: Request) -> String {
//!     let mut h: u64 = 0xcbf29ce484222325;
//!     for b in req.path().bytes() {
//!         h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
//!     }
//!     format!("{h:x}")
//! }
//!
//! let app = Router::new().get("/hash/{*input}", blocking(hash));
//! # let _: Router = app;
//! ```
//!
//! ## Query strings and JSON
//!
//! [`Request::query`] deserializes the query string; [`Request::json`], [`Request::text`] and
//! [`Request::bytes`] collect the body up to a limit (2 MiB unless
//! [`Router::body_limit`] says otherwise). Failures are [rejections](rejection): typed errors
//! that become `400`, `413`, `415` or `422` responses, so handlers just use `?`.
//!
//! ```
//! use nucleus::rejection::Rejection;
//! use nucleus::response::Json;
//! use nucleus::{Body, Request, Router};
//! use serde::{Deserialize, Serialize};
//! use tower::ServiceExt;
//!
//! #[derive(Deserialize)]
//! struct Options {
//!     #[serde(default)]
//!     shout: bool,
//! }
//!
//! #[derive(Deserialize, Serialize)]
//! struct Greeting {
//!     name: String,
//! }
//!
//! async fn greet(mut req: Request) -> Result<Json<Greeting>, Rejection> {
//!     let options: Options = req.query()?;
//!     let mut greeting: Greeting = req.json().await?;
//!     if options.shout {
//!         greeting.name = greeting.name.to_uppercase();
//!     }
//!     Ok(Json(greeting))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new().post("/greet", greet);
//!
//! let req = http::Request::post("/greet?shout=true")
//!     .header("content-type", "application/json")
//!     .body(Body::from(r#"{"name":"ferris"}"#))
//!     .unwrap();
//! let res = app.clone().oneshot(req).await.unwrap();
//! let body = http_body_util::BodyExt::collect(res.into_body()).await.unwrap();
//! assert_eq!(body.to_bytes(), r#"{"name":"FERRIS"}"#);
//!
//! let req = http::Request::post("/greet").body(Body::from("{oops")).unwrap();
//! assert_eq!(app.oneshot(req).await.unwrap().status(), 400);
//! # }
//! ```
//!
//! ## Shared state
//!
//! [`Router::state`] shares a value with every handler; [`Request::state`] gets it back by
//! type. Lookups take no lock; put interior mutability where you need it.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! use nucleus::rejection::MissingState;
//! use nucleus::{Body, Request, Router};
//! use tower::ServiceExt;
//!
//! #[derive(Default)]
//! struct Visits(AtomicU64);
//!
//! async fn visit(req: Request) -> Result<String, MissingState> {
//!     let visits = req.state::<Visits>()?;
//!     Ok((visits.0.fetch_add(1, Ordering::Relaxed) + 1).to_string())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new().get("/", visit).state(Visits::default());
//! for expected in ["1", "2"] {
//!     let res = app.clone().oneshot(http::Request::get("/").body(Body::empty()).unwrap());
//!     let body = http_body_util::BodyExt::collect(res.await.unwrap().into_body()).await.unwrap();
//!     assert_eq!(body.to_bytes(), expected);
//! }
//! # }
//! ```
//!
//! ## Nesting and fallbacks
//!
//! [`Router::nest`] mounts a router under a prefix; [`Router::fallback`] answers paths no
//! route matches (a nested router's fallback answers the paths under its prefix).
//! [`Router::route_service`] and [`Router::nest_service`] mount any `tower::Service`.
//!
//! ```
//! use nucleus::{Body, Request, Router, StatusCode};
//! use tower::ServiceExt;
//!
//! async fn list(_req: Request) -> &'static str {
//!     "[]"
//! }
//!
//! async fn api_not_found(_req: Request) -> (StatusCode, &'static str) {
//!     (StatusCode::NOT_FOUND, "no such endpoint")
//! }
//!
//! async fn page_not_found(_req: Request) -> (StatusCode, &'static str) {
//!     (StatusCode::NOT_FOUND, "no such page")
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let api = Router::new().get("/items", list).fallback(api_not_found);
//! let app = Router::new().nest("/api", api).fallback(page_not_found);
//!
//! for (path, expected) in [("/api/items", "[]"), ("/api/nope", "no such endpoint"), ("/nope", "no such page")] {
//!     let res = app.clone().oneshot(http::Request::get(path).body(Body::empty()).unwrap());
//!     let body = http_body_util::BodyExt::collect(res.await.unwrap().into_body()).await.unwrap();
//!     assert_eq!(body.to_bytes(), expected);
//! }
//! # }
//! ```
//!
//! ## Tower middleware
//!
//! [`Router::layer`] wraps the router in any `tower::Layer` (from `tower`, `tower-http`, or
//! your own); the result is still a service the server can run.
//!
//! ```
//! use nucleus::response::Response;
//! use nucleus::{Body, Request, Router};
//! use tower::util::MapResponseLayer;
//! use tower::ServiceExt;
//!
//! async fn hello(_req: Request) -> &'static str {
//!     "Hello"
//! }
//!
//! fn stamp(mut res: Response) -> Response {
//!     res.headers_mut().insert("x-served-by", nucleus::header::HeaderValue::from_static("nucleus"));
//!     res
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new().get("/", hello).layer(MapResponseLayer::new(stamp));
//! let res = app.oneshot(http::Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.headers()["x-served-by"], "nucleus");
//! # }
//! ```
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

pub mod access_log;
mod handler;
pub mod metrics;
pub mod rejection;
mod request;
pub mod response;
pub mod routing;
mod state;

pub use handler::{blocking, timeout, Blocking, Handler, Timeout};
pub use request::{Request, DEFAULT_BODY_LIMIT};
pub use response::{IntoResponse, Json, Response};
pub use routing::Router;

pub use http::{header, HeaderMap, Method, StatusCode};
pub use nucleus_http::{
    upgrade, Body, Config, Http2Config, Http2Engine, Server, TlsConfig, WorkerModel,
};
