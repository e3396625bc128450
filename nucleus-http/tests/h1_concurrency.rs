//! Isolation between clients: slow handlers, panics, many connections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use support::{connect, exchange, read_response, start};

#[test]
fn handler_panic_is_a_500_and_the_connection_carries_on() {
    let server = start();
    let mut stream = connect(server.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream
        .write_all(b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let res = read_response(&mut reader, false).unwrap();
    assert_eq!(res.status, 500);
    assert_eq!(res.text(), "internal server error\n", "no internals leak");
    assert!(!res.text().contains("exploded"));
    // The server is fine; a new connection is served.
    assert_eq!(
        exchange(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
}

#[test]
fn slow_handlers_do_not_delay_other_clients() {
    let server = start();
    let addr = server.addr;
    let started = Instant::now();
    let slow: Vec<_> = (0..50)
        .map(|_| {
            std::thread::spawn(move || {
                let res = exchange(addr, b"GET /slow?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n");
                assert_eq!(res.text(), "done");
                started.elapsed()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let res = exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let fast = started.elapsed();
    assert_eq!(res.status, 200);
    let first_slow = slow.into_iter().map(|t| t.join().unwrap()).min().unwrap();
    assert!(
        fast < first_slow,
        "GET / took {fast:?}, the first slow one finished at {first_slow:?}"
    );
    assert!(first_slow >= Duration::from_millis(1000));
}

#[test]
fn five_hundred_concurrent_connections_are_served() {
    let server = start();
    let addr = server.addr;
    let streams: Vec<_> = (0..500).map(|_| connect(addr)).collect();
    for mut s in &streams {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    }
    for s in streams {
        let res = read_response(&mut BufReader::new(s), false).unwrap();
        assert_eq!(res.text(), "Hello, World!");
    }
}
