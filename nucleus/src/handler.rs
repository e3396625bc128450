//! Handlers: what a route calls.
//!
//! A handler is an `async fn` (or closure returning a future) that takes one [`Request`] and
//! returns anything that implements [`IntoResponse`]:
//!
//! ```
//! use nucleus::{Request, Router, StatusCode};
//!
//! async fn hello(_req: Request) -> &'static str {
//!     "Hello, World!"
//! }
//!
//! async fn teapot(_req: Request) -> (StatusCode, String) {
//!     (StatusCode::IM_A_TEAPOT, "short and stout".to_owned())
//! }
//!
//! let greeting = std::sync::Arc::new(String::from("hi"));
//! let app = Router::new()
//!     .get("/", hello)
//!     .get("/tea", teapot)
//!     .get("/greet", move |_req: Request| {
//!         let greeting = greeting.clone();
//!         async move { greeting.to_string() }
//!     });
//! # let _: Router = app;
//! ```
//!
//! Handlers run on the server's worker threads, so they must not block. Wrap synchronous,
//! CPU-heavy or blocking-IO code in [`blocking`], which runs it on tokio's blocking pool.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::uri::{PathAndQuery, Uri};
use http::StatusCode;
use nucleus_http::{Body, BoxError};
use tower::ServiceExt;
use tower_service::Service;

use crate::response::{text, IntoResponse, Response};
use crate::routing::params::NEST_TAIL;
use crate::Request;

/// Something a route can call: implemented for every
/// `Fn(Request) -> impl Future<Output = impl IntoResponse>` that is `Send + Sync + 'static`
/// (with a `Send` future), and for [`Blocking`].
///
/// The trait is sealed: wrap your own types in a closure, or mount a `tower::Service` with
/// [`Router::route_service`](crate::Router::route_service).
pub trait Handler: sealed::Call {}

/// The response future every endpoint produces: the one allocation a routed request costs.
pub(crate) type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send + 'static>>;

/// A type-erased endpoint, shared by every worker.
pub(crate) type BoxedHandler = Arc<dyn sealed::Call>;

#[allow(unreachable_pub)] // Sealed: public in name only, so that `Handler` can be public.
mod sealed {
    use std::sync::Arc;

    use nucleus_http::Body;

    use super::ResponseFuture;
    use crate::routing::params::Params;
    use crate::state::States;
    use crate::Request;

    pub trait Call: Send + Sync + 'static {
        /// Takes the engine's request and what the router adds to it, rather than a built
        /// [`Request`], so that the `Request` is built where it is consumed: straight into
        /// the boxed future, not on the stack and then copied (it is a few hundred bytes).
        fn call(&self, req: http::Request<Body>, cx: RouteCx) -> ResponseFuture;
    }

    /// What the router adds to a request: see [`Request::from_parts`].
    #[derive(Debug)]
    pub struct RouteCx {
        pub(crate) params: Params,
        pub(crate) states: Option<Arc<States>>,
        pub(crate) body_limit: usize,
    }

    impl RouteCx {
        #[inline(always)]
        pub(crate) fn request(self, req: http::Request<Body>) -> Request {
            Request::from_parts(req, self.params, self.states, self.body_limit)
        }
    }
}

pub(crate) use sealed::{Call, RouteCx};

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoResponse,
{
}

impl<F, Fut> Call for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoResponse,
{
    fn call(&self, req: http::Request<Body>, cx: RouteCx) -> ResponseFuture {
        // Polls the handler's future in place; an `async` block would move it into its own
        // state on the first poll, and `FutureExt::map` moves its whole state out at the end.
        Box::pin(Respond {
            future: self(cx.request(req)),
        })
    }
}

pin_project_lite::pin_project! {
    /// A handler's future whose output becomes a [`Response`] as it completes.
    struct Respond<Fut> {
        #[pin]
        future: Fut,
    }
}

impl<Fut> Future for Respond<Fut>
where
    Fut: Future,
    Fut::Output: IntoResponse,
{
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Response> {
        self.project()
            .future
            .poll(cx)
            .map(IntoResponse::into_response)
    }
}

/// Gives a handler a deadline: if it has not produced a response within `limit`, its future is
/// dropped (its work stops at the next `.await`) and the client gets
/// `503 Service Unavailable`. This is the per-route counterpart of the engine's global
/// `handler_timeout`; the shorter of the two wins.
///
/// Work handed to [`blocking`] is not stopped: a thread cannot be interrupted, so the closure
/// runs to its end on the blocking pool, and only its result is dropped.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nucleus::{timeout, Request, Router};
///
/// async fn report(_req: Request) -> &'static str {
///     tokio::time::sleep(Duration::from_secs(60)).await;
///     "done"
/// }
///
/// let app = Router::new().get("/report", timeout(Duration::from_secs(5), report));
/// # let _: Router = app;
/// ```
pub fn timeout<H: Handler>(limit: std::time::Duration, handler: H) -> Timeout<H> {
    Timeout { limit, handler }
}

