//! After `101 Switching Protocols` the handler owns the raw connection, buffered bytes included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufReader, Read, Write};

use support::{connect, read_response, start};

#[test]
fn upgraded_connection_speaks_the_new_protocol_with_buffered_bytes_first() {
    let server = start();
    let mut stream = connect(server.addr);
    // "early" arrives in the same segment as the head: it must reach the new protocol.
    stream
        .write_all(b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\nearly")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let res = read_response(&mut reader, false).unwrap();
    assert_eq!(res.status, 101);
    assert_eq!(res.header("upgrade"), Some("shout"));
    assert_eq!(res.header("connection"), Some("upgrade"));
    let mut buf = [0u8; 5];
    reader.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"EARLY");
    stream.write_all(b"later").unwrap();
    reader.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"LATER");
}

#[test]
fn upgrade_route_without_upgrade_request_is_a_500_not_a_hijack() {
    let server = start();
    let res = support::exchange(server.addr, b"GET /upgrade HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.status, 500);
    assert_eq!(res.text(), "internal server error\n");
}
