//! Request head parsing: `httparse` tokenizes into a stack array, this module applies the
//! rules of RFC 9112 / RFC 9110 that decide framing, persistence and validity.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri, Version};

use super::memo::Memo;
use crate::error::{Error, Kind, Parse};
use crate::observe::Details;
use crate::Config;

/// Header slots kept on the stack; a `max_headers` above this uses the heap.
const STACK_HEADERS: usize = 100;
/// Header positions kept on the stack (uninitialised until pushed: zeroing even 32 of them
/// cost ~50 instructions per request); 32 covers real requests (browsers send 10–20 fields)
/// and more spill to the heap.
type Indices = smallvec::SmallVec<[HeaderIndex; 32]>;

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: neither Content-Length nor Transfer-Encoding.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A parsed, validated request head.
#[derive(Debug)]
pub struct ParsedHead {
    /// The method; any token is accepted.
    pub method: Method,
    /// The request target, in origin-, absolute-, authority- (CONNECT) or asterisk-form.
    pub uri: Uri,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields, values sharing the receive buffer (no copy).
    pub headers: HeaderMap,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the client allows the connection to persist after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// `Connection: upgrade` with an `Upgrade` header (or CONNECT).
    pub upgrade: bool,
}

/// Parses one request head from the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed (and the limits allow waiting for them). On
/// success the head is split off `buf`, which then starts at the body or the next request.
///
/// # Errors
///
/// A [`crate::Error`] whose `status()` is the response to send: 400, 413, 414, 417, 431,
/// 501 or 505.
pub fn parse_head(buf: &mut BytesMut, config: &Config) -> Result<Option<ParsedHead>, Error> {
    parse_head_reusing(buf, config, &mut None, None)
}

/// [`parse_head`], filling `spare` (an empty map kept from an earlier exchange) instead of
/// allocating a new header map when it is large enough; and telling `details` (an access
/// log's) where the target and fields lie in the head.
pub(crate) fn parse_head_reusing(
    buf: &mut BytesMut,
    config: &Config,
    spare: &mut Option<HeaderMap>,
    details: Option<&mut Details>,
) -> Result<Option<ParsedHead>, Error> {
    let mut indices = Indices::new();
    let line = if config.max_headers <= STACK_HEADERS {
        // Uninitialised slots: zeroing 100 headers would cost more than parsing a small head.
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
        let slots = slots.get_mut(..config.max_headers).unwrap_or_default();
        tokenize(buf, config, slots, &mut indices)?
    } else {
        let mut slots = Vec::with_capacity(config.max_headers);
        slots.resize_with(config.max_headers, MaybeUninit::uninit);
        tokenize(buf, config, &mut slots, &mut indices)?
    };
    let Some(line) = line else { return Ok(None) };

    // One freeze for the whole head; the URI and every header value share it.
    let head = buf.split_to(line.len).freeze();
    // From here on the head has left the buffer: an error carries it, for the event's
    // excerpt (cloned only on the error path).
    let in_head = |err: Error| attach_head(err, &head);
    let mut memo = Memo::take();
    let uri = parse_uri(&head, line.path, &line.method, &mut memo).map_err(in_head)?;
    let mut rules = HeadRules::default();
    let mut headers = match spare.take() {
        Some(map) if map.capacity() >= line.count => map,
        _ => HeaderMap::with_capacity(line.count),
    };
    // The loop twice (`add_all` made for each `note`) rather than a test per field: a
    // connection nobody logs runs the same code as before the access log existed.
    let mut fields = Fields {
        head: &head,
        memo: &mut memo,
        rules: &mut rules,
        headers: &mut headers,
        version: line.version,
    };
    match details {
        None => fields.add_all(&indices, |_, _| {}).map_err(in_head)?,
        Some(details) => {
            details.hold(head.clone(), line.path);
            fields
                .add_all(&indices, |name, index| {
                    details.note_field(name, index.value)
                })
                .map_err(in_head)?;
        }
    }
    rules
        .finish(line.method, uri, line.version, headers, config)
        .map(Some)
        .map_err(in_head)
}

/// Out of line, so that the error path does not weigh on how the parse is inlined.
#[cold]
#[inline(never)]
fn attach_head(err: Error, head: &Bytes) -> Error {
    err.in_head(head.clone())
}

/// What the field loop of one head works with.
struct Fields<'a> {
    head: &'a Bytes,
    memo: &'a mut Memo,
    rules: &'a mut HeadRules,
    headers: &'a mut HeaderMap,
    version: Version,
}

