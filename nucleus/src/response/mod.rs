//! Turning handler return values into responses.
//!
//! A handler returns anything that implements [`IntoResponse`]. The implementations here cover
//! the common cases; implement the trait for your own types to return them directly.
//!
//! | returned value | status | `content-type` |
//! | --- | --- | --- |
//! | `&'static str`, `String`, `Cow<'static, str>` | 200 | `text/plain; charset=utf-8` |
//! | `Bytes`, `Vec<u8>`, `&'static [u8]` | 200 | `application/octet-stream` |
//! | [`Json<T>`] | 200 | `application/json` |
//! | [`Html<T>`] | 200 | `text/html; charset=utf-8` |
//! | `()` | 200 | none, empty body |
//! | [`StatusCode`] | that status | none, empty body |
//! | `(StatusCode, T)` | that status | `T`'s |
//! | `(StatusCode, HeaderMap, T)`, `(HeaderMap, T)` | that status / `T`'s | `T`'s unless the map sets it |
//! | [`Response`], [`Body`] | as built | as built |
//! | `Result<T, E>` | `T`'s or `E`'s | `T`'s or `E`'s |
//!
//! # Examples
//!
//! Implementing [`IntoResponse`] for an application error type, so handlers can use `?`:
//!
//! ```
//! use nucleus::response::{IntoResponse, Response};
//! use nucleus::{Request, Router, StatusCode};
//!
//! enum AppError {
//!     NotFound,
//!     Internal,
//! }
//!
//! impl IntoResponse for AppError {
//!     fn into_response(self) -> Response {
//!         match self {
//!             AppError::NotFound => (StatusCode::NOT_FOUND, "no such user").into_response(),
//!             AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
//!         }
//!     }
//! }
//!
//! async fn user(req: Request) -> Result<String, AppError> {
//!     match req.param("id") {
//!         Some("1") => Ok("alice".to_owned()),
//!         Some(_) => Err(AppError::NotFound),
//!         None => Err(AppError::Internal),
//!     }
//! }
//!
//! let app = Router::new().get("/users/{id}", user);
//! # let _: Router = app;
//! ```

mod json;

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::LazyLock;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;
use nucleus_http::Body;

pub use json::Json;

/// The response type handlers produce: an [`http::Response`] with a Nucleus [`Body`].
pub type Response<B = Body> = http::Response<B>;

/// Converts a value into a [`Response`].
///
/// See the [module docs](self) for the implementations Nucleus provides.
pub trait IntoResponse {
    /// Builds the response.
    fn into_response(self) -> Response;
}

/// The `content-type` of each response kind, as a one-entry map built once. Cloning it per
/// response copies two small buffers; building a fresh map would hash the header name and
/// set up the table every time.
pub(crate) type ContentType = LazyLock<HeaderMap>;

macro_rules! content_type {
    ($name:ident, $value:literal) => {
        pub(crate) static $name: ContentType = LazyLock::new(|| {
            // Exactly one slot: its clones (one per response) copy the least.
            let mut headers = HeaderMap::with_capacity(1);
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static($value));
            headers
        });
    };
}

content_type!(TEXT_PLAIN, "text/plain; charset=utf-8");
content_type!(OCTET_STREAM, "application/octet-stream");
content_type!(TEXT_HTML, "text/html; charset=utf-8");
content_type!(APPLICATION_JSON, "application/json");

/// A response with `body` and `content-type`; the body's size hint stays exact, so the engine
/// can send `Content-Length` (and keep it for `HEAD`).
pub(crate) fn with_content_type(body: impl Into<Body>, content_type: &ContentType) -> Response {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    let empty = std::mem::replace(&mut parts.headers, HeaderMap::clone(content_type));
    if empty.capacity() == 0 {
        // It owns no heap memory, yet dropping it walks three containers (~60
        // instructions per response); forgetting it leaks nothing.
        std::mem::forget(empty);
    }
    Response::from_parts(parts, body.into())
}

/// A short `text/plain` response, as the router and rejections send.
pub(crate) fn text(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut res = with_content_type(body, &TEXT_PLAIN);
    *res.status_mut() = status;
    res
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        with_content_type(self, &TEXT_PLAIN)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_content_type(self, &TEXT_PLAIN)
    }
}

impl IntoResponse for Cow<'static, str> {
    fn into_response(self) -> Response {
        match self {
            Cow::Borrowed(s) => s.into_response(),
            Cow::Owned(s) => s.into_response(),
        }
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        with_content_type(self, &OCTET_STREAM)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        with_content_type(self, &OCTET_STREAM)
    }
}

impl IntoResponse for &'static [u8] {
    fn into_response(self) -> Response {
        with_content_type(self, &OCTET_STREAM)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(Body::empty())
    }
}

impl IntoResponse for Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = self;
        res
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        *res.status_mut() = self.0;
        res
    }
}

/// The map's headers replace any of the same name that `T` set (such as `content-type`).
impl<T: IntoResponse> IntoResponse for (HeaderMap, T) {
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        res.headers_mut().extend(self.0);
        res
    }
}

/// The map's headers replace any of the same name that `T` set (such as `content-type`).
impl<T: IntoResponse> IntoResponse for (StatusCode, HeaderMap, T) {
    fn into_response(self) -> Response {
        let mut res = self.2.into_response();
        *res.status_mut() = self.0;
        res.headers_mut().extend(self.1);
        res
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(err) => err.into_response(),
        }
    }
}

/// An HTML response: `content-type: text/html; charset=utf-8`.
///
/// # Examples
///
/// ```
/// use nucleus::response::Html;
/// use nucleus::{Request, Router};
///
/// async fn index(_req: Request) -> Html<&'static str> {
///     Html("<h1>Hello</h1>")
/// }
///
/// let app = Router::new().get("/", index);
/// # let _: Router = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Html<T>(pub T);

impl<T: Into<Body>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        with_content_type(self.0, &TEXT_HTML)
    }
}
