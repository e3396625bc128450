//! Why a request could not be read the way a handler asked.
//!
//! Every failure is its own type carrying its status and a short message; each implements
//! [`IntoResponse`] (a `text/plain` response with that status and message) and
//! [`std::error::Error`]. The collectors on [`Request`](crate::Request) return enums of the
//! failures they can hit ([`BytesRejection`], [`TextRejection`], [`JsonRejection`]), and
//! [`Rejection`] gathers all of them so that a handler mixing several can use `?` on each:
//!
//! ```
//! use nucleus::rejection::Rejection;
//! use nucleus::Request;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Page {
//!     n: u32,
//! }
//!
//! async fn handler(mut req: Request) -> Result<String, Rejection> {
//!     let page: Page = req.query()?;
//!     let body = req.text().await?;
//!     Ok(format!("page {}: {body}", page.n))
//! }
//! # let _ = nucleus::Router::new().post("/", handler);
//! ```
//!
//! | type | status | when |
//! | --- | --- | --- |
//! | [`PayloadTooLarge`] | 413 | the body is longer than the limit (named in the message) |
//! | [`BodyReadFailed`] | 400, 408 | the body broke off, was malformed, or arrived too slowly |
//! | [`InvalidUtf8`] | 400 | [`Request::text`](crate::Request::text) on non-UTF-8 bytes |
//! | [`UnsupportedContentType`] | 415 | [`Request::json`](crate::Request::json) with a non-JSON `Content-Type` |
//! | [`JsonSyntaxError`] | 400 | the body is not JSON |
//! | [`JsonDataError`] | 422 | the JSON does not fit the target type |
//! | [`QueryRejection`] | 400 | the query string does not fit the target type |
//! | [`MissingState`] | 500 | [`Request::state`](crate::Request::state) for a type no router provides |
//!
//! What the client reads of a JSON or query failure is shorter than its `Display`: the field
//! that is missing, unknown or repeated, or the kind of mistake, and for JSON the line and
//! column, but never the input it quotes (of any length) or the Rust types serde names
//! (`expected struct Order`). `Display`, for logs and handlers, keeps serde's whole message.

use std::error::Error as StdError;
use std::fmt;

use http::StatusCode;

use crate::response::{text, IntoResponse, Response};

/// The request body was longer than the limit (Nucleus's collection limit, see
/// [`Router::body_limit`](crate::Router::body_limit), or the engine's `max_body_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadTooLarge {
    limit: u64,
}

impl PayloadTooLarge {
    pub(crate) fn new(limit: u64) -> PayloadTooLarge {
        PayloadTooLarge { limit }
    }

    /// The limit that was exceeded, in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// `413 Payload Too Large`.
    pub fn status(&self) -> StatusCode {
        StatusCode::PAYLOAD_TOO_LARGE
    }
}

impl fmt::Display for PayloadTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request body exceeds the limit of {} bytes", self.limit)
    }
}

impl StdError for PayloadTooLarge {}

/// Reading the request body failed: the client broke off, or the body's framing was malformed.
#[derive(Debug)]
pub struct BodyReadFailed {
    source: nucleus_http::Error,
}

impl BodyReadFailed {
    pub(crate) fn new(source: nucleus_http::Error) -> BodyReadFailed {
        BodyReadFailed { source }
    }

    /// `408 Request Timeout` when the body arrived too slowly, else `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        if self.source.is_timeout() {
            StatusCode::REQUEST_TIMEOUT
        } else {
            StatusCode::BAD_REQUEST
        }
    }
}

impl fmt::Display for BodyReadFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.source.is_timeout() {
            f.write_str("the request body arrived too slowly")
        } else {
            f.write_str("failed to read the request body")
        }
    }
}

impl StdError for BodyReadFailed {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

/// The request body is not valid UTF-8.
#[derive(Debug)]
pub struct InvalidUtf8 {
    source: std::str::Utf8Error,
}

impl InvalidUtf8 {
    pub(crate) fn new(source: std::str::Utf8Error) -> InvalidUtf8 {
        InvalidUtf8 { source }
    }

    /// `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

impl fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request body is not valid UTF-8")
    }
}

impl StdError for InvalidUtf8 {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

/// The request declared a `Content-Type` that is not JSON (`application/json` or
/// `application/*+json`). A request without `Content-Type` is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedContentType;

impl UnsupportedContentType {
    /// `415 Unsupported Media Type`.
    pub fn status(&self) -> StatusCode {
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    }
}

impl fmt::Display for UnsupportedContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "expected a request with `Content-Type: application/json` and no `Content-Encoding`",
        )
    }
}

impl StdError for UnsupportedContentType {}

/// The request body is not syntactically valid JSON (or ends early).
#[derive(Debug)]
pub struct JsonSyntaxError {
    source: serde_json::Error,
}

