//! The engine's one error type.
//!
//! Every failure the engine can report is an [`Error`]: an opaque, one-word value with
//! predicates (`is_*`) for the cases callers act on. Do not depend on the `Display` text.

use std::fmt;

/// A boxed error from user code (a handler, a body, a service).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Whether a request body's error (an engine [`Error`] of any kind but `User`) is `first` or
/// one of its sources: a response body that failed because the request body it streams
/// failed (an echo of a broken upload) carries that error, which the engine has already
/// reported as the client's doing. A handler's own body errors are engine errors too, of
/// kind `User` (`Body` wraps them), and do not count.
pub(crate) fn request_body_error_among(first: Option<&(dyn std::error::Error + 'static)>) -> bool {
    let mut source = first;
    while let Some(cause) = source {
        if cause
            .downcast_ref::<Error>()
            .is_some_and(|err| err.kind() != Kind::User)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// An error from the Nucleus HTTP engine.
///
/// The framework maps these to responses: [`Error::is_body_too_large`] becomes
/// `413 Payload Too Large`, a malformed body becomes `400 Bad Request`.
pub struct Error {
    inner: Box<ErrorImpl>,
}

struct ErrorImpl {
    kind: Kind,
    cause: Option<BoxError>,
    /// The request head a parse error was found in, once it had left the read buffer (for
    /// the `malformed request` event's excerpt).
    head: Option<bytes::Bytes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The request head or body framing broke a rule of RFC 9112.
    Parse(Parse),
    /// The request body exceeded the configured limit (in bytes).
    BodyTooLarge(u64),
    /// The peer closed the connection before the message was complete.
    Incomplete,
    /// The connection's IO failed.
    Io,
    /// A handler, service or response body failed.
    User,
    /// The connection was not upgraded (the response was not `101`).
    NotUpgraded,
    /// A timeout or minimum rate fired.
    Timeout(Timeout),
    /// The peer broke an HTTP/2 rule, or the connection ended with `GOAWAY`.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    Protocol,
    /// The TLS handshake failed.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Tls,
}

/// Which timeout fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timeout {
    /// The request head did not arrive in time (`header_read_timeout`).
    HeaderRead,
    /// The request body arrived slower than `body_min_rate`.
    BodyRate,
    /// The client took the response slower than `send_min_rate`.
    SendRate,
    /// An HTTP/2 keep-alive `PING` went unanswered.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    Ping,
    /// The TLS handshake did not finish in time.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    TlsHandshake,
}

impl Timeout {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Timeout::HeaderRead => "header read timeout",
            Timeout::BodyRate => "request body too slow",
            Timeout::SendRate => "client reads too slowly",
            Timeout::Ping => "keep-alive ping unanswered",
            Timeout::TlsHandshake => "TLS handshake timeout",
        }
    }
}

/// Which rule of the wire format a message broke. Kept in one place so that statuses and
/// short client-facing messages stay consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parse {
    Method,
    RequestLine,
    LineEnding,
    Version,
    VersionUnsupported,
    Uri,
    UriTooLong,
    HeaderName,
    HeaderValue,
    TooManyHeaders,
    HeadTooLarge,
    Host,
    ContentLength,
    TransferEncoding,
    TransferCodingUnsupported,
    Expectation,
    ChunkSize,
    ChunkExtensionTooLarge,
    ChunkFraming,
    TrailersTooLarge,
}

