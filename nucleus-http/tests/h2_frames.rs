//! Nucleus's own HTTP/2 framing, frame by frame over raw TCP: what each protocol rule of
//! RFC 9113 costs a client that breaks it (a stream reset or the whole connection), and that
//! the windows, limits and floods behave. Clients that follow the rules are in `tests/h2.rs`.
#![cfg(feature = "http2")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nucleus_http::{Config, Http2Engine, WorkerModel};
use support::frames::{
    frame, ACK, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PADDED, PING, PREFACE, RST_STREAM,
    SETTINGS, WINDOW_UPDATE,
};

const PROTOCOL_ERROR: u32 = 0x1;
const FLOW_CONTROL_ERROR: u32 = 0x3;
const STREAM_CLOSED: u32 = 0x5;
const REFUSED_STREAM: u32 = 0x7;
const ENHANCE_YOUR_CALM: u32 = 0xb;

fn start_with(mut config: Config) -> support::TestServer {
    config.http2.get_or_insert_with(Default::default).engine = Http2Engine::Nucleus;
    support::start_with(config, WorkerModel::PerCore)
}

fn start() -> support::TestServer {
    start_with(Config::default())
}

/// `:method GET`, `:scheme http`, `:path /`, `:authority a` (static entries and one literal).
fn get_block() -> Vec<u8> {
    vec![0x82, 0x86, 0x84, 0x41, 0x01, b'a']
}

/// `:method POST`, `:scheme http`, `:path /echo`, `:authority a`, `content-length: N`.
fn post_block(content_length: usize) -> Vec<u8> {
    let mut block = vec![0x83, 0x86, 0x44, 0x05];
    block.extend(b"/echo");
    block.extend([0x41, 0x01, b'a']);
    let len = content_length.to_string();
    block.extend([0x5c, len.len() as u8]);
    block.extend(len.as_bytes());
    block
}

/// A connection past its preface and SETTINGS exchange.
struct Client {
    stream: TcpStream,
    received: Vec<u8>,
}

/// What the server sent, frame by frame.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Frame {
    fn code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let mut stream = support::connect(addr);
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        hello.extend(frame(SETTINGS, ACK, 0, &[]));
        stream.write_all(&hello).unwrap();
        Client {
            stream,
            received: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        // The server may already have closed: what it said is still there to read.
        let _ = self.stream.write_all(bytes);
    }

    /// Frames until `until` matches one of them (returned last), the connection closes, or
    /// 5 s pass.
    fn read_until(&mut self, until: impl Fn(&Frame) -> bool) -> (Vec<Frame>, bool) {
        let started = Instant::now();
        let mut frames = Vec::new();
        loop {
            while self.received.len() >= 9 {
                let len =
                    u32::from_be_bytes([0, self.received[0], self.received[1], self.received[2]])
                        as usize;
                if self.received.len() < 9 + len {
                    break;
                }
                let bytes: Vec<u8> = self.received.drain(..9 + len).collect();
                let frame = Frame {
                    kind: bytes[3],
                    flags: bytes[4],
                    stream: u32::from_be_bytes(bytes[5..9].try_into().unwrap()) & 0x7fff_ffff,
                    payload: bytes[9..].to_vec(),
                };
                let done = until(&frame);
                frames.push(frame);
                if done {
                    return (frames, false);
                }
            }
            if started.elapsed() > Duration::from_secs(5) {
                return (frames, false);
            }
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => return (frames, true),
                Ok(n) => self.received.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return (frames, true),
            }
        }
    }

    fn goaway(&mut self) -> Option<u32> {
        let (frames, _) = self.read_until(|f| f.kind == GOAWAY);
        frames.iter().find(|f| f.kind == GOAWAY).map(Frame::code)
    }

    fn reset_of(&mut self, stream: u32) -> Option<u32> {
        let (frames, _) = self.read_until(|f| f.kind == RST_STREAM && f.stream == stream);
        frames
            .iter()
            .find(|f| f.kind == RST_STREAM && f.stream == stream)
            .map(Frame::code)
    }

    /// The response on `stream`: its head's first byte (the HPACK of `:status`) and the body.
    fn response(&mut self, stream: u32) -> (Vec<u8>, Vec<u8>) {
        let (frames, _) = self.read_until(|f| f.stream == stream && f.flags & END_STREAM != 0);
        let mut head = Vec::new();
        let mut body = Vec::new();
        for f in frames.iter().filter(|f| f.stream == stream) {
            match f.kind {
                HEADERS if head.is_empty() => head = f.payload.clone(),
                DATA => body.extend(&f.payload),
                _ => {}
            }
        }
        (head, body)
    }
}

