//! Malformed and adversarial request heads over real TCP: each gets the right status, a short
//! body, and a closed connection; the server carries on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufReader, Write};

use support::{connect, exchange, read_response, read_to_close, start};

fn rejects(input: &[u8], status: u16) {
    let server = start();
    let mut stream = connect(server.addr);
    stream.write_all(input).unwrap();
    let raw = read_to_close(&mut stream);
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with(&format!("HTTP/1.1 {status} ")),
        "input {:?} got {text:?}",
        String::from_utf8_lossy(input)
    );
    assert!(text.contains("connection: close\r\n"));
    assert!(text.contains("content-type: text/plain"));
    // Still serving others.
    assert_eq!(
        exchange(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
}

#[test]
fn request_line_without_version_is_400() {
    rejects(b"GET /\r\n\r\n", 400);
}

#[test]
fn unknown_version_is_505() {
    rejects(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
}

#[test]
fn extra_whitespace_in_request_line_is_400() {
    rejects(b"GET  /  HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

#[test]
fn missing_host_on_1_1_is_400() {
    rejects(b"GET / HTTP/1.1\r\n\r\n", 400);
}

#[test]
fn duplicate_host_is_400() {
    rejects(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

#[test]
fn host_with_a_broken_percent_escape_is_400() {
    rejects(b"GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400);
}

#[test]
fn whitespace_before_colon_is_400() {
    rejects(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
}

#[test]
fn obs_fold_is_400() {
    rejects(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n", 400);
}

#[test]
fn control_character_in_value_is_400() {
    rejects(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400);
}

#[test]
fn binary_garbage_is_400() {
    rejects(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400);
}

#[test]
fn one_mebibyte_request_target_is_414() {
    let mut input = b"GET /".to_vec();
    input.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    input.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    rejects(&input, 414);
}

#[test]
fn oversized_header_section_is_431() {
    let input = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(100_000)
    );
    rejects(input.as_bytes(), 431);
}

#[test]
fn too_many_headers_is_431() {
    let many: String = (0..150).map(|i| format!("X-{i}: v\r\n")).collect();
    rejects(
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
        431,
    );
}

#[test]
fn content_length_with_transfer_encoding_is_400_and_closes() {
    rejects(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    );
}

#[test]
fn differing_content_lengths_are_400() {
    rejects(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
    );
}

#[test]
fn non_digit_content_length_is_400() {
    rejects(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
        400,
    );
}

#[test]
fn final_coding_not_chunked_is_400() {
    rejects(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        400,
    );
}

#[test]
fn transfer_encoding_on_http_1_0_is_400() {
    rejects(
        b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn declared_body_over_the_limit_is_413_before_reading_it() {
    let server = start();
    let mut stream = connect(server.addr);
    // Only the head: the 413 must come without the body ever being sent.
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000000000\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let res = read_response(&mut reader, false).unwrap();
    assert_eq!(res.status, 413);
    assert!(res.text().contains("1073741824 bytes"), "{}", res.text());
}

#[test]
fn bare_lf_requests_are_served_in_order_without_desync() {
    let server = start();
    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /method HTTP/1.1\nHost: x\n\nGET / HTTP/1.1\nHost: x\n\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    assert_eq!(
        read_response(&mut reader, false).unwrap().text(),
        "GET /method"
    );
    assert_eq!(
        read_response(&mut reader, false).unwrap().text(),
        "Hello, World!"
    );
}

#[test]
fn empty_request_then_close_gets_no_response() {
    let server = start();
    let mut stream = connect(server.addr);
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_to_close(&mut stream).is_empty());
}

#[test]
fn partial_request_then_close_gets_no_response_and_server_carries_on() {
    let server = start();
    let mut stream = connect(server.addr);
    stream.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_to_close(&mut stream).is_empty());
    assert_eq!(
        exchange(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
}

#[test]
fn any_method_and_target_form_reaches_the_service() {
    let server = start();
    for (req, expected) in [
        ("PURGE /method HTTP/1.1\r\nHost: x\r\n\r\n", "PURGE /method"),
        (
            "GET http://example.com/method?a=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "GET http://example.com/method?a=1",
        ),
        (
            "DELETE /method HTTP/1.1\r\nHost: x\r\n\r\n",
            "DELETE /method",
        ),
    ] {
        assert_eq!(exchange(server.addr, req.as_bytes()).text(), expected);
    }
    let res = exchange(server.addr, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        res.status, 404,
        "asterisk-form reaches the service, which has no such route"
    );
}

/// Keeps the excerpt of every `malformed request` event.
#[derive(Debug, Default)]
struct Heads(std::sync::Mutex<Vec<Vec<u8>>>);

impl nucleus_http::observe::Observe for Heads {
    fn event(
        &self,
        event: &nucleus_http::observe::Event<'_>,
        _request: &nucleus_http::observe::RequestInfo<'_>,
    ) {
        if let nucleus_http::observe::Event::Parse { head, .. } = event {
            self.0.lock().unwrap().push(head.to_vec());
        }
    }
}

#[test]
fn a_malformed_request_event_shows_the_head_whichever_rule_it_broke() {
    let heads = std::sync::Arc::new(Heads::default());
    let mut config = nucleus_http::Config::default();
    config.observer = Some(heads.clone());
    let server = support::start_with(config, nucleus_http::WorkerModel::PerCore);
    // A framing rule (checked once the head is tokenized), with a body and a pipelined
    // request behind it, and a syntax error (found while tokenizing).
    let framing =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n";
    let syntax = b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n";
    for input in [&framing[..], &syntax[..]] {
        let mut stream = connect(server.addr);
        stream.write_all(input).unwrap();
        let raw = read_to_close(&mut stream);
        assert!(raw.starts_with(b"HTTP/1.1 400 "));
    }
    let seen = heads.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].starts_with(b"POST /echo HTTP/1.1\r\n"),
        "{:?}",
        String::from_utf8_lossy(&seen[0])
    );
    assert!(
        seen[1].starts_with(b"GET / HTTP/1.1\r\nHo st"),
        "{:?}",
        String::from_utf8_lossy(&seen[1])
    );
}
