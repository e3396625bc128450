//! The [`Router`]: paths and methods to handlers.
//!
//! Paths are matched by [`matchit`], a radix tree: static segments win over parameters, and
//! parameters over wildcards, whatever the order routes were added in.
//!
//! | pattern | matches | parameters |
//! | --- | --- | --- |
//! | `/users` | `/users` only (not `/users/`) | none |
//! | `/users/{id}` | `/users/7` | `id = "7"` |
//! | `/files/{*path}` | `/files/a/b.txt` (not `/files/`) | `path = "a/b.txt"` |
//! | `/v{version}/x` | `/v2/x` | `version = "2"` |
//!
//! Conflicting or malformed routes are configuration errors: adding one panics at once, with a
//! message naming both routes, so that the mistake surfaces on the first start.

mod future;
mod method;
pub(crate) use method::STANDARD as STANDARD_METHODS;
pub(crate) mod params;
mod tree;

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Method;
use nucleus_http::{Body, BoxError};
use tower_layer::Layer;
use tower_service::Service;

pub use future::RouteFuture;

use crate::handler::{BoxedHandler, Handler, ServiceHandler};
use crate::response::Response;
use method::{Endpoint, MethodRouter};
use params::NEST_TAIL;
use tree::{check_prefix, Inner};

/// The application: routes, fallback, shared state and body limit, as one `tower::Service`.
///
/// Build it once with the chained methods below, then serve it
/// ([`Server::run`](crate::Server::run)) or mount it inside another router. Cloning is cheap
/// (one `Arc`); a built router takes no lock per request.
///
/// Without a matching route the router answers:
/// - `404 Not Found` for an unknown path (or calls the [fallback](Router::fallback));
/// - `405 Method Not Allowed` with an `Allow` header for a known path and another method;
/// - `HEAD` with the `GET` handler (the engine sends the headers only);
/// - `OPTIONS` with `204 No Content` and `Allow`, unless an `OPTIONS` handler exists.
///
/// # Examples
///
/// ```
/// use nucleus::{Method, Request, Router};
/// use tower::ServiceExt;
///
/// async fn list(_req: Request) -> &'static str {
///     "all users"
/// }
///
/// async fn show(req: Request) -> String {
///     format!("user {}", req.param("id").unwrap_or_default())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = Router::new()
///     .get("/users", list)
///     .get("/users/{id}", show)
///     .route(Method::from_bytes(b"PURGE").unwrap(), "/cache", |_req: Request| async { "purged" });
///
/// let req = http::Request::get("/users/7").body(nucleus::Body::empty()).unwrap();
/// let res = app.clone().oneshot(req).await.unwrap();
/// assert_eq!(res.status(), 200);
///
/// let req = http::Request::delete("/users/7").body(nucleus::Body::empty()).unwrap();
/// let res = app.oneshot(req).await.unwrap();
/// assert_eq!(res.status(), 405);
/// assert_eq!(res.headers()["allow"], "GET, HEAD, OPTIONS");
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Router {
    inner: Arc<Inner>,
}

impl Router {
    /// An empty router: every request gets `404 Not Found`.
    pub fn new() -> Router {
        Router::default()
    }

    /// Routes `method` requests for `path` to `handler`. Any method works, including
    /// extension methods such as `PURGE`.
    ///
    /// # Panics
    ///
    /// If `path` does not start with `/`, is malformed (an unclosed `{`, two parameters in one
    /// segment, a wildcard before the end), conflicts with another route (`/{id}` next to
    /// `/{name}`), or already has a handler for `method`.
    #[track_caller]
    pub fn route<H: Handler>(mut self, method: Method, path: &str, handler: H) -> Router {
        let mut methods = MethodRouter::default();
        let endpoint = Endpoint {
            handler: Arc::new(handler),
            body_limit: None,
        };
        // A fresh `MethodRouter` has no overlap to report.
        let _ = methods.insert(method, endpoint);
        self.inner_mut().add_route(path, methods);
        self
    }

    /// Routes `GET` (and so `HEAD`) requests for `path`; see [`Router::route`].
    #[track_caller]
    pub fn get<H: Handler>(self, path: &str, handler: H) -> Router {
        self.route(Method::GET, path, handler)
    }

    /// Routes `POST` requests for `path`; see [`Router::route`].
    #[track_caller]
    pub fn post<H: Handler>(self, path: &str, handler: H) -> Router {
        self.route(Method::POST, path, handler)
    }

    /// Routes `PUT` requests for `path`; see [`Router::route`].
    #[track_caller]
    pub fn put<H: Handler>(self, path: &str, handler: H) -> Router {
        self.route(Method::PUT, path, handler)
    }

    /// Routes `DELETE` requests for `path`; see [`Router::route`].
    #[track_caller]
    pub fn delete<H: Handler>(self, path: &str, handler: H) -> Router {
        self.route(Method::DELETE, path, handler)
    }

