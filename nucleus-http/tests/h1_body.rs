//! Request and response bodies over real TCP: framing, streaming, limits, 100-continue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use nucleus_http::{Config, WorkerModel};
use support::{connect, exchange, read_response, read_to_close, start, start_with};

#[test]
fn one_mebibyte_body_echoes_intact() {
    let server = start();
    let body: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut stream = connect(server.addr);
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let writer = {
        let mut s = stream.try_clone().unwrap();
        let body = body.clone();
        std::thread::spawn(move || {
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&body).unwrap();
        })
    };
    let mut reader = BufReader::new(&mut stream);
    let res = read_response(&mut reader, false).unwrap();
    writer.join().unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-length"), Some("1048576"));
    assert!(res.body == body, "echoed body differs");
}

#[test]
fn ten_mebibyte_chunked_body_is_collected() {
    let server = start();
    let mut stream = connect(server.addr);
    let writer = {
        let mut s = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            s.write_all(b"POST /collect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap();
            let chunk = vec![b'q'; 64 * 1024];
            for _ in 0..160 {
                s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .unwrap();
                s.write_all(&chunk).unwrap();
                s.write_all(b"\r\n").unwrap();
            }
            s.write_all(b"0\r\nX-Checksum: 42\r\n\r\n").unwrap();
        })
    };
    let res = read_response(&mut BufReader::new(&mut stream), false).unwrap();
    writer.join().unwrap();
    assert_eq!(res.text(), "10485760 bytes x-checksum=42");
}

#[test]
fn hundred_mebibyte_body_streams_through_echo() {
    let server = start();
    let mut stream = connect(server.addr);
    let total: usize = 100 * 1024 * 1024;
    let writer = {
        let mut s = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            s.write_all(
                format!("PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
            let chunk = vec![b'm'; 256 * 1024];
            for _ in 0..total / chunk.len() {
                s.write_all(&chunk).unwrap();
            }
        })
    };
    let mut reader = BufReader::new(&mut stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
    }
    let mut received = 0usize;
    let mut buf = vec![0; 256 * 1024];
    while received < total {
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed after {received} bytes");
        assert!(buf[..n].iter().all(|&b| b == b'm'));
        received += n;
    }
    writer.join().unwrap();
    assert_eq!(received, total);
}

#[test]
fn chunked_body_over_the_limit_ends_in_413() {
    let mut config = Config::default();
    config.max_body_size = 1000;
    let server = start_with(config, WorkerModel::PerCore);
    let mut stream = connect(server.addr);
    stream
        .write_all(b"POST /collect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    for _ in 0..3 {
        stream
            .write_all(format!("{:x}\r\n{}\r\n", 500, "a".repeat(500)).as_bytes())
            .unwrap();
    }
    let res = read_response(&mut BufReader::new(&mut stream), false).unwrap();
    assert_eq!(res.status, 413);
    assert_eq!(res.header("connection"), Some("close"));
}

#[test]
fn malformed_chunk_ends_the_connection() {
    let server = start();
    let mut stream = connect(server.addr);
    stream
        .write_all(b"POST /collect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let raw = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(
        !raw.contains("Hello, World!"),
        "smuggled request was served: {raw}"
    );
}

#[test]
fn chunked_size_overflow_is_rejected() {
    let server = start();
    let mut stream = connect(server.addr);
    stream
        .write_all(b"POST /collect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\na\r\n0\r\n\r\n")
        .unwrap();
    let raw = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
}