/// `:status 200` as the server's encoder writes it (static index 8).
const STATUS_200: u8 = 0x88;

#[test]
fn the_server_answers_pings_with_the_same_payload() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send(&frame(PING, 0, 0, b"8 bytes!"));
    let (frames, _) = client.read_until(|f| f.kind == PING);
    let pong = frames.last().unwrap();
    assert_eq!(
        (pong.kind, pong.flags, &pong.payload[..]),
        (PING, ACK, &b"8 bytes!"[..])
    );
}

#[test]
fn an_even_stream_id_is_a_connection_error() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send(&frame(HEADERS, END_HEADERS | END_STREAM, 2, &get_block()));
    assert_eq!(client.goaway(), Some(PROTOCOL_ERROR));
}

#[test]
fn a_new_stream_id_lower_than_one_already_used_is_a_connection_error() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send(&frame(HEADERS, END_HEADERS | END_STREAM, 5, &get_block()));
    let (head, body) = client.response(5);
    assert_eq!(head.first(), Some(&STATUS_200));
    assert_eq!(body, b"Hello, World!");
    // Stream 3 was skipped, so it is closed (RFC 9113 §5.1.1).
    client.send(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &get_block()));
    assert_eq!(client.goaway(), Some(PROTOCOL_ERROR));
}

#[test]
fn trailers_of_a_request_we_reset_are_ignored() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send(&frame(HEADERS, END_HEADERS, 1, &post_block(5)));
    client.send(&frame(DATA, 0, 1, b"abcdef"));
    assert_eq!(client.reset_of(1), Some(PROTOCOL_ERROR));
    // x-t: 1, a literal without indexing, new name.
    client.send(&frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &[0x00, 0x03, b'x', b'-', b't', 0x01, b'1'],
    ));
    client.send(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &get_block()));
    assert_eq!(client.response(3).1, b"Hello, World!");
}

/// `POST /slow?ms=1000`, whose handler never reads its body: the windows stay as they were.
fn slow_post_block() -> Vec<u8> {
    let mut block = vec![0x83, 0x86, 0x44, 0x0d];
    block.extend(b"/slow?ms=1000");
    block.extend([0x41, 0x01, b'a']);
    block
}

#[test]
fn data_beyond_the_connection_window_is_a_flow_control_error() {
    let mut config = Config::default();
    let h2 = config.http2.get_or_insert_with(Default::default);
    h2.initial_connection_window = 65_535;
    h2.initial_stream_window = 1 << 20;
    let server = start_with(config);
    let mut client = Client::connect(server.addr);
    client.send(&frame(HEADERS, END_HEADERS, 1, &slow_post_block()));
    let chunk = vec![b'x'; 16_384];
    for _ in 0..5 {
        client.send(&frame(DATA, 0, 1, &chunk));
    }
    assert_eq!(client.goaway(), Some(FLOW_CONTROL_ERROR));
}

#[test]
fn data_beyond_the_stream_window_resets_the_stream() {
    let mut config = Config::default();
    let h2 = config.http2.get_or_insert_with(Default::default);
    h2.initial_stream_window = 16_384;
    let server = start_with(config);
    let mut client = Client::connect(server.addr);
    client.send(&frame(HEADERS, END_HEADERS, 1, &slow_post_block()));
    client.send(&frame(DATA, 0, 1, &vec![b'x'; 16_384]));
    client.send(&frame(DATA, 0, 1, &[b'x'; 10]));
    assert_eq!(client.reset_of(1), Some(FLOW_CONTROL_ERROR));
}

