//! The request a handler receives.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::header::{self, AsHeaderName, HeaderMap, HeaderValue};
use http::{Extensions, Method, Uri, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use nucleus_http::{Body, PeerAddr};
use serde::de::DeserializeOwned;

use crate::rejection::{
    BodyReadFailed, BytesRejection, InvalidUtf8, JsonRejection, MissingState, PayloadTooLarge,
    QueryRejection, TextRejection, UnsupportedContentType,
};
use crate::routing::params::Params;
use crate::state::States;

/// How many body bytes [`Request::bytes`], [`Request::text`] and [`Request::json`] collect
/// unless [`Router::body_limit`](crate::Router::body_limit) says otherwise: 2 MiB.
///
/// Large enough for any JSON API payload, small enough that a few hundred concurrent
/// requests cannot exhaust memory. Uploads should stream with [`Request::body_stream`].
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// An HTTP request as a handler sees it: the [`http::Request`] from the engine plus the path
/// parameters the router matched and the router's shared state.
///
/// The body streams from the socket. Read it whole with [`bytes`](Request::bytes),
/// [`text`](Request::text) or [`json`](Request::json), which stop at the body limit, or take it
/// as a stream with [`body_stream`](Request::body_stream).
///
/// # Examples
///
/// ```
/// use nucleus::{Request, Router};
///
/// async fn show(req: Request) -> String {
///     let id = req.param("id").unwrap_or("?");
///     let agent = req.header("user-agent").unwrap_or("unknown");
///     format!("{} {} (user {id}, agent {agent})", req.method(), req.path())
/// }
///
/// let app = Router::new().get("/users/{id}", show);
/// # let _: Router = app;
/// ```
pub struct Request {
    inner: http::Request<Body>,
    peer: Option<SocketAddr>,
    params: Params,
    states: Option<Arc<States>>,
    body_limit: usize,
}

impl Request {
    pub(crate) fn from_parts(
        inner: http::Request<Body>,
        params: Params,
        states: Option<Arc<States>>,
        body_limit: usize,
    ) -> Request {
        // Captured now: `PeerAddr::current` is only set while the engine runs the call.
        let peer = PeerAddr::current()
            .or_else(|| inner.extensions().get::<PeerAddr>().copied())
            .map(|p| p.0);
        Request {
            inner,
            peer,
            params,
            states,
            body_limit,
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        self.inner.method()
    }

    /// The request target as the client sent it.
    pub fn uri(&self) -> &Uri {
        self.inner.uri()
    }

    /// The path of the request target, still percent-encoded; for a nested router this is the
    /// full path, prefix included.
    pub fn path(&self) -> &str {
        self.inner.uri().path()
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// All request headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// All request headers, mutably (for middleware-like handlers that forward the request).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.inner.headers_mut()
    }

    /// The first value of header `name` as text, or `None` if it is absent or holds bytes
    /// outside visible ASCII.
    ///
    /// # Examples
    ///
    /// ```
    /// # let req = nucleus::Request::from(
    /// #     http::Request::builder().header("accept", "text/html").body(nucleus::Body::empty()).unwrap());
    /// assert_eq!(req.header("accept"), Some("text/html"));
    /// assert_eq!(req.header(nucleus::header::ACCEPT), Some("text/html"));
    /// assert_eq!(req.header("cookie"), None);
    /// ```
    pub fn header<K: AsHeaderName>(&self, name: K) -> Option<&str> {
        self.inner.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The path parameter `name` captured by the route (`/users/{id}` or `/files/{*path}`),
    /// percent-decoded. A value whose decoding is not UTF-8 is returned as sent.
    ///
    /// Decoding turns `%2F` into `/` and `%00` into a NUL, and dot segments are not removed
    /// (`/files/..%2F..%2Fetc` captures `../../etc`, as `/files/../../etc` does): a value is
    /// the client's, not a safe file-system path. Check it before joining it to a directory.
    ///
    /// # Examples
    ///
    /// ```
    /// use nucleus::{Request, Router};
    ///
    /// async fn file(req: Request) -> String {
    ///     // For `/files/a/b%20c.txt`: user = "a", path = "b c.txt".
    ///     format!("{:?} {:?}", req.param("user"), req.param("path"))
    /// }
    ///
    /// let app = Router::new().get("/files/{user}/{*path}", file);
    /// # let _: Router = app;
    /// ```
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(self.inner.uri().path(), name)
    }

    /// Every path parameter as `(name, value)`, in the order they appear in the route.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter(self.inner.uri().path())
    }

    /// Deserializes the query string (`application/x-www-form-urlencoded`) into `T`. A request
    /// without a query string deserializes from the empty string, so a struct whose fields
    /// are all `Option` or `#[serde(default)]` still succeeds.
    ///
    /// `T` owns its data: a borrowed `&str` field would fail on any value with `%`-escapes,
    /// which is a runtime surprise rather than a compile error, so it is not offered.
    ///
    /// # Errors
    ///
    /// [`QueryRejection`] (`400 Bad Request`) when the query does not fit `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nucleus::rejection::QueryRejection;
    /// use nucleus::{Request, Router};
    /// use serde::Deserialize;
    ///
    /// #[derive(Deserialize)]
    /// struct Search {
    ///     q: String,
    ///     #[serde(default)]
    ///     page: u32,
    /// }
    ///
    /// async fn search(req: Request) -> Result<String, QueryRejection> {
    ///     let search: Search = req.query()?;
    ///     Ok(format!("{} (page {})", search.q, search.page))
    /// }
    ///
    /// let app = Router::new().get("/search", search);
    /// # let _: Router = app;
    /// ```
    pub fn query<T: DeserializeOwned>(&self) -> Result<T, QueryRejection> {
        let query = self.inner.uri().query().unwrap_or_default();
        serde_urlencoded::from_str(query).map_err(QueryRejection::new)
    }

    /// The client's address, when the request came over a connection that has one.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The state of type `T` given to the router with [`Router::state`](crate::Router::state).
    ///
    /// # Errors
    ///
    /// [`MissingState`] when no router provides a `T`; as a response it is a
    /// `500 Internal Server Error`, so handlers can use `?`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// use nucleus::rejection::MissingState;
    /// use nucleus::{Request, Router};
    ///
    /// #[derive(Default)]
    /// struct Hits(AtomicU64);
    ///
    /// async fn count(req: Request) -> Result<String, MissingState> {
    ///     let hits = req.state::<Hits>()?;
    ///     Ok(hits.0.fetch_add(1, Ordering::Relaxed).to_string())
    /// }
    ///
    /// let app = Router::new().get("/", count).state(Hits::default());
    /// # let _: Router = app;
    /// ```
    pub fn state<T: Send + Sync + 'static>(&self) -> Result<Arc<T>, MissingState> {
        self.states
            .as_deref()
            .and_then(States::get::<T>)
            .ok_or_else(|| MissingState::new(std::any::type_name::<T>()))
    }

    /// The request's extensions: values the engine and middleware attached (such as
    /// [`PeerAddr`] or an upgrade handle).
    pub fn extensions(&self) -> &Extensions {
        self.inner.extensions()
    }

    /// The request's extensions, mutably.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        self.inner.extensions_mut()
    }

    /// The most bytes [`bytes`](Request::bytes), [`text`](Request::text) and
    /// [`json`](Request::json) will collect.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// Changes the collection limit for this request, e.g. for one upload route. The engine's
    /// own `max_body_size` still applies.
    pub fn set_body_limit(&mut self, limit: usize) {
        self.body_limit = limit;
    }

    /// Takes the body as a stream of chunks, leaving an empty body behind. Nothing is
    /// buffered: each poll reads from the socket, so a slow consumer slows the client.
    pub fn body_stream(&mut self) -> Body {
        std::mem::take(self.inner.body_mut())
    }

    /// The body as a stream of chunks, dropping the rest of the request.
    pub fn into_body(self) -> Body {
        self.inner.into_body()
    }

    /// Collects the body, up to the [body limit](Request::body_limit). Takes the body: a
    /// second call returns an empty buffer.
    ///
    /// # Errors
    ///
    /// [`BytesRejection::PayloadTooLarge`] (`413`) past the limit, checked against the
    /// declared `Content-Length` before reading anything; [`BytesRejection::BodyReadFailed`]
    /// (`400`) when the body breaks off or is malformed on the wire.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops whatever part of the body was read.
    pub async fn bytes(&mut self) -> Result<Bytes, BytesRejection> {
        collect(self.body_stream(), self.body_limit).await
    }

    /// Collects the body as UTF-8 text, up to the [body limit](Request::body_limit).
    ///
    /// # Errors
    ///
    /// Those of [`bytes`](Request::bytes), and [`TextRejection::InvalidUtf8`] (`400`).
    pub async fn text(&mut self) -> Result<String, TextRejection> {
        let bytes = self.bytes().await?;
        // `Vec::from(Bytes)` reuses the buffer when it is not shared.
        String::from_utf8(Vec::from(bytes)).map_err(|err| InvalidUtf8::new(err.utf8_error()).into())
    }

    /// Collects the body, up to the [body limit](Request::body_limit), and deserializes it as
    /// JSON. A request without `Content-Type` is accepted.
    ///
    /// # Errors
    ///
    /// Those of [`bytes`](Request::bytes), and:
    /// - [`JsonRejection::UnsupportedContentType`] (`415`) for a `Content-Type` that is not
    ///   `application/json` or `application/*+json`, or a `Content-Encoding` (gzip, ...)
    ///   other than `identity`, checked before reading the body;
    /// - [`JsonRejection::Syntax`] (`400`) when the body is not JSON;
    /// - [`JsonRejection::Data`] (`422`) when it does not fit `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nucleus::rejection::JsonRejection;
    /// use nucleus::response::Json;
    /// use nucleus::{Request, Router};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Deserialize, Serialize)]
    /// struct Todo {
    ///     title: String,
    /// }
    ///
    /// async fn create(mut req: Request) -> Result<Json<Todo>, JsonRejection> {
    ///     let todo: Todo = req.json().await?;
    ///     Ok(Json(todo))
    /// }
    ///
    /// let app = Router::new().post("/todos", create);
    /// # let _: Router = app;
    /// ```
    pub async fn json<T: DeserializeOwned>(&mut self) -> Result<T, JsonRejection> {
        let headers = self.inner.headers();
        if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
            if !is_json(content_type) {
                return Err(UnsupportedContentType.into());
            }
        }
        // A compressed body is not JSON as it stands: 415 (RFC 9110 §8.4.1), not a 400 for
        // its first byte.
        if headers
            .get(header::CONTENT_ENCODING)
            .is_some_and(|coding| !coding.as_bytes().eq_ignore_ascii_case(b"identity"))
        {
            return Err(UnsupportedContentType.into());
        }
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(JsonRejection::from_serde)
    }

    /// The underlying [`http::Request`], for passing on to a `tower::Service`. Path parameters
    /// and state are dropped.
    pub fn into_http(self) -> http::Request<Body> {
        self.inner
    }
}