#[test]
fn unknown_length_response_is_chunked_on_1_1() {
    let server = start();
    let res = exchange(server.addr, b"GET /stream?n=3 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.header("transfer-encoding"), Some("chunked"));
    assert_eq!(res.text(), "chunk0\nchunk1\nchunk2\n");
}

#[test]
fn unknown_length_response_is_close_delimited_on_1_0() {
    let server = start();
    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /stream?n=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let raw = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert!(!raw.contains("transfer-encoding"), "{raw}");
    assert!(raw.contains("connection: close\r\n"));
    assert!(raw.ends_with("\r\n\r\nchunk0\nchunk1\n"), "{raw}");
}

#[test]
fn head_gets_get_headers_without_body() {
    let server = start();
    let mut stream = connect(server.addr);
    stream
        .write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(&mut stream);
    let head = read_response(&mut reader, true).unwrap();
    assert_eq!(head.header("content-length"), Some("13"));
    // The next response starts right after the head: no body bytes in between.
    let get = read_response(&mut reader, false).unwrap();
    assert_eq!(get.text(), "Hello, World!");
}

#[test]
fn no_content_and_not_modified_have_no_body() {
    let server = start();
    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /no-content HTTP/1.1\r\nHost: x\r\n\r\nGET /not-modified HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(&mut stream);
    let a = read_response(&mut reader, false).unwrap();
    let b = read_response(&mut reader, false).unwrap();
    let c = read_response(&mut reader, false).unwrap();
    assert_eq!((a.status, b.status, c.status), (204, 304, 200));
    assert!(a.header("content-length").is_none() && a.header("transfer-encoding").is_none());
    assert_eq!(c.text(), "Hello, World!");
}

#[test]
fn expect_continue_is_sent_only_when_the_handler_reads() {
    let server = start();
    let mut stream = connect(server.addr);
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let interim = read_response(&mut reader, false).unwrap();
    assert_eq!(interim.status, 100);
    stream.write_all(b"hello").unwrap();
    let res = read_response(&mut reader, false).unwrap();
    assert_eq!((res.status, res.text().as_str()), (200, "hello"));

    // A handler that never reads the body: no 100, a final answer, and the connection closes.
    let mut stream = connect(server.addr);
    stream.write_all(b"POST /ignore-body HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap();
    let raw = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(!raw.contains("100 Continue"));
}

#[test]
fn unread_small_body_is_drained_and_the_connection_reused() {
    let server = start();
    let mut stream = connect(server.addr);
    stream
        .write_all(b"POST /ignore-body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(&mut stream);
    assert_eq!(read_response(&mut reader, false).unwrap().text(), "ignored");
    assert_eq!(
        read_response(&mut reader, false).unwrap().text(),
        "Hello, World!"
    );
}

#[test]
fn unread_large_body_closes_the_connection() {
    let mut config = Config::default();
    config.max_drain = 1024;
    let server = start_with(config, WorkerModel::PerCore);
    let mut stream = connect(server.addr);
    stream
        .write_all(b"POST /ignore-body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        .unwrap();
    stream.write_all(&[b'x'; 4096]).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let raw = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    // The head says the connection ends, since it does.
    assert!(raw.contains("\r\nconnection: close\r\n"), "{raw}");
}

#[test]
fn client_that_stops_mid_body_does_not_hurt_the_server() {
    let server = start();
    let mut stream = connect(server.addr);
    stream
        .write_all(b"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let raw = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
    assert!(raw.is_empty() || raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert_eq!(
        exchange(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
}

#[test]
fn unread_body_applies_backpressure_to_the_client() {
    // The handler sleeps without reading: the engine must not slurp the body meanwhile, so
    // the client's writes stall once the socket buffers are full.
    let server = start();
    let mut stream = connect(server.addr);
    let total = 64 * 1024 * 1024;
    stream
        .write_all(
            format!("POST /slow?ms=3000 HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = vec![b'b'; 64 * 1024];
    let mut written = 0usize;
    while written < total {
        match stream.write(&chunk) {
            Ok(n) => written += n,
            Err(_) => break,
        }
    }
    assert!(
        written < 32 * 1024 * 1024,
        "server accepted {written} bytes of an unread body"
    );
}

/// Sends a body in pieces with pauses, so that the server has to wait on the socket
/// between them, and returns the response.
fn post_in_pieces(path: &str, pieces: &[&[u8]], chunked: bool) -> String {
    let server = start();
    let mut stream = connect(server.addr);
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {total}")
    };
    let writer = {
        let mut s = stream.try_clone().unwrap();
        let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n");
        let pieces: Vec<Vec<u8>> = pieces.iter().map(|p| p.to_vec()).collect();
        std::thread::spawn(move || {
            s.write_all(head.as_bytes()).unwrap();
            for piece in pieces {
                std::thread::sleep(Duration::from_millis(30));
                if chunked {
                    s.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                        .unwrap();
                    s.write_all(&piece).unwrap();
                    s.write_all(b"\r\n").unwrap();
                } else {
                    s.write_all(&piece).unwrap();
                }
            }
            if chunked {
                s.write_all(b"0\r\n\r\n").unwrap();
            }
        })
    };
    let res = read_response(&mut BufReader::new(&mut stream), false).unwrap();
    writer.join().unwrap();
    assert_eq!(res.status, 200, "{path}: {}", res.text());
    res.text()
}

#[test]
fn bodies_that_arrive_in_pieces_reach_handlers_in_the_connections_task_and_in_others() {
    let pieces: [&[u8]; 3] = [&[b'a'; 10], &[b'b'; 20_000], &[b'c'; 5]];
    for chunked in [false, true] {
        for path in ["/collect", "/collect-spawned"] {
            let text = post_in_pieces(path, &pieces, chunked);
            assert!(
                text.starts_with("20015 bytes"),
                "{path} chunked={chunked}: {text}"
            );
        }
        let echoed = post_in_pieces("/echo", &pieces, chunked);
        assert_eq!(echoed.len(), 20_015, "echo chunked={chunked}");
    }
}

#[test]
fn one_connection_carries_bodies_of_every_framing_back_to_back() {
    // The connection reuses a finished body's channel for the next one: each must start
    // clean (length, decoder, end of stream), whatever came before it.
    let server = start();
    let mut stream = connect(server.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let requests: [(&str, &[u8], &str); 6] = [
        ("POST /echo", b"Content-Length: 5\r\n\r\nhello", "hello"),
        ("POST /echo", b"Content-Length: 3\r\n\r\nabc", "abc"),
        (
            "POST /collect",
            b"Transfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n",
            "9 bytes",
        ),
        ("GET /", b"\r\n", "Hello, World!"),
        (
            "POST /collect-spawned",
            b"Content-Length: 7\r\n\r\nspawned",
            "7 bytes",
        ),
        ("POST /echo", b"Content-Length: 0\r\n\r\n", ""),
    ];
    for (line, rest, expected) in requests {
        stream
            .write_all(format!("{line} HTTP/1.1\r\nHost: x\r\n").as_bytes())
            .unwrap();
        stream.write_all(rest).unwrap();
        let res = read_response(&mut reader, false).unwrap();
        assert_eq!(res.status, 200, "{line}");
        assert_eq!(res.text(), expected, "{line}");
    }
}

#[test]
fn sized_bodies_that_come_with_their_head_or_after_it_alternate_on_one_connection() {
    // A sized body already read with its head goes to the handler whole; one still on its
    // way is streamed through the connection's reusable channel. Alternating the two on one
    // connection must leave neither path with the other's leftovers (lengths, buffered
    // bytes, the channel's state).
    let server = start();
    let mut stream = connect(server.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let bodies: [&[u8]; 6] = [
        b"whole",
        b"late body",
        &[b'w'; 3000],
        &[b'l'; 3000],
        b"",
        b"x",
    ];
    for (i, body) in bodies.iter().enumerate() {
        let head = format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if i % 2 == 0 {
            stream.write_all(&[head.as_bytes(), body].concat()).unwrap();
        } else {
            stream.write_all(head.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(30));
            stream.write_all(body).unwrap();
        }
        let res = read_response(&mut reader, false).unwrap();
        assert_eq!(res.status, 200, "body {i}");
        assert_eq!(res.body, *body, "body {i}");
    }
    // And a whole body with the next request right behind it in the same write.
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader, false).unwrap().text(), "abc");
    assert_eq!(
        read_response(&mut reader, false).unwrap().text(),
        "Hello, World!"
    );
}

#[test]
fn response_trailers_go_out_without_the_fields_trailers_may_not_carry() {
    let server = start();
    let mut stream = connect(server.addr);
    stream
        .write_all(
            b"GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let raw = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw:?}");
    assert!(raw.ends_with("\r\n0\r\nx-checksum: abc\r\n\r\n"), "{raw:?}");
}

#[test]
fn a_streamed_body_that_fails_before_its_first_byte_gets_a_500_and_after_it_a_cut() {
    let server = start();
    // Nothing of the response has gone out: the head can still become a 500.
    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /fail-stream?n=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let raw = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
    assert!(raw.starts_with("HTTP/1.1 500 "), "{raw:?}");
    assert!(raw.contains("connection: close\r\n"), "{raw:?}");
    assert_eq!(raw.matches("HTTP/1.1 ").count(), 1, "{raw:?}");
    // Once body bytes follow the head, the response can only be cut off: no 500, and never
    // a complete chunked body (whatever was still buffered is dropped with the connection).
    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /fail-stream?n=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let raw = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
    assert!(
        raw.is_empty() || raw.starts_with("HTTP/1.1 200 "),
        "{raw:?}"
    );
    assert!(!raw.ends_with("0\r\n\r\n"), "{raw:?}");
}