impl Parse {
    /// The rule's name for logs and metrics.
    pub(crate) fn rule(self) -> &'static str {
        match self {
            Parse::Method => "method",
            Parse::RequestLine => "request_line",
            Parse::LineEnding => "line_ending",
            Parse::Version => "version",
            Parse::VersionUnsupported => "version_unsupported",
            Parse::Uri => "uri",
            Parse::UriTooLong => "uri_too_long",
            Parse::HeaderName => "header_name",
            Parse::HeaderValue => "header_value",
            Parse::TooManyHeaders => "too_many_headers",
            Parse::HeadTooLarge => "head_too_large",
            Parse::Host => "host",
            Parse::ContentLength => "content_length",
            Parse::TransferEncoding => "transfer_encoding",
            Parse::TransferCodingUnsupported => "transfer_coding_unsupported",
            Parse::Expectation => "expectation",
            Parse::ChunkSize => "chunk_size",
            Parse::ChunkExtensionTooLarge => "chunk_extension_too_large",
            Parse::ChunkFraming => "chunk_framing",
            Parse::TrailersTooLarge => "trailers_too_large",
        }
    }

    /// The configuration key of the limit this is, when it is a limit rather than a rule.
    pub(crate) fn limit(self) -> Option<&'static str> {
        match self {
            Parse::UriTooLong => Some("max_uri_len"),
            Parse::TooManyHeaders => Some("max_headers"),
            Parse::HeadTooLarge => Some("max_head_size"),
            Parse::ChunkExtensionTooLarge => Some("max_chunk_extensions"),
            Parse::TrailersTooLarge => Some("max_trailer_size"),
            _ => None,
        }
    }

    /// The status and the short body sent to the client. Never includes input or internals.
    pub(crate) fn status_and_reason(self) -> (http::StatusCode, &'static str) {
        use http::StatusCode as S;
        match self {
            Parse::Method => (S::BAD_REQUEST, "invalid method"),
            Parse::RequestLine => (S::BAD_REQUEST, "malformed request line"),
            Parse::LineEnding => (S::BAD_REQUEST, "invalid line ending"),
            Parse::Version => (S::BAD_REQUEST, "missing or malformed HTTP version"),
            Parse::VersionUnsupported => {
                (S::HTTP_VERSION_NOT_SUPPORTED, "HTTP version not supported")
            }
            Parse::Uri => (S::BAD_REQUEST, "invalid request target"),
            Parse::UriTooLong => (S::URI_TOO_LONG, "request target too long"),
            Parse::HeaderName => (S::BAD_REQUEST, "invalid header name"),
            Parse::HeaderValue => (S::BAD_REQUEST, "invalid header value"),
            Parse::TooManyHeaders => (S::REQUEST_HEADER_FIELDS_TOO_LARGE, "too many header fields"),
            Parse::HeadTooLarge => (
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request header fields too large",
            ),
            Parse::Host => (S::BAD_REQUEST, "missing, duplicate or invalid Host header"),
            Parse::ContentLength => (S::BAD_REQUEST, "invalid Content-Length"),
            Parse::TransferEncoding => (S::BAD_REQUEST, "invalid Transfer-Encoding"),
            Parse::TransferCodingUnsupported => {
                (S::NOT_IMPLEMENTED, "transfer coding not implemented")
            }
            Parse::Expectation => (S::EXPECTATION_FAILED, "unsupported expectation"),
            Parse::ChunkSize => (S::BAD_REQUEST, "invalid chunk size"),
            Parse::ChunkExtensionTooLarge => (S::BAD_REQUEST, "chunk extensions too large"),
            Parse::ChunkFraming => (S::BAD_REQUEST, "invalid chunked framing"),
            Parse::TrailersTooLarge => (
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "trailer fields too large",
            ),
        }
    }
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Error {
        Error {
            inner: Box::new(ErrorImpl {
                kind,
                cause: None,
                head: None,
            }),
        }
    }

    pub(crate) fn with<E: Into<BoxError>>(mut self, cause: E) -> Error {
        self.inner.cause = Some(cause.into());
        self
    }

    /// Attaches the head the error was found in (see `ErrorImpl::head`).
    pub(crate) fn in_head(mut self, head: bytes::Bytes) -> Error {
        self.inner.head = Some(head);
        self
    }

    /// The head attached by [`Error::in_head`].
    pub(crate) fn head(&self) -> Option<&[u8]> {
        self.inner.head.as_deref()
    }

    pub(crate) fn parse(parse: Parse) -> Error {
        Error::new(Kind::Parse(parse))
    }

    pub(crate) fn io(err: std::io::Error) -> Error {
        Error::new(Kind::Io).with(err)
    }

    /// An error from the `h2` crate: IO stays IO, everything else is the peer's protocol fault.
    #[cfg(feature = "http2")]
    pub(crate) fn h2(err: h2::Error) -> Error {
        let kind = if err.is_io() {
            Kind::Io
        } else {
            Kind::Protocol
        };
        Error::new(kind).with(err)
    }

    /// Wraps an error from user code (a handler, a response body, a service).
    pub fn user<E: Into<BoxError>>(err: E) -> Error {
        Error::new(Kind::User).with(err)
    }

    pub(crate) fn kind(&self) -> Kind {
        self.inner.kind
    }

    /// The request body was larger than the configured `max_body_size`.
    pub fn is_body_too_large(&self) -> bool {
        matches!(self.inner.kind, Kind::BodyTooLarge(_))
    }

    /// The body limit that was exceeded, in bytes, when [`Error::is_body_too_large`].
    pub fn body_limit(&self) -> Option<u64> {
        match self.inner.kind {
            Kind::BodyTooLarge(limit) => Some(limit),
            _ => None,
        }
    }

    /// The message broke a framing or syntax rule (a malformed chunk, a bad header, ...).
    pub fn is_parse(&self) -> bool {
        matches!(self.inner.kind, Kind::Parse(_))
    }

    /// The peer went away before the message was complete.
    pub fn is_incomplete(&self) -> bool {
        matches!(self.inner.kind, Kind::Incomplete)
    }

    /// A timeout or minimum transfer rate ended the request.
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout(_))
    }

    /// The connection's IO failed.
    pub fn is_io(&self) -> bool {
        matches!(self.inner.kind, Kind::Io)
    }

    /// The peer broke an HTTP/2 protocol rule (or we closed the connection on it).
    pub fn is_protocol(&self) -> bool {
        matches!(self.inner.kind, Kind::Protocol)
    }

    /// The TLS handshake failed or did not finish in time.
    pub fn is_tls(&self) -> bool {
        matches!(self.inner.kind, Kind::Tls)
    }

    /// The error came from user code.
    pub fn is_user(&self) -> bool {
        matches!(self.inner.kind, Kind::User)
    }

    /// The status a server should answer with when this error ends a request.
    pub fn status(&self) -> http::StatusCode {
        match self.inner.kind {
            Kind::Parse(p) => p.status_and_reason().0,
            Kind::BodyTooLarge(_) => http::StatusCode::PAYLOAD_TOO_LARGE,
            Kind::Incomplete => http::StatusCode::BAD_REQUEST,
            Kind::Timeout(_) => http::StatusCode::REQUEST_TIMEOUT,
            Kind::Protocol | Kind::Tls => http::StatusCode::BAD_REQUEST,
            Kind::Io | Kind::User | Kind::NotUpgraded => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut t = f.debug_tuple("nucleus_http::Error");
        t.field(&self.inner.kind);
        if let Some(cause) = &self.inner.cause {
            t.field(cause);
        }
        t.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.kind {
            Kind::Parse(p) => f.write_str(p.status_and_reason().1)?,
            Kind::BodyTooLarge(limit) => {
                write!(f, "request body exceeds the limit of {limit} bytes")?
            }
            Kind::Incomplete => f.write_str("connection closed before the message was complete")?,
            Kind::Io => f.write_str("connection IO error")?,
            Kind::User => f.write_str("user error")?,
            Kind::NotUpgraded => f.write_str("connection was not upgraded")?,
            Kind::Timeout(t) => f.write_str(t.as_str())?,
            Kind::Protocol => f.write_str("HTTP/2 protocol error")?,
            Kind::Tls => f.write_str("TLS handshake failed")?,
        }
        if let Some(cause) = &self.inner.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .cause
            .as_ref()
            .map(|c| &**c as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_word() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn too_large_reports_its_limit_and_413() {
        let err = Error::new(Kind::BodyTooLarge(1024));
        assert!(err.is_body_too_large());
        assert_eq!(err.body_limit(), Some(1024));
        assert_eq!(err.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        assert!(err.to_string().contains("1024"));
    }
}