/// A handler with a deadline; see [`timeout`].
pub struct Timeout<H> {
    limit: std::time::Duration,
    handler: H,
}

impl<H> fmt::Debug for Timeout<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Handler for Timeout<H> {}

impl<H: Handler> Call for Timeout<H> {
    fn call(&self, req: http::Request<Body>, cx: RouteCx) -> ResponseFuture {
        let inner = self.handler.call(req, cx);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, inner).await {
                Ok(response) => response,
                Err(_) => {
                    tracing::debug!(
                        limit_ms = limit.as_millis() as u64,
                        "route handler timed out"
                    );
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "service unavailable: handler timeout",
                    )
                }
            }
        })
    }
}

/// Wraps a synchronous function so that it runs on tokio's blocking thread pool
/// ([`tokio::task::spawn_blocking`]), never on a server worker.
///
/// Use it for CPU-heavy work (hashing a password, resizing an image) and for blocking IO
/// (`std::fs`, a synchronous database driver). A panic in `f` becomes a
/// `500 Internal Server Error`.
///
/// # Examples
///
/// ```
/// use nucleus::{blocking, Request, Router};
///
/// fn checksum(req: Request) -> String {
///     // Pretend this is expensive.
///     let sum: u64 = req.path().bytes().map(u64::from).sum();
///     sum.to_string()
/// }
///
/// let app = Router::new()
///     .get("/sum/{*rest}", blocking(checksum))
///     .get("/file", blocking(|_req: Request| std::fs::read("/etc/hostname").unwrap_or_default()));
/// # let _: Router = app;
/// ```
pub fn blocking<F, R>(f: F) -> Blocking<F>
where
    F: Fn(Request) -> R + Send + Sync + 'static,
    R: IntoResponse + 'static,
{
    Blocking { f: Arc::new(f) }
}

/// A synchronous handler run on the blocking pool; see [`blocking`].
pub struct Blocking<F> {
    f: Arc<F>,
}

impl<F> fmt::Debug for Blocking<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocking")
            .field("f", &std::any::type_name::<F>())
            .finish()
    }
}

impl<F, R> Handler for Blocking<F>
where
    F: Fn(Request) -> R + Send + Sync + 'static,
    R: IntoResponse + 'static,
{
}

impl<F, R> Call for Blocking<F>
where
    F: Fn(Request) -> R + Send + Sync + 'static,
    R: IntoResponse + 'static,
{
    fn call(&self, req: http::Request<Body>, cx: RouteCx) -> ResponseFuture {
        let req = cx.request(req);
        let f = Arc::clone(&self.f);
        let task = tokio::task::spawn_blocking(move || f(req).into_response());
        Box::pin(async move {
            match task.await {
                Ok(res) => res,
                Err(err) => {
                    tracing::error!(error = %err, "blocking handler failed");
                    text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
                }
            }
        })
    }
}

/// A `tower::Service` mounted as an endpoint. `nested` services see the path with the
/// router prefix stripped.
pub(crate) struct ServiceHandler<S> {
    svc: S,
    nested: bool,
}

impl<S> ServiceHandler<S> {
    pub(crate) fn new(svc: S, nested: bool) -> ServiceHandler<S> {
        ServiceHandler { svc, nested }
    }
}

impl<S, B> Call for ServiceHandler<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn call(&self, req: http::Request<Body>, cx: RouteCx) -> ResponseFuture {
        let req = if self.nested {
            strip_prefix(cx.request(req))
        } else {
            req
        };
        // `Service::call` needs `&mut self` and readiness; a clone per request keeps the
        // endpoint shareable without a lock, as tower's `Steer` and axum's `Route` do.
        let svc = self.svc.clone();
        Box::pin(async move {
            match svc.oneshot(req).await {
                Ok(res) => res.map(into_body),
                Err(err) => {
                    let err: BoxError = err.into();
                    tracing::error!(error = %err, "mounted service failed");
                    text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
                }
            }
        })
    }
}

/// Rewrites the request target to the part after the nest prefix: `/api/users?x` mounted at
/// `/api` becomes `/users?x`; `/api` and `/api/` become `/`.
fn strip_prefix(req: Request) -> http::Request<Body> {
    let tail = req.param(NEST_TAIL).unwrap_or_default();
    let path_and_query = match req.uri().query() {
        Some(query) => format!("/{tail}?{query}"),
        None => format!("/{tail}"),
    };
    let mut req = req.into_http();
    // Built from a valid path and an already-parsed query, so these cannot fail; if they
    // did, the service sees the original target rather than a wrong one.
    let Ok(path_and_query) = PathAndQuery::from_maybe_shared(Bytes::from(path_and_query)) else {
        return req;
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
    req
}

/// Any body becomes a [`Body`]; a `Body` passes through without another box.
pub(crate) fn into_body<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut slot = Some(body);
    if let Some(body) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Body>>() {
        return body.take().unwrap_or_default();
    }
    slot.map(Body::new).unwrap_or_default()
}