impl Fields<'_> {
    /// Checks each field of the head against the rules, shows its name to `note`, and adds
    /// it to the header map.
    #[inline(always)]
    fn add_all(
        &mut self,
        indices: &[HeaderIndex],
        mut note: impl FnMut(&HeaderName, &HeaderIndex),
    ) -> Result<(), Error> {
        for index in indices {
            let name_bytes = self.head.get(index.name_range()).unwrap_or_default();
            let name = self
                .memo
                .header_name(name_bytes)
                .map_err(|_| Error::parse(Parse::HeaderName))?;
            let value = field_value(self.head.slice(index.value_range()));
            self.rules.observe(&name, &value, self.version, self.memo)?;
            note(&name, index);
            self.headers.append(name, value);
        }
        Ok(())
    }
}

/// A field value that `httparse` accepted, as a `HeaderValue`, without checking its bytes a
/// second time, as hyper's parser does: `HeaderValue::from_maybe_shared` tests every byte
/// again (1,250 instructions of a browser-like request, 7 %: `bench/check.sh`'s `browser`).
#[allow(unsafe_code)]
fn field_value(bytes: Bytes) -> HeaderValue {
    // SAFETY: `from_maybe_shared_unchecked` requires bytes a `HeaderValue` accepts: HTAB,
    // 0x20-0x7E and 0x80-0xFF. `bytes` is a field value that `httparse` tokenized, and it
    // accepts exactly those bytes in a value (its `HEADER_VALUE_MAP`; CR and LF end the
    // value). `field_value_bytes_are_the_ones_httparse_accepts` checks the two sets against
    // each other for every byte, so a change in either crate fails the tests; debug builds of
    // `http` also re-check each value in this function and panic on a mismatch.
    unsafe { HeaderValue::from_maybe_shared_unchecked(bytes) }
}

/// Byte ranges of one header inside the head, so values can be `Bytes` slices of it. `u32`
/// offsets: the head is bounded far below 4 GiB, and the array halves in size.
#[derive(Clone, Copy)]
struct HeaderIndex {
    name: (u32, u32),
    value: (u32, u32),
}

impl HeaderIndex {
    fn name_range(&self) -> std::ops::Range<usize> {
        self.name.0 as usize..self.name.1 as usize
    }

    fn value_range(&self) -> std::ops::Range<usize> {
        self.value.0 as usize..self.value.1 as usize
    }
}

/// What `httparse` found, as owned values and offsets, so the buffer borrow can end.
struct RequestLine {
    len: usize,
    method: Method,
    path: (u32, u32),
    version: Version,
    count: usize,
}

fn tokenize<'b>(
    bytes: &'b [u8],
    config: &Config,
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
    indices: &mut Indices,
) -> Result<Option<RequestLine>, Error> {
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(bytes, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return check_partial(bytes, config).map(|()| None),
        // Whether a bad version is 400 or 505 depends on the whole version token: wait for
        // the end of the line, so the answer does not depend on how the bytes were split.
        Err(httparse::Error::Version) if !bytes.contains(&b'\n') => {
            return check_partial(bytes, config).map(|()| None);
        }
        Err(err) => return Err(Error::parse(map_httparse(err, bytes))),
    };
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Err(Error::parse(Parse::RequestLine));
    };
    if len > config.max_head_size {
        return Err(Error::parse(Parse::HeadTooLarge));
    }
    if path.len() > config.max_uri_len {
        return Err(Error::parse(Parse::UriTooLong));
    }
    // The two methods nearly every request uses, without the general token check.
    let method = match method {
        "GET" => Method::GET,
        "POST" => Method::POST,
        other => Method::from_bytes(other.as_bytes()).map_err(|_| Error::parse(Parse::Method))?,
    };
    let base = bytes.as_ptr() as usize;
    // Offsets fit in u32: `len <= max_head_size`, checked above, and a head that large
    // was refused long before 4 GiB.
    let range = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        (start as u32, (start + s.len()) as u32)
    };
    let count = req.headers.len();
    indices.extend(req.headers.iter().map(|h| HeaderIndex {
        name: range(h.name.as_bytes()),
        value: range(h.value),
    }));
    let version = if version == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    Ok(Some(RequestLine {
        len,
        method,
        path: range(path.as_bytes()),
        version,
        count,
    }))
}