#[test]
fn a_body_that_differs_from_its_content_length_resets_the_stream() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send(&frame(HEADERS, END_HEADERS, 1, &post_block(5)));
    client.send(&frame(DATA, END_STREAM, 1, b"abc"));
    assert_eq!(client.reset_of(1), Some(PROTOCOL_ERROR));
    client.send(&frame(HEADERS, END_HEADERS, 3, &post_block(2)));
    client.send(&frame(DATA, END_STREAM, 3, b"abc"));
    assert_eq!(client.reset_of(3), Some(PROTOCOL_ERROR));
    // The connection serves on.
    client.send(&frame(HEADERS, END_HEADERS, 5, &post_block(3)));
    client.send(&frame(DATA, END_STREAM, 5, b"abc"));
    assert_eq!(client.response(5).1, b"abc");
}

#[test]
fn data_after_end_stream_is_a_stream_closed_error() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let mut block = vec![0x82, 0x86, 0x44, 0x0b];
    block.extend(b"/slow?ms=50");
    block.extend([0x41, 0x01, b'a']);
    client.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block));
    client.send(&frame(DATA, 0, 1, b"late"));
    assert_eq!(client.reset_of(1), Some(STREAM_CLOSED));
}

#[test]
fn streams_beyond_the_concurrency_limit_are_refused() {
    let mut config = Config::default();
    config
        .http2
        .get_or_insert_with(Default::default)
        .max_concurrent_streams = 2;
    let server = start_with(config);
    let mut client = Client::connect(server.addr);
    let mut slow = vec![0x82, 0x86, 0x44, 0x0c];
    slow.extend(b"/slow?ms=300");
    slow.extend([0x41, 0x01, b'a']);
    let mut burst = Vec::new();
    for id in [1, 3, 5] {
        burst.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, &slow));
    }
    client.send(&burst);
    assert_eq!(client.reset_of(5), Some(REFUSED_STREAM));
    assert_eq!(client.response(1).0.first(), Some(&STATUS_200));
    assert_eq!(client.response(3).0.first(), Some(&STATUS_200));
}

#[test]
fn padding_goes_back_to_the_windows() {
    let mut config = Config::default();
    let h2 = config.http2.get_or_insert_with(Default::default);
    h2.initial_connection_window = 65_535;
    let server = start_with(config);
    let mut client = Client::connect(server.addr);
    // 64 padded frames of one byte of data and 250 of padding: 16 KiB of window in all,
    // four times over, which only works if the padding is given back.
    let mut padded = vec![250u8, b'p'];
    padded.extend([0u8; 250]);
    for round in 0..4u32 {
        let id = 1 + 2 * round;
        client.send(&frame(HEADERS, END_HEADERS, id, &post_block(64)));
        let mut burst = Vec::new();
        for i in 0..64 {
            let flags = PADDED | if i == 63 { END_STREAM } else { 0 };
            burst.extend(frame(DATA, flags, id, &padded));
        }
        client.send(&burst);
        assert_eq!(client.response(id).1, vec![b'p'; 64], "round {round}");
    }
}

#[test]
fn a_header_list_over_the_limit_gets_431() {
    let mut config = Config::default();
    config.max_head_size = 4096;
    let server = start_with(config);
    let mut client = Client::connect(server.addr);
    let mut block = get_block();
    // x-big: 5,000 bytes, a literal without indexing (0x00), new name.
    block.extend([0x00, 0x05]);
    block.extend(b"x-big");
    block.extend([0x7f, 0x89, 0x26]); // 127 + 0x26 + (0x09 << 7) = 5,000
    block.extend(vec![b'v'; 5000]);
    client.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block));
    let (head, _) = client.response(1);
    // :status 431 is not in the static table: literal with indexed name 8, "431".
    assert!(head.windows(3).any(|w| w == b"431"), "{head:?}");
    // The decoder kept its table in step: the next request is served.
    client.send(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &get_block()));
    assert_eq!(client.response(3).0.first(), Some(&STATUS_200));
}

