//! Response head writer and body encoders (Content-Length, chunked, close-delimited).

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Version};

use super::io::WriteBuf;
use crate::date;
use crate::error::{Error, Kind};
use crate::observe::RequestId;

/// What the encoder needs to know about the request being answered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answering {
    pub(crate) version: Version,
    pub(crate) is_head: bool,
    /// Whether the connection may persist; cleared here when the response forbids it.
    pub(crate) keep_alive: bool,
}

/// The request ID header to add to a response unless the handler set it already.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp<'a> {
    pub(crate) name: &'a HeaderName,
    pub(crate) id: &'a RequestId,
}

/// How the body after the head is delimited.
#[derive(Debug)]
pub(crate) enum BodyEncoder {
    /// No body bytes go out (HEAD, 1xx, 204, 304).
    Skip,
    Length(u64),
    Chunked,
    /// HTTP/1.0 with unknown length: the body ends when the connection closes.
    CloseDelimited,
}

/// Writes the status line and header section; returns the body encoder.
///
/// `exact_len` is the body's exact size when known (`size_hint().exact()`): it wins over any
/// Content-Length the handler set, because it is what will actually be sent.
pub(crate) fn write_head(
    out: &mut WriteBuf,
    status: StatusCode,
    headers: &HeaderMap,
    exact_len: Option<u64>,
    answering: &mut Answering,
    stamp: Option<Stamp<'_>>,
) -> BodyEncoder {
    let dst = out.tail();
    write_status_line(dst, status);
    let no_body_status = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let switching = status == StatusCode::SWITCHING_PROTOCOLS;

    // One pass over the handler's headers: the framing and persistence fields are noted on
    // the way (no hash lookups), everything else is written as it is.
    let (mut has_date, mut has_server, mut user_len) = (false, false, None);
    let mut stamped = false;
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH {
            user_len = parse_len(value.as_bytes());
            continue;
        }
        if name == header::CONNECTION {
            if has_token(value, "close") {
                answering.keep_alive = false;
            }
            if switching {
                write_field(dst, b"connection", value.as_bytes());
            }
            continue;
        }
        if name == header::TRANSFER_ENCODING {
            continue;
        }
        has_date |= name == header::DATE;
        has_server |= name == header::SERVER;
        stamped |= stamp.is_some_and(|s| name == s.name);
        write_field(dst, name.as_str().as_bytes(), value.as_bytes());
    }

    let encoder = if no_body_status {
        // RFC 9110 §8.6: a 304 may carry the Content-Length the 200 would have had.
        if let (StatusCode::NOT_MODIFIED, Some(len)) = (status, user_len) {
            write_len(dst, len);
        }
        BodyEncoder::Skip
    } else if let Some(len) = exact_len.or(user_len) {
        write_len(dst, len);
        if answering.is_head {
            BodyEncoder::Skip
        } else {
            BodyEncoder::Length(len)
        }
    } else if answering.version == Version::HTTP_11 {
        dst.extend_from_slice(b"transfer-encoding: chunked\r\n");
        if answering.is_head {
            BodyEncoder::Skip
        } else {
            BodyEncoder::Chunked
        }
    } else if answering.is_head {
        BodyEncoder::Skip
    } else {
        answering.keep_alive = false;
        BodyEncoder::CloseDelimited
    };

    if switching {
        // The handler's `Connection: upgrade` went out in the loop above.
    } else if !answering.keep_alive {
        dst.extend_from_slice(b"connection: close\r\n");
    } else if answering.version == Version::HTTP_10 {
        dst.extend_from_slice(b"connection: keep-alive\r\n");
    }
    if let (Some(stamp), false) = (stamp, stamped) {
        write_field(dst, stamp.name.as_str().as_bytes(), stamp.id.as_bytes());
    }
    if !has_date && !has_server {
        // The usual ending, `Date` and `Server` included, in one copy.
        date::extend_closing_fields(dst);
    } else {
        if !has_date {
            dst.extend_from_slice(b"date: ");
            date::extend(dst);
            dst.extend_from_slice(b"\r\n");
        }
        if !has_server {
            // No version: it only helps attackers pick exploits.
            dst.extend_from_slice(b"server: nucleus\r\n");
        }
        dst.extend_from_slice(b"\r\n");
    }
    out.commit();
    encoder
}

/// A short plain-text response the engine answers itself (health checks), keep-alive aware.
pub(crate) fn write_text(
    out: &mut WriteBuf,
    status: StatusCode,
    body: &'static str,
    answering: &mut Answering,
    stamp: Option<Stamp<'_>>,
) {
    let mut headers = HeaderMap::with_capacity(1);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let mut encoder = write_head(
        out,
        status,
        &headers,
        Some(body.len() as u64),
        answering,
        stamp,
    );
    let _ = encoder.data(out, Bytes::from_static(body.as_bytes()), usize::MAX);
}