/// While the head is incomplete, decides whether waiting for more is still allowed.
fn check_partial(bytes: &[u8], config: &Config) -> Result<(), Error> {
    let line_done = bytes.contains(&b'\n');
    // Allowance for method, spaces and version around the target.
    if !line_done && bytes.len() > config.max_uri_len.saturating_add(64) {
        return Err(Error::parse(Parse::UriTooLong));
    }
    if bytes.len() >= config.max_head_size {
        return Err(Error::parse(if line_done {
            Parse::HeadTooLarge
        } else {
            Parse::UriTooLong
        }));
    }
    Ok(())
}

fn map_httparse(err: httparse::Error, bytes: &[u8]) -> Parse {
    match err {
        httparse::Error::HeaderName => Parse::HeaderName,
        httparse::Error::HeaderValue => Parse::HeaderValue,
        httparse::Error::NewLine => Parse::LineEnding,
        httparse::Error::TooManyHeaders => Parse::TooManyHeaders,
        httparse::Error::Version => classify_version(bytes),
        httparse::Error::Token | httparse::Error::Status => Parse::RequestLine,
    }
}

/// `HTTP/2.0` or `HTTP/1.2` is a well-formed version we do not speak: 505. Anything else in
/// that position (nothing, `HTTX/1.1`, `HTTP/1`) is a malformed request line: 400.
fn classify_version(bytes: &[u8]) -> Parse {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let parts = line.split(|&b| b == b' ').count();
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if parts == 3 && major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Parse::VersionUnsupported
        }
        [b'H', b'T', b'T', b'P', b'/', major] if parts == 3 && major.is_ascii_digit() => {
            Parse::VersionUnsupported
        }
        _ => Parse::Version,
    }
}