#[test]
fn rapid_reset_meets_goaway() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let mut burst = Vec::new();
    for i in 0..200u32 {
        let id = 1 + 2 * i;
        burst.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, &get_block()));
        burst.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes()));
    }
    client.send(&burst);
    assert_eq!(client.goaway(), Some(ENHANCE_YOUR_CALM));
}

#[test]
fn a_flood_of_empty_data_frames_meets_goaway() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send(&frame(HEADERS, END_HEADERS, 1, &post_block(1)));
    let mut burst = Vec::new();
    for _ in 0..1000 {
        burst.extend(frame(DATA, 0, 1, &[]));
    }
    client.send(&burst);
    assert_eq!(client.goaway(), Some(ENHANCE_YOUR_CALM));
}

#[test]
fn a_window_update_of_zero_on_the_connection_is_a_protocol_error() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send(&frame(WINDOW_UPDATE, 0, 0, &0u32.to_be_bytes()));
    assert_eq!(client.goaway(), Some(PROTOCOL_ERROR));
}

#[test]
fn a_client_that_does_not_read_gets_no_more_than_the_send_buffer_queued() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client
        .stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    // PINGs whose answers are never read: the server must stop reading, not queue forever.
    let pings: Vec<u8> = (0..10_000)
        .flat_map(|_| frame(PING, 0, 0, b"floodfld"))
        .collect();
    let started = Instant::now();
    let mut sent = 0usize;
    while started.elapsed() < Duration::from_secs(3) {
        match client.stream.write(&pings) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    // The kernel buffers a few MiB both ways; beyond that the server stopped taking them.
    assert!(
        sent < 64 * 1024 * 1024,
        "the server took {sent} bytes of PINGs"
    );
    // And the server still serves others.
    let mut other = Client::connect(server.addr);
    other.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &get_block()));
    assert_eq!(other.response(1).0.first(), Some(&STATUS_200));
}

#[test]
fn malformed_request_heads_reset_their_stream_and_the_connection_serves_on() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let cases: [(&str, Vec<u8>); 4] = [
        // :path not in origin form.
        ("path", vec![0x82, 0x86, 0x44, 0x01, b'a', 0x41, 0x01, b'a']),
        // content-length that is not a number.
        ("content-length", {
            let mut b = get_block();
            b.extend([0x5c, 0x02, b'+', b'5']);
            b
        }),
        // An uppercase field name (literal without indexing, new name).
        ("uppercase", {
            let mut b = get_block();
            b.extend([0x00, 0x03, b'X', b'-', b'A', 0x01, b'v']);
            b
        }),
        // A connection-specific field (RFC 9113 §8.2.2).
        ("connection", {
            let mut b = get_block();
            b.extend([0x00, 0x0a]);
            b.extend(b"connection");
            b.extend([0x05]);
            b.extend(b"close");
            b
        }),
    ];
    for (i, (case, block)) in cases.iter().enumerate() {
        let id = 1 + 2 * i as u32;
        client.send(&frame(HEADERS, END_HEADERS | END_STREAM, id, block));
        assert_eq!(client.reset_of(id), Some(PROTOCOL_ERROR), "{case}");
    }
    client.send(&frame(HEADERS, END_HEADERS | END_STREAM, 9, &get_block()));
    assert_eq!(client.response(9).1, b"Hello, World!");
}

#[test]
fn padding_goes_back_to_the_stream_window_too() {
    let mut config = Config::default();
    config
        .http2
        .get_or_insert_with(Default::default)
        .initial_stream_window = 16_384;
    let server = start_with(config);
    let mut client = Client::connect(server.addr);
    client.send(&frame(HEADERS, END_HEADERS, 1, &post_block(64)));
    // 64 frames of one byte of data and 250 of padding: 16,064 bytes of the stream's 16,384.
    // The echo reads 64 bytes, far from half a window; only the padding can reopen it.
    let mut padded = vec![250u8, b'p'];
    padded.extend([0u8; 250]);
    let mut burst = Vec::new();
    for _ in 0..63 {
        burst.extend(frame(DATA, PADDED, 1, &padded));
    }
    client.send(&burst);
    let (frames, _) = client.read_until(|f| f.kind == WINDOW_UPDATE && f.stream == 1);
    let update = frames
        .iter()
        .find(|f| f.kind == WINDOW_UPDATE && f.stream == 1);
    assert!(
        update.is_some(),
        "no WINDOW_UPDATE for the stream: {frames:?}"
    );
    client.send(&frame(DATA, PADDED | END_STREAM, 1, &padded));
    assert_eq!(client.response(1).1, vec![b'p'; 64]);
}

