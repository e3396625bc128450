//! Which fields may go out in a trailer section.
//!
//! RFC 9110 §6.5.1: a sender must not put a field in trailers unless the field's definition
//! allows it, because many fields have to be known before the content is read: framing
//! (`Content-Length`, `Transfer-Encoding`), routing (`Host`), request modifiers (`Expect`,
//! `Range`, the conditionals), authentication, response control and the content's format.
//! A client that merged such a trailer into the header section would act on a value that
//! arrived too late to be honest; a proxy could be steered by it.
//!
//! The engine drops those fields from every response's trailers, on HTTP/1.1 and HTTP/2
//! alike, so that a handler that passes a request's trailers through (an echo, a proxy)
//! cannot send them. The list follows Go's `net/http` (hop-by-hop fields, framing, routing,
//! authentication, caching and content metadata, every `If-*` field), with `Set-Cookie` and
//! `Upgrade` added. Request trailers reach the handler as they came, kept apart from the
//! header section, as RFC 9110 §6.5.2 allows.

use http::header::{self, HeaderName};
use http::HeaderMap;

/// Whether `name` may be sent in a trailer section.
pub(crate) fn allowed(name: &HeaderName) -> bool {
    let forbidden = matches!(
        *name,
        header::AUTHORIZATION
            | header::CACHE_CONTROL
            | header::CONNECTION
            | header::CONTENT_ENCODING
            | header::CONTENT_LENGTH
            | header::CONTENT_RANGE
            | header::CONTENT_TYPE
            | header::EXPECT
            | header::HOST
            | header::MAX_FORWARDS
            | header::PRAGMA
            | header::PROXY_AUTHENTICATE
            | header::PROXY_AUTHORIZATION
            | header::RANGE
            | header::SET_COOKIE
            | header::TE
            | header::TRAILER
            | header::TRANSFER_ENCODING
            | header::UPGRADE
            | header::WWW_AUTHENTICATE
    );
    !forbidden && !is_other_forbidden(name.as_str())
}

/// The forbidden names that `http` has no constant for, and the conditionals.
fn is_other_forbidden(name: &str) -> bool {
    matches!(name, "keep-alive" | "proxy-connection" | "realm") || name.starts_with("if-")
}

/// `trailers` without the fields that may not be sent there.
#[cfg_attr(not(feature = "http2"), allow(dead_code))] // HTTP/2 only
pub(crate) fn sendable(mut trailers: HeaderMap) -> HeaderMap {
    if trailers.keys().all(allowed) {
        return trailers;
    }
    let dropped: Vec<HeaderName> = trailers.keys().filter(|n| !allowed(n)).cloned().collect();
    for name in &dropped {
        trailers.remove(name);
    }
    trailers
}

#[cfg(test)]
mod tests {
    use http::header::{HeaderName, HeaderValue};
    use http::HeaderMap;

    use super::{allowed, sendable};

    #[test]
    fn framing_routing_and_conditionals_are_not_sendable_and_ordinary_fields_are() {
        for name in [
            "content-length",
            "transfer-encoding",
            "host",
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "authorization",
            "set-cookie",
            "content-type",
            "if-none-match",
            "if-match",
            "range",
            "expect",
        ] {
            assert!(!allowed(&HeaderName::from_static(name)), "{name}");
        }
        for name in [
            "grpc-status",
            "x-checksum",
            "server-timing",
            "etag",
            "digest",
        ] {
            assert!(allowed(&HeaderName::from_static(name)), "{name}");
        }
    }

    #[test]
    fn sendable_keeps_allowed_fields_with_all_their_values() {
        let mut trailers = HeaderMap::new();
        trailers.append("x-sum", HeaderValue::from_static("1"));
        trailers.append("x-sum", HeaderValue::from_static("2"));
        trailers.insert("content-length", HeaderValue::from_static("100"));
        trailers.insert("host", HeaderValue::from_static("evil"));
        let kept = sendable(trailers);
        assert_eq!(kept.len(), 2);
        let sums: Vec<_> = kept.get_all("x-sum").iter().collect();
        assert_eq!(sums, ["1", "2"]);
    }
}