fn parse_uri(
    head: &Bytes,
    path: (u32, u32),
    method: &Method,
    memo: &mut Memo,
) -> Result<Uri, Error> {
    let range = path.0 as usize..path.1 as usize;
    // `/` or a target seen before; every method but CONNECT takes the origin form, which is
    // all the memo keeps.
    let miss = match head.get(range.clone()) {
        Some(raw) if method != Method::CONNECT => match memo.target(raw) {
            Ok(uri) => return Ok(uri),
            Err(miss) => Some(miss),
        },
        _ => None,
    };
    let raw = head.slice(range.clone());
    let is_asterisk = &raw[..] == b"*";
    let uri = Uri::from_maybe_shared(raw).map_err(|_| Error::parse(Parse::Uri))?;
    // RFC 9112 §3.2: which target form goes with which method.
    // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error (it is how a target passes for
    // another host: `http://trusted@evil/`); CONNECT's authority-form has no room for it.
    let no_userinfo = || {
        uri.authority()
            .is_none_or(|a| !a.as_str().bytes().any(|b| b == b'@'))
    };
    let valid = if method == Method::CONNECT {
        uri.authority().is_some()
            && no_userinfo()
            && uri.scheme().is_none()
            && uri
                .path_and_query()
                .is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/")
    } else if is_asterisk {
        method == Method::OPTIONS
    } else if let Some(scheme) = uri.scheme_str() {
        (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
            && uri.authority().is_some()
            && no_userinfo()
    } else {
        let origin_form = uri.path().starts_with('/');
        if let (true, Some(miss), Some(raw)) = (origin_form, miss, head.get(range)) {
            memo.parsed_target(miss, raw);
        }
        origin_form
    };
    if valid {
        Ok(uri)
    } else {
        Err(Error::parse(Parse::Uri))
    }
}

/// The header fields that decide framing and persistence, gathered while copying headers.
#[derive(Default)]
struct HeadRules {
    content_length: Option<u64>,
    transfer_encoding: bool,
    chunked_last: bool,
    chunked_count: u32,
    other_coding: bool,
    hosts: u32,
    host_valid: bool,
    conn_close: bool,
    conn_keep_alive: bool,
    conn_upgrade: bool,
    has_upgrade: bool,
    expect_continue: bool,
    expect_other: bool,
}

impl HeadRules {
    // Inlined in both of `parse_head_reusing`'s loops, as it was when there was one.
    #[inline(always)]
    fn observe(
        &mut self,
        name: &HeaderName,
        value: &HeaderValue,
        version: Version,
        memo: &mut Memo,
    ) -> Result<(), Error> {
        if name == header::CONTENT_LENGTH {
            // RFC 9110 §8.6: identical duplicates may be accepted, differing ones never;
            // the same for a list in one field (`42, 42`) as for repeated fields.
            let bytes = value.as_bytes();
            let len = match parse_content_length(bytes) {
                Ok(len) => len,
                Err(_) if bytes.contains(&b',') => parse_content_length_list(bytes)?,
                Err(err) => return Err(err),
            };
            if self.content_length.is_some_and(|prev| prev != len) {
                return Err(Error::parse(Parse::ContentLength));
            }
            self.content_length = Some(len);
        } else if name == header::TRANSFER_ENCODING {
            // RFC 9112 §6.1: HTTP/1.0 has no transfer codings; a 1.0 message carrying one is
            // a smuggling attempt or a broken intermediary.
            if version == Version::HTTP_10 {
                return Err(Error::parse(Parse::TransferEncoding));
            }
            self.transfer_encoding = true;
            for coding in value.as_bytes().split(|&b| b == b',') {
                let coding = trim(coding);
                if coding.is_empty() {
                    continue;
                }
                if coding.eq_ignore_ascii_case(b"chunked") {
                    self.chunked_count += 1;
                    self.chunked_last = true;
                } else {
                    self.other_coding = true;
                    self.chunked_last = false;
                }
            }
        } else if name == header::HOST {
            self.hosts += 1;
            self.host_valid = memo.valid_host(value.as_bytes(), valid_host);
        } else if name == header::CONNECTION {
            for token in value.as_bytes().split(|&b| b == b',') {
                let token = trim(token);
                if token.eq_ignore_ascii_case(b"close") {
                    self.conn_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    self.conn_keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    self.conn_upgrade = true;
                }
            }
        } else if name == header::UPGRADE {
            self.has_upgrade = true;
        } else if name == header::EXPECT {
            if value.as_bytes().eq_ignore_ascii_case(b"100-continue") {
                self.expect_continue = true;
            } else {
                self.expect_other = true;
            }
        }
        Ok(())
    }

    fn finish(
        self,
        method: Method,
        uri: Uri,
        version: Version,
        headers: HeaderMap,
        config: &Config,
    ) -> Result<ParsedHead, Error> {
        if version == Version::HTTP_11 && (self.hosts != 1 || !self.host_valid) {
            return Err(Error::parse(Parse::Host));
        }
        if version == Version::HTTP_10 && self.hosts > 1 {
            return Err(Error::parse(Parse::Host));
        }
        let framing = if self.transfer_encoding {
            // RFC 9112 §6.3 rule 3: both present is how requests are smuggled; reject outright.
            if self.content_length.is_some() || !self.chunked_last || self.chunked_count != 1 {
                return Err(Error::parse(Parse::TransferEncoding));
            }
            if self.other_coding {
                return Err(Error::parse(Parse::TransferCodingUnsupported));
            }
            Framing::Chunked
        } else {
            match self.content_length {
                Some(0) | None => Framing::None,
                Some(len) if len > config.max_body_size => {
                    return Err(Error::new(Kind::BodyTooLarge(config.max_body_size)));
                }
                Some(len) => Framing::Length(len),
            }
        };
        if self.expect_other && version == Version::HTTP_11 {
            return Err(Error::parse(Parse::Expectation));
        }
        let keep_alive = match version {
            Version::HTTP_11 => !self.conn_close,
            _ => self.conn_keep_alive && !self.conn_close,
        };
        let upgrade = (self.conn_upgrade && self.has_upgrade) || method == Method::CONNECT;
        Ok(ParsedHead {
            method,
            uri,
            version,
            headers,
            framing,
            keep_alive,
            // RFC 9110 §10.1.1: a 1.0 client cannot be waiting for a 100.
            expect_continue: self.expect_continue && version == Version::HTTP_11,
            upgrade,
        })
    }
}

/// `42, 42`: one value, repeated (RFC 9110 §8.6); anything else is a 400.
#[cold]
fn parse_content_length_list(value: &[u8]) -> Result<u64, Error> {
    let mut values = value.split(|&b| b == b',').map(trim);
    let len = parse_content_length(values.next().unwrap_or_default())?;
    for other in values {
        if parse_content_length(other)? != len {
            return Err(Error::parse(Parse::ContentLength));
        }
    }
    Ok(len)
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6): no sign, no spaces, no lists, no overflow.
/// HTTP/2 requests take the same rule (`h2/engine/request.rs`).
pub(crate) fn parse_content_length(value: &[u8]) -> Result<u64, Error> {
    if value.is_empty() || value.len() > 19 {
        return Err(Error::parse(Parse::ContentLength));
    }
    let mut len: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(Error::parse(Parse::ContentLength));
        }
        len = len * 10 + u64::from(b - b'0');
    }
    Ok(len)
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2); empty is allowed when the
/// target has no authority. One pass over a byte-class table instead of building an
/// `Authority`, which cost ~250 instructions per request.
pub(crate) fn valid_host(value: &[u8]) -> bool {
    let port = match value {
        [b'[', rest @ ..] => {
            // IP-literal: hex digits, colons, dots (and a zone/IPvFuture's unreserved chars).
            let Some(close) = rest.iter().position(|&b| b == b']') else {
                return false;
            };
            let (literal, after) = rest.split_at(close);
            let after = after.get(1..).unwrap_or_default();
            if literal.is_empty()
                || !literal.iter().all(|&b| {
                    b.is_ascii_hexdigit()
                        || matches!(b, b':' | b'.' | b'%' | b'-' | b'_' | b'~' | b'v' | b'V')
                })
            {
                return false;
            }
            match after {
                [] => return true,
                [b':', port @ ..] => port,
                _ => return false,
            }
        }
        // A table lookup a byte up to the first colon, then digits: every request has a
        // `Host`, and testing each byte against the character ranges (after a backwards
        // search for the colon) cost about 160 instructions for `127.0.0.1:8080`. A second
        // colon is not a digit, so the answer is the rule's: the host before the last colon
        // all reg-name bytes, the port after it digits. `%` is not in the table: it must
        // start a `%XX` triplet (pct-encoded), which the scan steps over.
        _ => {
            let mut host_len = 0;
            loop {
                let rest = value.get(host_len..).unwrap_or_default();
                host_len += rest
                    .iter()
                    .position(|&b| !REG_NAME.get(usize::from(b)).copied().unwrap_or(false))
                    .unwrap_or(rest.len());
                match value.get(host_len..) {
                    Some([b'%', high, low, ..])
                        if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() =>
                    {
                        host_len += 3;
                    }
                    _ => break,
                }
            }
            match value.get(host_len..) {
                Some([b':', port @ ..]) => port,
                Some([]) | None => &[],
                Some(_) => return false,
            }
        }
    };
    port.len() <= 5 && port.iter().all(u8::is_ascii_digit)
}