#[test]
fn frames_in_flight_on_streams_we_reset_are_ignored_however_many() {
    let server = start();
    let mut client = Client::connect(server.addr);
    // 100 uploads to a route that answers 404 without reading: each answer ends with
    // RST_STREAM(NO_ERROR), and the client's body and trailers were already on their way.
    let mut block = vec![0x83, 0x86, 0x44, 0x05];
    block.extend(b"/nope");
    block.extend([0x41, 0x01, b'a']);
    let mut opening = Vec::new();
    for i in 0..100u32 {
        opening.extend(frame(HEADERS, END_HEADERS, 1 + 2 * i, &block));
    }
    client.send(&opening);
    let (frames, _) =
        client.read_until(|f| f.kind == RST_STREAM && f.stream == 199 || f.kind == GOAWAY);
    assert!(frames.iter().all(|f| f.kind != GOAWAY), "{frames:?}");
    let mut late = Vec::new();
    for i in 0..100u32 {
        late.extend(frame(DATA, 0, 1 + 2 * i, b"body"));
        late.extend(frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            1 + 2 * i,
            &[0x00, 0x03, b'x', b'-', b't', 0x01, b'1'],
        ));
    }
    client.send(&late);
    client.send(&frame(HEADERS, END_HEADERS | END_STREAM, 201, &get_block()));
    let (frames, _) = client.read_until(|f| f.stream == 201 && f.flags & END_STREAM != 0);
    assert!(frames.iter().all(|f| f.kind != GOAWAY), "{frames:?}");
    assert!(frames.iter().any(|f| f.stream == 201 && f.kind == DATA));
}

#[test]
fn a_stream_error_on_an_idle_stream_is_a_connection_error() {
    let server = start();
    let mut client = Client::connect(server.addr);
    // WINDOW_UPDATE of 0 on stream 7, never opened: no RST_STREAM may go to an idle stream.
    client.send(&frame(WINDOW_UPDATE, 0, 7, &0u32.to_be_bytes()));
    let (frames, _) = client.read_until(|f| f.kind == GOAWAY);
    assert!(frames.iter().all(|f| f.kind != RST_STREAM), "{frames:?}");
    assert_eq!(frames.last().map(Frame::code), Some(PROTOCOL_ERROR));
}

#[test]
fn empty_data_frames_spread_over_many_requests_are_not_a_flood() {
    let server = start();
    let mut client = Client::connect(server.addr);
    for i in 0..100u32 {
        let id = 1 + 2 * i;
        let mut burst = frame(HEADERS, END_HEADERS, id, &post_block(2));
        burst.extend(frame(DATA, 0, id, &[]));
        burst.extend(frame(DATA, END_STREAM, id, b"ok"));
        client.send(&burst);
        assert_eq!(client.response(id).1, b"ok", "request {i}");
    }
}

#[test]
fn a_connection_that_idled_and_gave_its_buffers_back_serves_on() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &get_block()));
    assert_eq!(client.response(1).1, b"Hello, World!");
    // Idle past the point where the timer thread asks idle connections to shrink (about a
    // second), then a request whose block refers to the HPACK table, which must survive.
    std::thread::sleep(Duration::from_millis(1600));
    client.send(&frame(HEADERS, END_HEADERS, 3, &post_block(3)));
    client.send(&frame(DATA, END_STREAM, 3, b"abc"));
    assert_eq!(client.response(3).1, b"abc");
    // Both requests put `:authority: a` into the decoder's table (literal with incremental
    // indexing), the second then `content-length: 3`: newest first, `:authority: a` is
    // index 63.
    client.send(&frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        5,
        &[0x82, 0x86, 0x84, 0xbf],
    ));
    assert_eq!(client.response(5).1, b"Hello, World!");
}

