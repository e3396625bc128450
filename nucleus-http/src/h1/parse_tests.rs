#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::BytesMut;
use http::{Method, StatusCode, Version};

use super::{is_reg_name_char, parse_head, valid_host, Framing, ParsedHead};
use crate::Config;

fn parse(input: &[u8]) -> Result<Option<ParsedHead>, StatusCode> {
    let mut buf = BytesMut::from(input);
    parse_head(&mut buf, &Config::default()).map_err(|e| e.status())
}

fn ok(input: &[u8]) -> ParsedHead {
    match parse(input) {
        Ok(Some(head)) => head,
        other => panic!(
            "expected a head for {:?}, got {:?}",
            String::from_utf8_lossy(input),
            other.map(|_| ())
        ),
    }
}

fn status(input: &[u8]) -> StatusCode {
    match parse(input) {
        Err(status) => status,
        Ok(_) => panic!("expected an error for {:?}", String::from_utf8_lossy(input)),
    }
}

#[test]
fn simple_get_parses_and_splits_off_the_head() {
    let mut buf =
        BytesMut::from(&b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\nNEXT"[..]);
    let head = parse_head(&mut buf, &Config::default()).unwrap().unwrap();
    assert_eq!(head.method, Method::GET);
    assert_eq!(head.uri.path(), "/a");
    assert_eq!(head.uri.query(), Some("b=c"));
    assert_eq!(head.version, Version::HTTP_11);
    assert_eq!(head.headers["user-agent"], "t");
    assert_eq!(head.framing, Framing::None);
    assert!(head.keep_alive);
    assert_eq!(&buf[..], b"NEXT");
}

#[test]
fn partial_heads_wait_for_more() {
    for input in [
        &b""[..],
        b"GET",
        b"GET / HTTP/1.1\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n",
    ] {
        assert!(
            matches!(parse(input), Ok(None)),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn any_method_token_is_accepted() {
    for m in [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE", "M-SEARCH",
    ] {
        let head = ok(format!("{m} / HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(head.method.as_str(), m);
    }
}

#[test]
fn target_forms() {
    assert_eq!(
        ok(b"GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n")
            .uri
            .path(),
        "/p"
    );
    assert_eq!(ok(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").uri.path(), "*");
    assert!(ok(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").upgrade);
    assert_eq!(
        status(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(b"GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n"),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(b"GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        StatusCode::BAD_REQUEST
    );
    // Userinfo is an error (RFC 9110 §4.2.4); an `@` in the path is not userinfo.
    for bad in [
        "GET http://u:p@x/ HTTP/1.1",
        "GET http://trusted@evil/ HTTP/1.1",
        "CONNECT u@x:443 HTTP/1.1",
    ] {
        let input = format!("{bad}\r\nHost: x\r\n\r\n");
        assert_eq!(status(input.as_bytes()), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        ok(b"GET /users/@me HTTP/1.1\r\nHost: x\r\n\r\n").uri.path(),
        "/users/@me"
    );
    assert_eq!(
        ok(b"GET http://x/@me HTTP/1.1\r\nHost: x\r\n\r\n")
            .uri
            .path(),
        "/@me"
    );
}

#[test]
fn remembered_targets_parse_as_they_did_the_first_time() {
    // The parser keeps targets it sees twice (h1/memo.rs); from the third time on they come
    // from the memo. Every form, valid or not, must get the same answer every time, and a
    // target kept for a GET must not let CONNECT (which needs the authority form) through.
    let targets = [
        "/",
        "/a",
        "/json",
        "/api/v1/users/12345/orders?p=2",
        "/exactly-thirty-two-bytes-long-x",
        "/thirty-three-bytes-long-path-xyz",
        "/with%20escape?q=%41&r",
        "//double",
        "/q?",
        "*",
        "http://example.com/p?q",
        "example.com:443",
    ];
    for method in ["GET", "POST", "OPTIONS", "CONNECT"] {
        for target in targets {
            let input = format!("{method} {target} HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
            let first = parse(input.as_bytes()).map(|head| head.map(|h| h.uri));
            for _ in 0..3 {
                let again = parse(input.as_bytes()).map(|head| head.map(|h| h.uri));
                assert_eq!(again, first, "{method} {target}");
            }
        }
    }
    assert_eq!(
        status(b"CONNECT /json HTTP/1.1\r\nHost: x\r\n\r\n"),
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn a_remembered_host_does_not_let_a_bad_one_through() {
    // Valid `Host` values are remembered (h1/memo.rs); a bad one is checked every time.
    for _ in 0..3 {
        assert!(parse(b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n").is_ok());
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: example.com:808000\r\n\r\n"),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n"),
            StatusCode::BAD_REQUEST
        );
    }
}

#[test]
fn malformed_request_lines_are_400() {
    let cases: &[&[u8]] = &[
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /  HTTP/1.1\r\nHost: x\r\n\r\n",
        b" GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET / HTTX/1.1\r\nHost: x\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
        b"GET / HTTP/1.1\rHost: x\r\n\r\n",
    ];
    for case in cases {
        assert_eq!(
            status(case),
            StatusCode::BAD_REQUEST,
            "{:?}",
            String::from_utf8_lossy(case)
        );
    }
}

#[test]
fn unknown_versions_are_505() {
    for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/3.0", "HTTP/0.9"] {
        let input = format!("GET / {v}\r\nHost: x\r\n\r\n");
        assert_eq!(
            status(input.as_bytes()),
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "{v}"
        );
    }
}

#[test]
fn version_status_does_not_depend_on_packet_boundaries() {
    // Found by the h1_parse fuzz target: a prefix ending inside the version was 400 while the
    // whole line was 505.
    assert!(matches!(parse(b"GET / HTTP/0."), Ok(None)));
    assert_eq!(
        status(b"GET / HTTP/0.1\r\nHost: x\r\n\r\n"),
        StatusCode::HTTP_VERSION_NOT_SUPPORTED
    );
    assert_eq!(
        status(b"GET / HTTP/0.x\r\nHost: x\r\n\r\n"),
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn bare_lf_line_endings_parse_consistently() {
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\nHost: x\n\nGET /2 HTTP/1.1\nHost: x\n\n"[..]);
    let first = parse_head(&mut buf, &Config::default()).unwrap().unwrap();
    let second = parse_head(&mut buf, &Config::default()).unwrap().unwrap();
    assert_eq!((first.uri.path(), second.uri.path()), ("/", "/2"));
    assert!(buf.is_empty());
}

#[test]
fn leading_empty_lines_are_skipped() {
    assert_eq!(
        ok(b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").uri.path(),
        "/"
    );
}

#[test]
fn host_rules() {
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), StatusCode::BAD_REQUEST);
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
        StatusCode::BAD_REQUEST
    );
    ok(b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
    ok(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
    ok(b"GET / HTTP/1.1\r\nHost:\r\n\r\n");
    ok(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    ok(b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    // pct-encoded: `%` and two hex digits, anywhere in the name.
    ok(b"GET / HTTP/1.1\r\nHost: caf%C3%a9.example:80\r\n\r\n");
    ok(b"GET / HTTP/1.1\r\nHost: %41\r\n\r\n");
    for bad in [
        "a%zz",
        "a%4",
        "a%",
        "%",
        "a%4:80",
        "a%%41",
        "a:b:c",
        "[::1",
        "[::1]x",
        "a:99999999",
        "a:8o",
        "a,b\"c",
        "<x>",
        "a b",
    ] {
        let input = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
        assert_eq!(status(input.as_bytes()), StatusCode::BAD_REQUEST, "{bad}");
    }
    ok(b"GET / HTTP/1.0\r\n\r\n");
}

#[test]
fn header_syntax_violations_are_400() {
    let cases: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nFoo\t: bar\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nFoo: bar\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nFoo: a\x01b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nFoo: a\x7fb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nF\x01o: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nFoo: a\rb\r\n\r\n",
    ];
    for case in cases {
        assert_eq!(
            status(case),
            StatusCode::BAD_REQUEST,
            "{:?}",
            String::from_utf8_lossy(case)
        );
    }
}

#[test]
fn content_length_rules() {
    assert_eq!(
        ok(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n").framing,
        Framing::Length(5)
    );
    assert_eq!(
        ok(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").framing,
        Framing::None
    );
    assert_eq!(
        ok(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n").framing,
        Framing::Length(5)
    );
    // A list of one value repeated is the same as repeated fields (RFC 9110 §8.6).
    for same in ["5,5", "5, 5", "5 ,\t5, 5"] {
        let input = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {same}\r\n\r\n");
        assert_eq!(ok(input.as_bytes()).framing, Framing::Length(5), "{same:?}");
    }
    for bad in [
        "+5",
        "-5",
        "5 5",
        "5,6",
        "5, 6",
        "5,,5",
        ",5",
        "5,",
        "5, +5",
        "0x5",
        "",
        "99999999999999999999",
        "5a",
    ] {
        let input = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {bad}\r\n\r\n");
        assert_eq!(status(input.as_bytes()), StatusCode::BAD_REQUEST, "{bad:?}");
    }
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\nContent-Length: 6\r\n\r\n"),
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn transfer_encoding_rules() {
    assert_eq!(
        ok(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").framing,
        Framing::Chunked
    );
    assert_eq!(
        ok(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n").framing,
        Framing::Chunked
    );
    let bad_400: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
    ];
    for case in bad_400 {
        assert_eq!(
            status(case),
            StatusCode::BAD_REQUEST,
            "{:?}",
            String::from_utf8_lossy(case)
        );
    }
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        StatusCode::NOT_IMPLEMENTED
    );
}

#[test]
fn limits_map_to_414_431_413() {
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    assert_eq!(status(long.as_bytes()), StatusCode::URI_TOO_LONG);
    let unterminated = format!("GET /{}", "a".repeat(9000));
    assert_eq!(status(unterminated.as_bytes()), StatusCode::URI_TOO_LONG);
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let input = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    assert_eq!(
        status(input.as_bytes()),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n", "v".repeat(70_000));
    assert_eq!(
        status(big.as_bytes()),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n"),
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[test]
fn many_headers_fit_when_configured() {
    let config = Config {
        max_headers: 300,
        ..Config::default()
    };
    let many: String = (0..250).map(|i| format!("X-{i}: v\r\n")).collect();
    let mut buf = BytesMut::from(format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes());
    let head = parse_head(&mut buf, &config).unwrap().unwrap();
    assert_eq!(head.headers.len(), 251);
}

#[test]
fn persistence_rules() {
    assert!(ok(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
    assert!(ok(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
}

#[test]
fn expectations() {
    assert!(
        ok(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
            .expect_continue
    );
    assert!(
        !ok(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
            .expect_continue
    );
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n"),
        StatusCode::EXPECTATION_FAILED
    );
}

#[test]
fn upgrade_needs_connection_token_and_header() {
    assert!(
        ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").upgrade
    );
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\n\r\n").upgrade);
}

#[test]
fn header_values_are_trimmed_and_shared() {
    let head = ok(b"GET / HTTP/1.1\r\nHost: x\r\nX-A:   spaced value \t\r\n\r\n");
    assert_eq!(head.headers["x-a"], "spaced value");
}

mod properties {
    use proptest::prelude::*;

    use super::super::{fuzz_parse, summarize};
    use crate::Config;

    fn request() -> impl Strategy<Value = String> {
        let method = prop::sample::select(vec![
            "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE",
        ]);
        let path = "/[a-zA-Z0-9._~/-]{0,40}(\\?[a-z0-9=&]{0,20})?";
        let headers = prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", "[ -~]{0,30}"), 0..8);
        let eol = prop::sample::select(vec!["\r\n", "\n"]);
        (method, path, headers, eol).prop_map(|(m, p, hs, eol)| {
            let mut req = format!("{m} {p} HTTP/1.1{eol}Host: example.com{eol}");
            for (k, v) in hs {
                if k.eq_ignore_ascii_case("host")
                    || k.eq_ignore_ascii_case("content-length")
                    || k.eq_ignore_ascii_case("transfer-encoding")
                    || k.eq_ignore_ascii_case("expect")
                {
                    continue;
                }
                req.push_str(&format!("{k}: {}{eol}", v.trim()));
            }
            req.push_str(eol);
            req
        })
    }

    proptest! {
        #[test]
        fn valid_requests_parse_the_same_split_at_every_byte(req in request()) {
            let config = Config::default();
            let whole = summarize(&mut bytes::BytesMut::from(req.as_bytes()), &config);
            prop_assert!(!whole.starts_with("error") && whole != "incomplete", "{whole} for {req:?}");
            for at in 0..req.len() {
                let mut buf = bytes::BytesMut::from(&req.as_bytes()[..at]);
                prop_assert_eq!(summarize(&mut buf, &config), "incomplete");
                buf.extend_from_slice(&req.as_bytes()[at..]);
                prop_assert_eq!(&summarize(&mut buf, &config), &whole);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512)) {
            fuzz_parse(&input);
        }
    }
}

/// The host rule as written before the one-pass version: the host before the last colon,
/// made of reg-name characters and `%XX` triplets, the port digits.
fn valid_host_by_the_rule(value: &[u8]) -> bool {
    if value.first() == Some(&b'[') {
        return valid_host(value);
    }
    let (host, port) = match value.iter().rposition(|&b| b == b':') {
        Some(colon) => (&value[..colon], &value[colon + 1..]),
        None => (value, &b""[..]),
    };
    let mut i = 0;
    while i < host.len() {
        if host[i] == b'%' {
            if !(i + 2 < host.len()
                && host[i + 1].is_ascii_hexdigit()
                && host[i + 2].is_ascii_hexdigit())
            {
                return false;
            }
            i += 3;
        } else if is_reg_name_char(host[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    port.len() <= 5 && port.iter().all(u8::is_ascii_digit)
}

proptest::proptest! {
    #[test]
    fn one_pass_host_check_agrees_with_the_rule(
        value in proptest::collection::vec(
            proptest::prop_oneof![
                // Mostly what hosts and ports are made of, so that colons and digits meet.
                8 => proptest::sample::select(b"a9:.%".to_vec()),
                1 => proptest::sample::select(b"-_~%!$&'()*+,;=@/ []\x00\xff".to_vec()),
                1 => proptest::prelude::any::<u8>(),
            ],
            0..16,
        )
    ) {
        proptest::prop_assert_eq!(valid_host(&value), valid_host_by_the_rule(&value));
    }
}

#[test]
fn field_value_bytes_are_the_ones_httparse_accepts() {
    // `field_value` relies on it: httparse accepts a byte in a field value exactly when
    // `HeaderValue` does.
    for b in 0..=255u8 {
        if b == b'\r' || b == b'\n' {
            continue; // they end the value
        }
        let mut input = b"GET / HTTP/1.1\r\nHost: x\r\nX-Probe: a".to_vec();
        input.push(b);
        input.extend_from_slice(b"a\r\n\r\n");
        let mut headers = [httparse::EMPTY_HEADER; 4];
        let tokenized = httparse::Request::new(&mut headers).parse(&input).is_ok();
        let valid = http::HeaderValue::from_bytes(&[b'a', b, b'a']).is_ok();
        assert_eq!(tokenized, valid, "byte {b:#04x}");
        // And the parser end to end: the value arrives whole, or the head is a 400.
        match parse(&input) {
            Ok(Some(head)) => assert_eq!(head.headers["x-probe"].as_bytes(), [b'a', b, b'a']),
            Ok(None) => panic!("byte {b:#04x}: incomplete"),
            Err(status) => {
                assert!(!valid, "byte {b:#04x}");
                assert_eq!(status, StatusCode::BAD_REQUEST);
            }
        }
    }
}