/// [`is_reg_name_char`] for every byte.
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_reg_name_char(b as u8);
        b += 1;
    }
    table
};

/// A byte that stands for itself in a reg-name: unreserved or a sub-delim.
/// `reg-name = *( unreserved / pct-encoded / sub-delims )`; `%` begins a pct-encoded triplet
/// and is checked with the two hex digits after it.
const fn is_reg_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// Fuzz entry point: parses `input` whole and fed in two pieces (split where the first byte
/// says), and checks that both give the same outcome and that nothing panics.
pub fn fuzz_parse(input: &[u8]) {
    let Some((&split, rest)) = input.split_first() else {
        return;
    };
    let config = Config::default();
    let whole = summarize(&mut BytesMut::from(rest), &config);
    let at = usize::from(split) % (rest.len() + 1);
    let mut buf = BytesMut::from(rest.get(..at).unwrap_or_default());
    let early = summarize(&mut buf, &config);
    let pieces = if early == "incomplete" {
        buf.extend_from_slice(rest.get(at..).unwrap_or_default());
        summarize(&mut buf, &config)
    } else {
        early
    };
    // A prefix may already fail where the whole is still incomplete only if the whole fails too.
    if whole != "incomplete" || pieces == "incomplete" {
        assert_eq!(whole, pieces, "split at {at} changed the parse");
    }
}

/// A comparable digest of one parse attempt.
pub fn summarize(buf: &mut BytesMut, config: &Config) -> String {
    let before = buf.len();
    match parse_head(buf, config) {
        Ok(None) => "incomplete".to_owned(),
        Ok(Some(h)) => format!(
            "{} {} {:?} {:?} {:?} ka={} ec={} up={} head_len={}",
            h.method,
            h.uri,
            h.version,
            h.headers,
            h.framing,
            h.keep_alive,
            h.expect_continue,
            h.upgrade,
            before - buf.len()
        ),
        Err(e) => format!("error {}", e.status()),
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