impl JsonSyntaxError {
    /// `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

impl fmt::Display for JsonSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request body is not valid JSON: {}", self.source)
    }
}

impl StdError for JsonSyntaxError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

/// The request body is valid JSON that does not fit the target type (a missing field, a
/// string where a number belongs).
#[derive(Debug)]
pub struct JsonDataError {
    source: serde_json::Error,
}

impl JsonDataError {
    /// `422 Unprocessable Entity`.
    pub fn status(&self) -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

impl fmt::Display for JsonDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to deserialize the JSON body: {}", self.source)
    }
}

impl StdError for JsonDataError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

/// The query string does not fit the target type.
#[derive(Debug)]
pub struct QueryRejection {
    source: serde_urlencoded::de::Error,
}

impl QueryRejection {
    pub(crate) fn new(source: serde_urlencoded::de::Error) -> QueryRejection {
        QueryRejection { source }
    }

    /// `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

impl fmt::Display for QueryRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid query string: {}", self.source)
    }
}

impl StdError for QueryRejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

/// [`Request::state`](crate::Request::state) asked for a type that no router provides.
///
/// This is a configuration bug, not a client error: the response is a bare
/// `500 Internal Server Error` and the type name goes to the log, not to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingState {
    type_name: &'static str,
}

impl MissingState {
    pub(crate) fn new(type_name: &'static str) -> MissingState {
        MissingState { type_name }
    }

    /// The name of the missing type.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// `500 Internal Server Error`.
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl fmt::Display for MissingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no state of type `{}`; add it with `Router::state`",
            self.type_name
        )
    }
}

impl StdError for MissingState {}

impl IntoResponse for MissingState {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        text(self.status(), "internal server error")
    }
}

macro_rules! leaf_into_response {
    ($($ty:ty),* $(,)?) => {$(
        impl IntoResponse for $ty {
            fn into_response(self) -> Response {
                text(self.status(), self.to_string())
            }
        }
    )*};
}

leaf_into_response!(
    PayloadTooLarge,
    BodyReadFailed,
    InvalidUtf8,
    UnsupportedContentType,
);

// What the client reads is not `Display` (which keeps serde's whole message, for logs and
// handlers): serde's messages quote the client's input at any length ("invalid type: string
// \"...\"") and name Rust types ("expected struct Order", "expected u8").

impl IntoResponse for JsonSyntaxError {
    fn into_response(self) -> Response {
        let reason = match self.source.classify() {
            serde_json::error::Category::Eof => "it ends early",
            _ => "syntax error",
        };
        let (line, column) = (self.source.line(), self.source.column());
        let body =
            format!("request body is not valid JSON: {reason} at line {line} column {column}");
        text(self.status(), body)
    }
}

impl IntoResponse for JsonDataError {
    fn into_response(self) -> Response {
        let (line, column) = (self.source.line(), self.source.column());
        let body = format!(
            "failed to deserialize the JSON body: {} at line {line} column {column}",
            for_client(&self.source.to_string())
        );
        text(self.status(), body)
    }
}

impl IntoResponse for QueryRejection {
    fn into_response(self) -> Response {
        let body = format!(
            "invalid query string: {}",
            for_client(&self.source.to_string())
        );
        text(self.status(), body)
    }
}

/// Most bytes of a field or variant name quoted back to the client.
const QUOTED_NAME_MAX: usize = 64;

/// A serde data error's message as a client may read it: which field is missing, unknown or
/// repeated (the API's own names, or the client's at most `QUOTED_NAME_MAX` bytes), or what
/// kind of mistake it is, without the input or the Rust types it was checked against.
fn for_client(message: &str) -> String {
    // serde_json appends the position; it is reported separately.
    let message = message.split(" at line ").next().unwrap_or_default();
    for kind in [
        "missing field",
        "unknown field",
        "duplicate field",
        "unknown variant",
    ] {
        if let Some(rest) = message.strip_prefix(kind) {
            let name = rest
                .strip_prefix(" `")
                .and_then(|rest| rest.split('`').next())
                .unwrap_or_default();
            if name.is_empty() {
                return kind.to_owned();
            }
            let mut end = name.len().min(QUOTED_NAME_MAX);
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            let cut = if end < name.len() { "..." } else { "" };
            return format!("{kind} `{}{cut}`", name.get(..end).unwrap_or_default());
        }
    }
    let kind = if message.starts_with("invalid type") {
        "a value has the wrong type"
    } else if message.starts_with("invalid value") {
        "a value is out of range or not allowed"
    } else if message.starts_with("invalid length") {
        "a list or string has the wrong length"
    } else {
        "the data does not fit the expected shape"
    };
    kind.to_owned()
}

