//! Connection management: persistence rules, pipelining, half-close, request caps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufReader, Write};

use nucleus_http::{Config, WorkerModel};
use support::{connect, read_response, read_to_close, start, start_with};

#[test]
fn thousand_requests_share_one_connection() {
    let server = start();
    let mut stream = connect(server.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for i in 0..1000 {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let res = read_response(&mut reader, false)
            .unwrap_or_else(|| panic!("no response to request {i}"));
        assert_eq!(res.text(), "Hello, World!");
        assert_eq!(res.header("connection"), None);
    }
}

#[test]
fn a_request_sees_only_its_own_headers_after_a_response_with_many() {
    // The engine refills the previous response's emptied header map with the next request's
    // fields: nothing of the response may survive into the request.
    let server = start();
    let mut stream = connect(server.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for (i, extra) in ["x-first: 1", "x-second: 2", "x-third: 3"]
        .iter()
        .enumerate()
    {
        let req = format!("GET /headers HTTP/1.1\r\nHost: x\r\n{extra}\r\n\r\n");
        stream.write_all(req.as_bytes()).unwrap();
        let res = read_response(&mut reader, false).unwrap();
        assert_eq!(res.header("x-response-a"), Some("leak"));
        let expected = format!("host=x {}", extra.replace(": ", "="));
        assert_eq!(res.text(), expected, "request {i}");
    }
}

#[test]
fn hundred_pipelined_requests_are_answered_in_order() {
    let server = start();
    let mut stream = connect(server.addr);
    let batch: String = (0..100)
        .map(|i| format!("GET /method?i={i} HTTP/1.1\r\nHost: x\r\n\r\n"))
        .collect();
    stream.write_all(batch.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    for i in 0..100 {
        assert_eq!(
            read_response(&mut reader, false).unwrap().text(),
            format!("GET /method?i={i}")
        );
    }
}

#[test]
fn pipelined_responses_leave_in_few_writes() {
    // 16 small pipelined requests in one segment: their responses are batched, so the client
    // sees them arrive together rather than one segment each.
    let server = start();
    let mut stream = connect(server.addr);
    let batch: String = (0..16)
        .map(|_| "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .collect();
    stream.write_all(batch.as_bytes()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut buf = vec![0u8; 64 * 1024];
    let n = std::io::Read::read(&mut stream, &mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert_eq!(
        text.matches("Hello, World!").count(),
        16,
        "one read got all 16: {n} bytes"
    );
}

#[test]
fn connection_close_from_client_is_honoured() {
    let server = start();
    let mut stream = connect(server.addr);
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let raw = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert_eq!(raw.matches("Hello, World!").count(), 1, "{raw}");
    assert!(raw.contains("connection: close\r\n"));
}

#[test]
fn connection_close_from_handler_is_honoured() {
    let server = start();
    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let raw = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert!(raw.ends_with("bye"), "{raw}");
}

#[test]
fn http_1_0_closes_unless_keep_alive_is_asked() {
    let server = start();
    let mut stream = connect(server.addr);
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let raw = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(raw.contains("connection: close\r\n"));

    let mut stream = connect(server.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for _ in 0..3 {
        stream
            .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let res = read_response(&mut reader, false).unwrap();
        assert_eq!(res.header("connection"), Some("keep-alive"));
    }
}

#[test]
fn half_closed_client_is_still_answered() {
    let server = start();
    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /slow?ms=50 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let raw = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK"), "{raw}");
    assert!(raw.ends_with("done"));
}

#[test]
fn request_cap_closes_after_the_last_allowed_request() {
    let mut config = Config::default();
    config.max_requests_per_connection = Some(3);
    let server = start_with(config, WorkerModel::PerCore);
    let mut stream = connect(server.addr);
    let batch: String = (0..5)
        .map(|_| "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .collect();
    stream.write_all(batch.as_bytes()).unwrap();
    let raw = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert_eq!(raw.matches("Hello, World!").count(), 3);
    assert_eq!(raw.matches("connection: close").count(), 1);
}

/// The server closes (its request cap) while a large response is still queued for a client
/// that has already sent its next request: without the lingering read, closing a socket
/// with unread bytes sends a reset, which discards the unsent rest of the response.
#[test]
fn a_server_side_close_lingers_so_late_bytes_do_not_cut_the_response() {
    let mut config = Config::default();
    config.max_requests_per_connection = Some(1);
    let server = start_with(config, WorkerModel::PerCore);
    // A small receive window keeps most of the response queued in the server's kernel until
    // after the server has closed.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(32 * 1024).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let n = 8 << 20;
    stream
        .write_all(format!("GET /big?n={n} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    // The server fills the socket buffers and waits for us to read; the next request
    // arrives after its last read of the first one.
    std::thread::sleep(std::time::Duration::from_millis(300));
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let read = std::io::Read::read_to_end(&mut stream, &mut raw);
    assert!(read.is_ok(), "{read:?} after {} bytes", raw.len());
    assert!(raw.ends_with(&[b'z'; 64]), "{} bytes", raw.len());
    assert!(raw.len() > n);
}

#[test]
fn responses_carry_date_and_versionless_server() {
    let server = start();
    let res = support::exchange(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.header("server"), Some("nucleus"));
    let date = res.header("date").unwrap();
    assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
}

#[test]
fn peer_address_reaches_the_service() {
    let server = start();
    let res = support::exchange(server.addr, b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.text(), "127.0.0.1");
    let mut config = Config::default();
    config.peer_addr_extension = true;
    let server = start_with(config, WorkerModel::PerCore);
    let res = support::exchange(server.addr, b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        res.text(),
        "127.0.0.1 127.0.0.1",
        "both the current peer and the extension"
    );
}

#[test]
fn work_stealing_model_serves_too() {
    let server = start_with(Config::default(), WorkerModel::WorkStealing);
    let res = support::exchange(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.text(), "Hello, World!");
}

#[test]
fn a_handler_that_answers_1xx_as_its_final_response_gets_a_500_not_a_desync() {
    // A 1xx sent as the final answer would make the client take the next response for this
    // request's: the engine answers 500 and closes instead.
    let server = start();
    for code in [100, 103] {
        let mut stream = connect(server.addr);
        let request = format!(
            "GET /status?code={code} HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let raw = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
        assert!(raw.starts_with("HTTP/1.1 500 "), "{code}: {raw:?}");
        assert_eq!(raw.matches("HTTP/1.1 ").count(), 1, "{code}: {raw:?}");
    }
}

#[test]
fn framing_mistakes_of_a_handler_are_corrected() {
    // The same routes as the HTTP/2 test: the answers must match.
    let server = start();
    let res = support::exchange(
        server.addr,
        b"GET /no-content-with-body HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!((res.status, res.header("content-length")), (204, None));
    let res = support::exchange(
        server.addr,
        b"GET /not-modified-with-body HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(
        (res.status, res.header("content-length")),
        (304, Some("1234"))
    );
    let res = support::exchange(
        server.addr,
        b"GET /wrong-length HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(
        (
            res.status,
            res.header("content-length"),
            res.text().as_str()
        ),
        (200, Some("5"), "hello")
    );
}