    /// Routes `PATCH` requests for `path`; see [`Router::route`].
    #[track_caller]
    pub fn patch<H: Handler>(self, path: &str, handler: H) -> Router {
        self.route(Method::PATCH, path, handler)
    }

    /// Routes `HEAD` requests for `path`, replacing the automatic use of the `GET` handler;
    /// see [`Router::route`].
    #[track_caller]
    pub fn head<H: Handler>(self, path: &str, handler: H) -> Router {
        self.route(Method::HEAD, path, handler)
    }

    /// Routes `OPTIONS` requests for `path`, replacing the automatic `204` with `Allow`; see
    /// [`Router::route`].
    #[track_caller]
    pub fn options<H: Handler>(self, path: &str, handler: H) -> Router {
        self.route(Method::OPTIONS, path, handler)
    }

    /// Sends every request for exactly `path`, whatever its method, to a `tower::Service`,
    /// which sees the request unchanged. Methods routed to handlers on the same path take
    /// precedence.
    ///
    /// The service's errors become `500 Internal Server Error` and a log line. It must be
    /// `Sync` (it is shared by all workers; wrap a `BoxCloneService` as
    /// `tower::util::BoxCloneSyncService`).
    ///
    /// # Panics
    ///
    /// As [`Router::route`], and if `path` already has a service.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use nucleus::{Body, Router};
    ///
    /// let health = tower::service_fn(|_req: http::Request<Body>| async {
    ///     Ok::<_, Infallible>(http::Response::new(Body::from("ok")))
    /// });
    /// let app = Router::new().route_service("/health", health);
    /// # let _: Router = app;
    /// ```
    #[track_caller]
    pub fn route_service<S, B>(mut self, path: &str, service: S) -> Router
    where
        S: Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let handler: BoxedHandler = Arc::new(ServiceHandler::new(service, false));
        self.inner_mut().add_any(path, handler);
        self
    }

    /// Mounts `router`'s routes under `prefix`: its `/users` becomes `{prefix}/users`, and
    /// its `/` becomes `{prefix}` itself.
    ///
    /// The nested router's routes keep their handlers, its [body limit](Router::body_limit)
    /// if it set one, and its [fallback](Router::fallback), which then answers every unmatched
    /// path under `prefix`. Its [state](Router::state) joins this router's state (this
    /// router's value wins if both have one of the same type). Handlers see the full path;
    /// `prefix` may contain parameters (`/users/{id}`), which they see too.
    ///
    /// # Panics
    ///
    /// If `prefix` is `/` (use [`Router::merge`]), does not start with `/`, ends with `/`,
    /// holds a wildcard, or if a nested route conflicts with an existing one.
    ///
    /// # Examples
    ///
    /// ```
    /// use nucleus::{Request, Router};
    ///
    /// async fn list(_req: Request) -> &'static str {
    ///     "users"
    /// }
    ///
    /// let api = Router::new().get("/users", list).fallback(|_req: Request| async { "no such API" });
    /// let app = Router::new().nest("/api/v1", api); // serves GET /api/v1/users
    /// # let _: Router = app;
    /// ```
    #[track_caller]
    pub fn nest(mut self, prefix: &str, router: Router) -> Router {
        check_prefix(prefix);
        self.inner_mut().absorb(prefix, router.into_inner());
        self
    }

    /// Mounts a `tower::Service` under `prefix`: requests for `prefix` and everything below it
    /// go to the service, whatever their method, with `prefix` removed from the path
    /// (`/assets/app.js` at `/assets` becomes `/app.js`; `/assets` becomes `/`).
    ///
    /// Use it for another `Router` that should keep its own fallback, state and limits, or for
    /// any service (a static file server, another framework's router).
    ///
    /// # Panics
    ///
    /// As [`Router::nest`] (except that `prefix` may be `/`), and if the mount conflicts with
    /// a route (`/assets/{name}` next to a service at `/assets`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use nucleus::{Body, Router};
    ///
    /// let echo_path = tower::service_fn(|req: http::Request<Body>| async move {
    ///     Ok::<_, Infallible>(http::Response::new(Body::from(req.uri().path().to_owned())))
    /// });
    /// let app = Router::new().nest_service("/echo", echo_path); // GET /echo/a/b answers "/a/b"
    /// # let _: Router = app;
    /// ```
    #[track_caller]
    pub fn nest_service<S, B>(mut self, prefix: &str, service: S) -> Router
    where
        S: Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let base = if prefix == "/" { "" } else { prefix };
        if !base.is_empty() {
            check_prefix(base);
        }
        let handler: BoxedHandler = Arc::new(ServiceHandler::new(service, true));
        let inner = self.inner_mut();
        if !base.is_empty() {
            inner.add_any(base, handler.clone());
        }
        inner.add_any(&format!("{base}/"), handler.clone());
        inner.add_any(&format!("{base}/{{*{NEST_TAIL}}}"), handler);
        self
    }

    /// Adds `other`'s routes, fallback, state and body limits to this router, as if nested
    /// at the root.
    ///
    /// # Panics
    ///
    /// If a route conflicts, a path and method have a handler in both, or both routers have
    /// a fallback.
    #[track_caller]
    pub fn merge(mut self, other: Router) -> Router {
        self.inner_mut().absorb("", other.into_inner());
        self
    }

    /// Calls `handler` for requests whose path matches no route, instead of answering
    /// `404 Not Found`. A path that matches with the wrong method still gets `405`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nucleus::{Request, Router, StatusCode};
    ///
    /// async fn not_found(req: Request) -> (StatusCode, String) {
    ///     (StatusCode::NOT_FOUND, format!("nothing at {}", req.path()))
    /// }
    ///
    /// let app = Router::new().fallback(not_found);
    /// # let _: Router = app;
    /// ```
    pub fn fallback<H: Handler>(mut self, handler: H) -> Router {
        self.inner_mut().fallback = Some(Endpoint {
            handler: Arc::new(handler),
            body_limit: None,
        });
        self
    }

    /// Like [`Router::fallback`], with a `tower::Service` that sees the request unchanged.
    pub fn fallback_service<S, B>(mut self, service: S) -> Router
    where
        S: Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let handler: BoxedHandler = Arc::new(ServiceHandler::new(service, false));
        self.inner_mut().fallback = Some(Endpoint {
            handler,
            body_limit: None,
        });
        self
    }

    /// Shares `value` with every handler of this router (and of routers nested into it),
    /// which get it with [`Request::state::<T>()`](crate::Request::state). One value per
    /// type; adding another of the same type replaces it. For mutable state, share a type
    /// with interior mutability (an atomic, a `Mutex`, a connection pool).
    ///
    /// # Examples
    ///
    /// ```
    /// use nucleus::rejection::MissingState;
    /// use nucleus::{Request, Router};
    ///
    /// struct Config {
    ///     greeting: String,
    /// }
    ///
    /// async fn greet(req: Request) -> Result<String, MissingState> {
    ///     Ok(req.state::<Config>()?.greeting.clone())
    /// }
    ///
    /// let app = Router::new().get("/", greet).state(Config { greeting: "hi".into() });
    /// # let _: Router = app;
    /// ```
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Router {
        let states = self.inner_mut().states.get_or_insert_with(Default::default);
        Arc::make_mut(states).insert(value);
        self
    }

    /// The most body bytes [`Request::bytes`](crate::Request::bytes),
    /// [`text`](crate::Request::text) and [`json`](crate::Request::json) collect for this
    /// router's routes, including those already added. Default:
    /// [`DEFAULT_BODY_LIMIT`](crate::DEFAULT_BODY_LIMIT) (2 MiB). Past it they answer
    /// `413 Payload Too Large`.
    ///
    /// The engine's `Config` has its own limit, enforced on the wire before the framework
    /// sees the body; the smaller of the two wins.
    pub fn body_limit(mut self, limit: usize) -> Router {
        self.inner_mut().body_limit = Some(limit);
        self
    }

    /// Wraps the whole router in a `tower` layer (a timeout, compression, tracing, ...)
    /// and returns the wrapped service, which the server runs like the router itself.
    ///
    /// The layer sees every request, including those answered with `404`/`405`. To wrap
    /// only some routes, layer a router and mount it with [`Router::nest_service`].
    ///
    /// # Examples
    ///
    /// ```
    /// use nucleus::{Request, Router};
    /// use tower::util::MapResponseLayer;
    ///
    /// async fn hello(_req: Request) -> &'static str {
    ///     "Hello"
    /// }
    ///
    /// let app = Router::new().get("/", hello).layer(MapResponseLayer::new(
    ///     |mut res: nucleus::response::Response| {
    ///         res.headers_mut().insert("x-powered-by", "nucleus".parse().unwrap());
    ///         res
    ///     },
    /// ));
    /// # fn servable<S: nucleus_http::HttpService>(_: S) {}
    /// # servable(app);
    /// ```
    pub fn layer<L: Layer<Router>>(self, layer: L) -> L::Service {
        layer.layer(self)
    }

    fn inner_mut(&mut self) -> &mut Inner {
        // Unshared while the router is being built, so this clones nothing in practice.
        Arc::make_mut(&mut self.inner)
    }

    fn into_inner(self) -> Inner {
        Arc::try_unwrap(self.inner).unwrap_or_else(|shared| (*shared).clone())
    }
}

impl Service<http::Request<Body>> for Router {
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> RouteFuture {
        self.inner.handle(req)
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Router").field(&self.inner).finish()
    }
}