/// A complete short response for errors the engine answers itself: plain text, closes.
pub(crate) fn write_error(out: &mut WriteBuf, status: StatusCode, body: &str) {
    let dst = out.tail();
    write_status_line(dst, status);
    dst.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\n");
    write_len(dst, body.len() as u64);
    dst.extend_from_slice(b"connection: close\r\ndate: ");
    date::extend(dst);
    dst.extend_from_slice(b"\r\nserver: nucleus\r\n\r\n");
    dst.extend_from_slice(body.as_bytes());
    out.commit();
}

impl BodyEncoder {
    /// Encodes one data frame.
    pub(crate) fn data(
        &mut self,
        out: &mut WriteBuf,
        data: Bytes,
        copy_threshold: usize,
    ) -> Result<(), Error> {
        match self {
            BodyEncoder::Skip => {}
            BodyEncoder::Length(remaining) => {
                let len = data.len() as u64;
                if len > *remaining {
                    return Err(Error::user("response body longer than its Content-Length"));
                }
                *remaining -= len;
                out.push(data, copy_threshold);
            }
            BodyEncoder::Chunked => {
                if data.is_empty() {
                    return Ok(());
                }
                let mut size = [0u8; 16];
                let digits = hex(data.len(), &mut size);
                out.extend(digits);
                out.extend(b"\r\n");
                out.push(data, copy_threshold);
                out.extend(b"\r\n");
            }
            BodyEncoder::CloseDelimited => out.push(data, copy_threshold),
        }
        Ok(())
    }

    /// Ends the body; with trailers when chunked (dropped otherwise: no way to send them).
    pub(crate) fn finish(
        &mut self,
        out: &mut WriteBuf,
        trailers: Option<&HeaderMap>,
    ) -> Result<(), Error> {
        match self {
            BodyEncoder::Length(remaining) if *remaining > 0 => {
                return Err(
                    Error::new(Kind::User).with("response body shorter than its Content-Length")
                );
            }
            BodyEncoder::Chunked => {
                let dst = out.tail();
                dst.extend_from_slice(b"0\r\n");
                let sendable = trailers
                    .into_iter()
                    .flatten()
                    .filter(|(name, _)| crate::trailers::allowed(name));
                for (name, value) in sendable {
                    write_field(dst, name.as_str().as_bytes(), value.as_bytes());
                }
                dst.extend_from_slice(b"\r\n");
                out.commit();
            }
            _ => {}
        }
        *self = BodyEncoder::Skip;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn is_close_delimited(&self) -> bool {
        matches!(self, BodyEncoder::CloseDelimited)
    }
}

fn write_status_line(dst: &mut Vec<u8>, status: StatusCode) {
    // The common case as one static copy.
    if status == StatusCode::OK {
        dst.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        return;
    }
    dst.extend_from_slice(b"HTTP/1.1 ");
    dst.extend_from_slice(status.as_str().as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    dst.extend_from_slice(b"\r\n");
}

fn write_field(dst: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    dst.extend_from_slice(name);
    dst.extend_from_slice(b": ");
    dst.extend_from_slice(value);
    dst.extend_from_slice(b"\r\n");
}

fn write_len(dst: &mut Vec<u8>, len: u64) {
    // One copy of the whole field instead of three.
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(len).as_bytes();
    let mut field = [0u8; 40];
    let (name, rest) = field.split_at_mut(16);
    name.copy_from_slice(b"content-length: ");
    let n = digits.len();
    if let Some(slot) = rest.get_mut(..n + 2) {
        slot[..n].copy_from_slice(digits);
        slot[n..].copy_from_slice(b"\r\n");
        dst.extend_from_slice(field.get(..16 + n + 2).unwrap_or_default());
    }
}

fn parse_len(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

fn hex(mut n: usize, buf: &mut [u8; 16]) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = DIGITS.get(n & 0xf).copied().unwrap_or(b'0');
        }
        n >>= 4;
        if n == 0 || i == 0 {
            break;
        }
    }
    buf.get(i..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn head(
        status: StatusCode,
        headers: HeaderMap,
        len: Option<u64>,
        answering: &mut Answering,
    ) -> (String, BodyEncoder) {
        let mut out = WriteBuf::with_capacity(256);
        let enc = write_head(&mut out, status, &headers, len, answering, None);
        let mut bytes = Vec::new();
        futures_util::FutureExt::now_or_never(std::future::poll_fn(|cx| {
            out.poll_flush(&mut bytes, cx)
        }))
        .unwrap()
        .unwrap();
        (String::from_utf8(bytes).unwrap(), enc)
    }

    fn ka11() -> Answering {
        Answering {
            version: Version::HTTP_11,
            is_head: false,
            keep_alive: true,
        }
    }

    #[test]
    fn exact_length_becomes_content_length_and_replaces_the_handlers() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let (text, enc) = head(StatusCode::OK, h, Some(13), &mut ka11());
        assert!(
            text.starts_with(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\ndate: "
            ),
            "{text}"
        );
        assert!(text.ends_with("server: nucleus\r\n\r\n"));
        assert!(!text.contains("999"));
        assert!(matches!(enc, BodyEncoder::Length(13)));
    }