/// A client that half-closes the TCP connection after sending its requests still gets the
/// answers to those it completed; a request it left unfinished is reset, GOAWAY follows, and
/// the server closes once it has answered.
#[test]
fn a_half_closed_connection_still_gets_the_answers_it_asked_for() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let path = b"/slow?ms=300";
    let mut slow = vec![0x82, 0x86, 0x44, path.len() as u8];
    slow.extend(path);
    slow.extend([0x41, 0x01, b'a']);
    client.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &slow));
    // Its body never comes.
    client.send(&frame(HEADERS, END_HEADERS, 3, &post_block(10)));
    client.stream.shutdown(std::net::Shutdown::Write).unwrap();

    let (frames, closed) = client.read_until(|_| false);
    assert!(
        closed,
        "the server should close once it has answered: {frames:?}"
    );
    let on = |id: u32, kind: u8| {
        frames
            .iter()
            .filter(move |f| f.stream == id && f.kind == kind)
    };
    let head = on(1, HEADERS).next().expect("an answer on stream 1");
    assert_eq!(head.payload[0], STATUS_200);
    let body: Vec<u8> = on(1, DATA).flat_map(|f| f.payload.clone()).collect();
    assert_eq!(body, b"done");
    let reset = on(3, RST_STREAM).next().expect("stream 3 reset");
    assert_eq!(reset.code(), 0x8, "CANCEL");
    let goaway = frames.iter().find(|f| f.kind == GOAWAY).expect("GOAWAY");
    assert_eq!(goaway.code(), 0, "NO_ERROR");
}

/// `POST path` with `content-length: len` and `expect: 100-continue`, no body yet.
fn expecting_block(path: &[u8], len: usize) -> Vec<u8> {
    let mut block = vec![0x83, 0x86, 0x44, path.len() as u8];
    block.extend(path);
    let len = len.to_string();
    block.extend([0x41, 0x01, b'a', 0x5c, len.len() as u8]);
    block.extend(len.as_bytes());
    // `expect: 100-continue`, literal name and value, not indexed.
    block.extend([0x00, 0x06]);
    block.extend(b"expect");
    block.extend([0x0c]);
    block.extend(b"100-continue");
    block
}

/// The first head the server sends on `stream` for an expecting `POST path` of `len` bytes.
fn first_head(client: &mut Client, stream: u32, path: &[u8], len: usize) -> Frame {
    let block = expecting_block(path, len);
    client.send(&frame(HEADERS, END_HEADERS, stream, &block));
    let (frames, _) = client.read_until(|f| f.stream == stream && f.kind == HEADERS);
    frames
        .into_iter()
        .last()
        .filter(|f| f.kind == HEADERS)
        .expect("a head")
}

/// `Expect: 100-continue` over HTTP/2: a `100` interim head once the handler reads the body
/// (curl waits a second for it before sending a large upload), then the response; a handler
/// that answers without reading sends no `100`.
#[test]
fn expect_100_continue_gets_an_interim_head_when_the_body_is_read() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let interim = first_head(&mut client, 1, b"/echo", 5);
    assert_eq!(
        interim.flags & END_STREAM,
        0,
        "an interim head does not end the stream"
    );
    // `:status` (static index 8) with the value `100`, Huffman-coded (0x08 0x01), indexed.
    assert_eq!(interim.payload, [0x48, 0x82, 0x08, 0x01], "{interim:?}");
    // The body, once sent, comes back under a 200.
    client.send(&frame(DATA, END_STREAM, 1, b"hello"));
    let (head, body) = client.response(1);
    assert_eq!(head[0], STATUS_200);
    assert_eq!(body, b"hello");

    let head = first_head(&mut client, 3, b"/ignore-body", 5);
    assert_eq!(
        head.payload[0], STATUS_200,
        "no 100 for a body nobody reads"
    );

    // An echo too large to be polled ahead for its own sake (over 64 KiB) gets its `100` too.
    let interim = first_head(&mut client, 5, b"/echo", 100_000);
    assert_eq!(interim.flags & END_STREAM, 0);
    assert_ne!(interim.payload[0], STATUS_200, "{interim:?}");
}