/// An enum of rejections: status, response, `Display` and `source` delegate to the variant.
macro_rules! composite_rejection {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident($inner:ty) ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant($inner) ),+
        }

        impl $name {
            /// The status the response will carry.
            pub fn status(&self) -> StatusCode {
                match self {
                    $( $name::$variant(inner) => inner.status() ),+
                }
            }
        }

        impl IntoResponse for $name {
            fn into_response(self) -> Response {
                match self {
                    $( $name::$variant(inner) => inner.into_response() ),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( $name::$variant(inner) => fmt::Display::fmt(inner, f) ),+
                }
            }
        }

        // The variant's own message is this error's message, so `source` skips a level
        // rather than repeat it in an error chain.
        impl StdError for $name {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                match self {
                    $( $name::$variant(inner) => inner.source() ),+
                }
            }
        }

        $(
            impl From<$inner> for $name {
                fn from(inner: $inner) -> $name {
                    $name::$variant(inner)
                }
            }
        )+
    };
}

composite_rejection! {
    /// Why [`Request::bytes`](crate::Request::bytes) failed.
    pub enum BytesRejection {
        /// `413`: the body is longer than the limit.
        PayloadTooLarge(PayloadTooLarge),
        /// `400`: the body could not be read.
        BodyReadFailed(BodyReadFailed),
    }
}

composite_rejection! {
    /// Why [`Request::text`](crate::Request::text) failed.
    pub enum TextRejection {
        /// `413`: the body is longer than the limit.
        PayloadTooLarge(PayloadTooLarge),
        /// `400`: the body could not be read.
        BodyReadFailed(BodyReadFailed),
        /// `400`: the body is not UTF-8.
        InvalidUtf8(InvalidUtf8),
    }
}

composite_rejection! {
    /// Why [`Request::json`](crate::Request::json) failed.
    pub enum JsonRejection {
        /// `413`: the body is longer than the limit.
        PayloadTooLarge(PayloadTooLarge),
        /// `400`: the body could not be read.
        BodyReadFailed(BodyReadFailed),
        /// `415`: the request declared a non-JSON `Content-Type`.
        UnsupportedContentType(UnsupportedContentType),
        /// `400`: the body is not JSON.
        Syntax(JsonSyntaxError),
        /// `422`: the JSON does not fit the target type.
        Data(JsonDataError),
    }
}

composite_rejection! {
    /// Any rejection, so that one handler can use `?` on several kinds of extraction.
    pub enum Rejection {
        /// From [`Request::query`](crate::Request::query).
        Query(QueryRejection),
        /// From [`Request::bytes`](crate::Request::bytes).
        Bytes(BytesRejection),
        /// From [`Request::text`](crate::Request::text).
        Text(TextRejection),
        /// From [`Request::json`](crate::Request::json).
        Json(JsonRejection),
        /// From [`Request::state`](crate::Request::state).
        MissingState(MissingState),
    }
}

impl From<BytesRejection> for TextRejection {
    fn from(rejection: BytesRejection) -> TextRejection {
        match rejection {
            BytesRejection::PayloadTooLarge(r) => TextRejection::PayloadTooLarge(r),
            BytesRejection::BodyReadFailed(r) => TextRejection::BodyReadFailed(r),
        }
    }
}

impl From<BytesRejection> for JsonRejection {
    fn from(rejection: BytesRejection) -> JsonRejection {
        match rejection {
            BytesRejection::PayloadTooLarge(r) => JsonRejection::PayloadTooLarge(r),
            BytesRejection::BodyReadFailed(r) => JsonRejection::BodyReadFailed(r),
        }
    }
}

impl JsonRejection {
    /// Syntax errors and early ends are `400`; valid JSON of the wrong shape is `422`.
    pub(crate) fn from_serde(source: serde_json::Error) -> JsonRejection {
        use serde_json::error::Category;
        match source.classify() {
            Category::Data => JsonRejection::Data(JsonDataError { source }),
            Category::Syntax | Category::Eof | Category::Io => {
                JsonRejection::Syntax(JsonSyntaxError { source })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::for_client;

    #[test]
    fn client_messages_keep_field_names_and_drop_input_and_types() {
        let cases = [
            (
                "missing field `qty` at line 1 column 12",
                "missing field `qty`",
            ),
            (
                "unknown field `colour`, expected `name` or `qty`",
                "unknown field `colour`",
            ),
            (
                "invalid type: string \"a secret\", expected u32 at line 1 column 9",
                "a value has the wrong type",
            ),
            (
                "invalid value: integer `300`, expected u8",
                "a value is out of range or not allowed",
            ),
            (
                "invalid type: map, expected struct Order",
                "a value has the wrong type",
            ),
            (
                "invalid digit found in string",
                "the data does not fit the expected shape",
            ),
        ];
        for (serde, client) in cases {
            assert_eq!(for_client(serde), client, "{serde}");
        }
        let long = format!("unknown field `{}`, expected `a`", "é".repeat(100));
        let shown = for_client(&long);
        assert!(
            shown.len() <= 15 + 64 + 4 && shown.ends_with("...`"),
            "{shown}"
        );
    }
}