    #[test]
    fn unknown_length_is_chunked_on_1_1_and_close_delimited_on_1_0() {
        let (text, enc) = head(StatusCode::OK, HeaderMap::new(), None, &mut ka11());
        assert!(text.contains("transfer-encoding: chunked\r\n"));
        assert!(matches!(enc, BodyEncoder::Chunked));
        let mut a = Answering {
            version: Version::HTTP_10,
            is_head: false,
            keep_alive: true,
        };
        let (text, enc) = head(StatusCode::OK, HeaderMap::new(), None, &mut a);
        assert!(!text.contains("transfer-encoding"));
        assert!(text.contains("connection: close\r\n"));
        assert!(enc.is_close_delimited());
        assert!(!a.keep_alive);
    }

    #[test]
    fn head_keeps_the_length_and_skips_the_body() {
        let mut a = Answering {
            is_head: true,
            ..ka11()
        };
        let (text, enc) = head(StatusCode::OK, HeaderMap::new(), Some(13), &mut a);
        assert!(text.contains("content-length: 13\r\n"));
        assert!(matches!(enc, BodyEncoder::Skip));
    }

    #[test]
    fn no_body_statuses_carry_no_framing() {
        for status in [
            StatusCode::NO_CONTENT,
            StatusCode::NOT_MODIFIED,
            StatusCode::CONTINUE,
        ] {
            let (text, enc) = head(status, HeaderMap::new(), Some(0), &mut ka11());
            assert!(!text.contains("content-length"), "{text}");
            assert!(!text.contains("transfer-encoding"), "{text}");
            assert!(matches!(enc, BodyEncoder::Skip));
        }
    }

    #[test]
    fn handler_close_is_honoured_and_1_0_keep_alive_is_announced() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        let mut a = ka11();
        let (text, _) = head(StatusCode::OK, h, Some(0), &mut a);
        assert!(text.contains("connection: close\r\n"));
        assert!(!a.keep_alive);
        let mut a = Answering {
            version: Version::HTTP_10,
            is_head: false,
            keep_alive: true,
        };
        let (text, _) = head(StatusCode::OK, HeaderMap::new(), Some(0), &mut a);
        assert!(text.contains("connection: keep-alive\r\n"));
    }

    #[test]
    fn chunked_framing_and_trailers() {
        let mut out = WriteBuf::with_capacity(64);
        let mut enc = BodyEncoder::Chunked;
        enc.data(&mut out, Bytes::from_static(b"hello"), 1024)
            .unwrap();
        enc.data(&mut out, Bytes::from(vec![b'x'; 300]), 1024)
            .unwrap();
        let mut t = HeaderMap::new();
        t.insert("x-sum", HeaderValue::from_static("1"));
        // May not be sent as trailers (RFC 9110 §6.5.1): dropped.
        t.insert("content-length", HeaderValue::from_static("100"));
        t.insert("host", HeaderValue::from_static("elsewhere"));
        enc.finish(&mut out, Some(&t)).unwrap();
        let mut bytes = Vec::new();
        futures_util::FutureExt::now_or_never(std::future::poll_fn(|cx| {
            out.poll_flush(&mut bytes, cx)
        }))
        .unwrap()
        .unwrap();
        let expected = format!(
            "5\r\nhello\r\n12c\r\n{}\r\n0\r\nx-sum: 1\r\n\r\n",
            "x".repeat(300)
        );
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn length_mismatches_are_errors() {
        let mut out = WriteBuf::with_capacity(64);
        let mut enc = BodyEncoder::Length(3);
        assert!(enc
            .data(&mut out, Bytes::from_static(b"toolong"), 1024)
            .is_err());
        let mut enc = BodyEncoder::Length(3);
        enc.data(&mut out, Bytes::from_static(b"ab"), 1024).unwrap();
        assert!(enc.finish(&mut out, None).is_err());
    }
}