/// A request outside any router: no path parameters, no state, the default body limit.
/// Useful for calling a handler directly in a test.
impl From<http::Request<Body>> for Request {
    fn from(inner: http::Request<Body>) -> Request {
        Request::from_parts(inner, Params::default(), None, DEFAULT_BODY_LIMIT)
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", self.method())
            .field("uri", self.uri())
            .field("version", &self.version())
            .field("headers", self.headers())
            .field("params", &self.params().collect::<Vec<_>>())
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

/// Reads `body` whole, failing as soon as it passes `limit`.
async fn collect(mut body: Body, limit: usize) -> Result<Bytes, BytesRejection> {
    let too_large = || PayloadTooLarge::new(limit as u64).into();
    // A declared Content-Length is the lower bound: refuse before reading a byte.
    let expected = body.size_hint().lower();
    if expected > limit as u64 {
        return Err(too_large());
    }
    // Most bodies arrive as one chunk; return it without copying. Only a second chunk makes
    // us allocate, once, sized from the declared length.
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(body_error)?;
        let Ok(data) = frame.into_data() else {
            continue; // Trailers: nothing to collect.
        };
        len = len.saturating_add(data.len());
        if len > limit {
            return Err(too_large());
        }
        match (&mut joined, first.take()) {
            (Some(buf), _) => buf.extend_from_slice(&data),
            (None, None) => first = Some(data),
            (None, Some(prev)) => {
                let mut buf = BytesMut::with_capacity((expected as usize).max(len));
                buf.extend_from_slice(&prev);
                buf.extend_from_slice(&data);
                joined = Some(buf);
            }
        }
    }
    Ok(match (joined, first) {
        (Some(buf), _) => buf.freeze(),
        (None, first) => first.unwrap_or_default(),
    })
}

fn body_error(err: nucleus_http::Error) -> BytesRejection {
    match err.body_limit() {
        Some(limit) => PayloadTooLarge::new(limit).into(),
        None => BodyReadFailed::new(err).into(),
    }
}

/// `application/json` or `application/<anything>+json`, any parameters (RFC 6839 §3.1).
fn is_json(content_type: &HeaderValue) -> bool {
    let Ok(content_type) = content_type.to_str() else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let suffix = subtype
        .len()
        .checked_sub(5)
        .and_then(|at| subtype.get(at..));
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || suffix.is_some_and(|s| s.eq_ignore_ascii_case("+json")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/ld+json",
        ] {
            assert!(is_json(&HeaderValue::from_static(yes)), "{yes}");
        }
        for no in [
            "text/json",
            "application/jsonx",
            "json",
            "application/x-www-form-urlencoded",
        ] {
            assert!(!is_json(&HeaderValue::from_static(no)), "{no}");
        }
    }
}
