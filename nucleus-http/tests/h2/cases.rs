// The HTTP/2 tests, run against each framing layer: included by `tests/h2.rs` (Nucleus's own)
// and `tests/h2_crate.rs` (the `h2` crate), each of which sets `ENGINE`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use h2::Reason;
use http::{Request, StatusCode};
use nucleus_http::{Config, Http2Config, MinRate, WorkerModel};
use support::frames::{frame, split_frame, ACK, GOAWAY, PING, PREFACE, SETTINGS};

/// A test server whose HTTP/2 connections are framed by `ENGINE`.
fn start() -> support::TestServer {
    start_with(Config::default(), WorkerModel::PerCore)
}

fn start_with(mut config: Config, model: WorkerModel) -> support::TestServer {
    if let Some(h2) = config.http2.as_mut() {
        h2.engine = ENGINE;
    }
    support::start_with(config, model)
}

async fn h2c(
    addr: SocketAddr,
) -> (
    SendRequest<Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    (send, tokio::spawn(conn))
}

/// A client that gives each stream `window` bytes of flow-control window to start with.
async fn h2c_with_window(
    addr: SocketAddr,
    window: u32,
) -> (
    SendRequest<Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(window)
        .handshake::<_, Bytes>(tcp)
        .await
        .unwrap();
    (send, tokio::spawn(conn))
}

fn get(addr: SocketAddr, path: &str) -> Request<()> {
    Request::get(format!("http://{addr}{path}"))
        .body(())
        .unwrap()
}

async fn read_body(res: http::Response<h2::RecvStream>) -> (StatusCode, Bytes) {
    let status = res.status();
    let mut body = res.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        out.extend_from_slice(&chunk);
    }
    (status, out.into())
}

fn prior_knowledge() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .unwrap()
}

#[tokio::test]
async fn prior_knowledge_h2c_and_http1_share_the_port() {
    let server = start();
    let res = prior_knowledge()
        .get(format!("http://{}/version", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(
        res.text().await.unwrap(),
        format!("HTTP/2.0 {}", server.addr),
        "the handler sees the authority as Host"
    );
    let h1 = support::exchange(server.addr, b"GET /version HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(h1.text(), "HTTP/1.1 h");
}

#[tokio::test]
async fn a_hundred_concurrent_streams_on_one_connection() {
    let server = start();
    let (send, _conn) = h2c(server.addr).await;
    // One exchange first, so that the server's SETTINGS have arrived.
    let mut send = send.ready().await.unwrap();
    let (res, _) = send.send_request(get(server.addr, "/"), true).unwrap();
    res.await.unwrap();
    assert_eq!(
        send.current_max_send_streams(),
        Http2Config::default().max_concurrent_streams as usize,
        "SETTINGS_MAX_CONCURRENT_STREAMS"
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let mut send = send.clone();
        let req = get(server.addr, "/slow?ms=300");
        tasks.push(tokio::spawn(async move {
            send = send.ready().await.unwrap();
            let (res, _) = send.send_request(req, true).unwrap();
            read_body(res.await.unwrap()).await
        }));
    }
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"done"[..]));
    }
    // One after another they would take 30 s.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn ten_mib_each_way_through_small_flow_control_windows() {
    let mut config = Config::default();
    let mut h2 = Http2Config::default();
    h2.initial_stream_window = 16 * 1024;
    h2.initial_connection_window = 32 * 1024;
    config.http2 = Some(h2);
    let server = start_with(config, WorkerModel::PerCore);
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .http2_initial_stream_window_size(16 * 1024)
        .http2_initial_connection_window_size(32 * 1024)
        .no_proxy()
        .build()
        .unwrap();
    let body: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let res = client
        .post(format!("http://{}/echo", server.addr))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert!(res.bytes().await.unwrap() == body, "echo differs");
    let res = client
        .get(format!("http://{}/big?n={}", server.addr, 10 * 1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-length"], "10485760");
    assert_eq!(res.bytes().await.unwrap().len(), 10 * 1024 * 1024);
}

#[tokio::test]
async fn a_stream_reset_mid_body_does_not_disturb_the_others() {
    let server = start();
    let (mut send, conn) = h2c(server.addr).await;
    let slow = {
        let mut send = send.clone();
        let req = get(server.addr, "/slow?ms=300");
        tokio::spawn(async move {
            send = send.ready().await.unwrap();
            let (res, _) = send.send_request(req, true).unwrap();
            read_body(res.await.unwrap()).await
        })
    };
    let upload = Request::post(format!("http://{}/echo", server.addr))
        .body(())
        .unwrap();
    send = send.ready().await.unwrap();
    let (res, mut body) = send.send_request(upload, false).unwrap();
    body.send_data(Bytes::from(vec![b'x'; 1000]), false)
        .unwrap();
    let res = res.await.unwrap();
    assert_eq!(res.status(), 200);
    let mut echoed = res.into_body();
    let first = echoed.data().await.unwrap().unwrap();
    assert_eq!(first.len(), 1000);
    body.send_reset(Reason::CANCEL);

    assert_eq!(slow.await.unwrap(), (StatusCode::OK, Bytes::from("done")));
    send = send.ready().await.unwrap();
    let (res, _) = send.send_request(get(server.addr, "/"), true).unwrap();
    let (status, text) = read_body(res.await.unwrap()).await;
    assert_eq!((status, &text[..]), (StatusCode::OK, &b"Hello, World!"[..]));
    assert!(!conn.is_finished());
}

#[tokio::test]
async fn a_burst_of_resets_gets_goaway_rather_than_unbounded_work() {
    let server = start();
    let (mut send, conn) = h2c(server.addr).await;
    let started = Instant::now();
    let mut sent = 0;
    for _ in 0..10_000 {
        send = match send.ready().await {
            Ok(send) => send,
            Err(_) => break,
        };
        let Ok((_res, mut stream)) = send.send_request(get(server.addr, "/slow?ms=10000"), false)
        else {
            break;
        };
        stream.send_reset(Reason::CANCEL);
        sent += 1;
        // Let the frames out as they are made, as an attacking client's would be.
        tokio::task::yield_now().await;
    }
    let err = tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("the connection ends")
        .unwrap()
        .expect_err("closed with GOAWAY");
    // h2's own pending-accept limit answers this one with GOAWAY(ENHANCE_YOUR_CALM) and
    // closes; a client still writing when the close lands sees a broken pipe instead.
    assert!(
        err.reason() == Some(Reason::ENHANCE_YOUR_CALM) || err.is_io(),
        "{err}"
    );
    assert!(sent < 10_000, "all {sent} resets were accepted");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The server itself is fine.
    let res = prior_knowledge()
        .get(format!("http://{}/", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn cancelling_streams_after_their_handlers_started_also_meets_goaway() {
    let server = start();
    let (mut send, conn) = h2c(server.addr).await;
    let mut cancelled = 0;
    for _ in 0..1_000 {
        send = match send.ready().await {
            Ok(send) => send,
            Err(_) => break,
        };
        let req = Request::post(format!("http://{}/echo", server.addr))
            .body(())
            .unwrap();
        let Ok((res, mut stream)) = send.send_request(req, false) else {
            break;
        };
        // The response head proves the handler ran: this stream was accepted and served.
        if res.await.is_err() {
            break;
        }
        stream.send_reset(Reason::CANCEL);
        cancelled += 1;
    }
    let err = tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("the connection ends")
        .unwrap()
        .expect_err("closed with GOAWAY");
    assert_eq!(err.reason(), Some(Reason::ENHANCE_YOUR_CALM), "{err}");
    let budget = Http2Config::default().max_cancelled_streams;
    assert!(
        (budget..budget + 20).contains(&cancelled),
        "GOAWAY after {cancelled} cancellations"
    );
    assert!(nucleus_http::stats().h2_reset_floods >= 1);
}

#[tokio::test]
async fn the_core_limits_apply_to_http2_streams() {
    let mut config = Config::default();
    config.max_body_size = 1024;
    config.max_uri_len = 100;
    config.max_headers = 10;
    let server = start_with(config, WorkerModel::PerCore);
    let (send, _conn) = h2c(server.addr).await;
    let exchange = |req: Request<()>, body: Option<Bytes>| {
        let mut send = send.clone();
        async move {
            send = send.ready().await.unwrap();
            let (res, mut stream) = send.send_request(req, body.is_none()).unwrap();
            if let Some(body) = body {
                stream.send_data(body, true).unwrap();
            }
            read_body(res.await.unwrap()).await.0
        }
    };
    let long = format!("http://{}/{}", server.addr, "a".repeat(200));
    assert_eq!(
        exchange(Request::get(long).body(()).unwrap(), None).await,
        StatusCode::URI_TOO_LONG
    );
    let mut many = Request::get(format!("http://{}/", server.addr));
    for i in 0..20 {
        many = many.header(format!("x-{i}"), "v");
    }
    assert_eq!(
        exchange(many.body(()).unwrap(), None).await,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let declared = Request::post(format!("http://{}/collect", server.addr))
        .header("content-length", "5000")
        .body(())
        .unwrap();
    assert_eq!(
        exchange(declared, Some(Bytes::from(vec![0; 5000]))).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let undeclared = Request::post(format!("http://{}/collect", server.addr))
        .body(())
        .unwrap();
    assert_eq!(
        exchange(undeclared, Some(Bytes::from(vec![0; 5000]))).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        exchange(get(server.addr, "/health"), None).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_by_send_min_rate() {
    let mut config = Config::default();
    config.send_min_rate = Some(MinRate {
        bytes_per_second: 1024,
        window: Duration::from_millis(300),
    });
    let server = start_with(config, WorkerModel::PerCore);
    let (send, _conn) = h2c_with_window(server.addr, 1024).await;
    let mut send = send.ready().await.unwrap();
    let (res, _) = send
        .send_request(get(server.addr, "/big?n=1000000"), true)
        .unwrap();
    let mut body = res.await.unwrap().into_body();
    let started = Instant::now();
    // Take what the window allows and never release it: the server waits for window.
    let mut got = 0;
    let err = loop {
        match body.data().await {
            Some(Ok(chunk)) => got += chunk.len(),
            Some(Err(err)) => break err,
            None => panic!("the body ended normally after {got} bytes"),
        }
    };
    assert_eq!(err.reason(), Some(Reason::CANCEL), "{err}");
    assert!(got <= 1024, "{got}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The connection itself is fine.
    let mut send = send.ready().await.unwrap();
    let (res, _) = send.send_request(get(server.addr, "/"), true).unwrap();
    assert_eq!(res.await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_connection_whose_client_never_opens_its_window_is_dropped_after_goaway() {
    let mut config = Config::default();
    config.keep_alive_timeout = Some(Duration::from_millis(300));
    let server = start_with(config, WorkerModel::PerCore);
    let (send, conn) = h2c_with_window(server.addr, 1024).await;
    let mut send = send.ready().await.unwrap();
    // Small enough that the whole response is handed to h2 at once.
    let (res, _) = send
        .send_request(get(server.addr, "/big?n=30000"), true)
        .unwrap();
    let _unread = res.await.unwrap();
    let started = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
    assert!(ended.is_ok(), "still open after 5 s");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_request_body_slower_than_body_min_rate_gets_408() {
    let mut config = Config::default();
    config.body_min_rate = Some(MinRate {
        bytes_per_second: 1024,
        window: Duration::from_millis(300),
    });
    let server = start_with(config, WorkerModel::PerCore);
    let (send, _conn) = h2c(server.addr).await;
    let mut send = send.ready().await.unwrap();
    let req = Request::post(format!("http://{}/collect", server.addr))
        .body(())
        .unwrap();
    let (res, mut stream) = send.send_request(req, false).unwrap();
    stream
        .send_data(Bytes::from_static(b"a trickle"), false)
        .unwrap();
    let started = Instant::now();
    let (status, _) = read_body(res.await.unwrap()).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn request_trailers_reach_the_handler() {
    let server = start();
    let (mut send, _conn) = h2c(server.addr).await;
    send = send.ready().await.unwrap();
    let req = Request::post(format!("http://{}/collect", server.addr))
        .body(())
        .unwrap();
    let (res, mut stream) = send.send_request(req, false).unwrap();
    stream
        .send_data(Bytes::from_static(b"hello"), false)
        .unwrap();
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-check", "yes".parse().unwrap());
    stream.send_trailers(trailers).unwrap();
    let (status, body) = read_body(res.await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"5 bytes x-check=yes");
}

#[tokio::test]
async fn head_answers_carry_no_body() {
    let server = start();
    let (send, _conn) = h2c(server.addr).await;
    for path in ["/health", "/"] {
        let mut send = send.clone().ready().await.unwrap();
        let req = Request::head(format!("http://{}{path}", server.addr))
            .body(())
            .unwrap();
        let (res, _) = send.send_request(req, true).unwrap();
        let res = res.await.unwrap();
        assert!(res.body().is_end_stream(), "{path}: HEAD got a body");
        assert_eq!(res.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn response_trailers_reach_the_client() {
    let server = start();
    let (send, _conn) = h2c(server.addr).await;
    let mut send = send.ready().await.unwrap();
    let (res, _) = send
        .send_request(get(server.addr, "/trailers"), true)
        .unwrap();
    let mut body = res.await.unwrap().into_body();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        data.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(data, b"body");
    let trailers = body.trailers().await.unwrap().expect("trailers");
    assert_eq!(trailers["x-checksum"], "abc");
    assert_eq!(
        trailers.len(),
        1,
        "forbidden trailer fields were sent: {trailers:?}"
    );
}

#[tokio::test]
async fn shutdown_sends_goaway_and_lets_open_streams_finish() {
    let server = start();
    let (mut send, conn) = h2c(server.addr).await;
    send = send.ready().await.unwrap();
    let (res, _) = send
        .send_request(get(server.addr, "/slow?ms=500"), true)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.handle.shutdown();
    let (status, body) = read_body(res.await.unwrap()).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"done"[..]));
    let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
    assert!(
        ended.is_ok(),
        "the connection closes once its stream is done"
    );
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_keep_alive_timeout() {
    let mut config = Config::default();
    config.keep_alive_timeout = Some(Duration::from_millis(300));
    let server = start_with(config, WorkerModel::PerCore);
    let (mut send, conn) = h2c(server.addr).await;
    send = send.ready().await.unwrap();
    let (res, _) = send.send_request(get(server.addr, "/"), true).unwrap();
    assert_eq!(read_body(res.await.unwrap()).await.0, 200);
    let started = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
    assert!(ended.is_ok(), "still open after 5 s");
    assert!(started.elapsed() >= Duration::from_millis(250));
}

/// CONTINUATION flood (2024): one HEADERS frame without END_HEADERS, then CONTINUATION
/// frames forever. The server must not take them without bound: `h2` counts CONTINUATION
/// frames against `max_header_list_size` (here `max_head_size`, 64 KiB) and answers
/// GOAWAY(ENHANCE_YOUR_CALM).
#[test]
fn a_continuation_flood_is_cut_off() {
    use std::io::{Read, Write};
    let server = start();
    let mut stream = support::connect(server.addr);
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // A literal header field without indexing, new name (RFC 7541 §6.2.2): short strings.
    let field = |name: &str, value: &str| {
        let mut out = vec![0x00, name.len() as u8];
        out.extend(name.as_bytes());
        out.push(value.len() as u8);
        out.extend(value.as_bytes());
        out
    };
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    // :method GET, :scheme http, :path / (static table indices 2, 6, 4).
    // HEADERS with END_STREAM and without END_HEADERS: the block goes on in CONTINUATION.
    hello.extend(frame(0x1, 0x1, 1, &[0x82, 0x86, 0x84]));
    stream.write_all(&hello).unwrap();
    let block: Vec<u8> = (0..150)
        .flat_map(|i| field(&format!("x-{i:03}"), &"v".repeat(100)))
        .collect();
    let mut sent = 0usize;
    let started = Instant::now();
    while sent < 64 * 1024 * 1024 && started.elapsed() < Duration::from_secs(10) {
        if stream.write_all(&frame(0x9, 0, 1, &block)).is_err() {
            break;
        }
        sent += block.len();
    }
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    // What the client got written includes the kernel's socket buffers (a few MiB).
    assert!(
        sent < 32 * 1024 * 1024,
        "the server took {sent} bytes of CONTINUATION without closing"
    );
    assert_eq!(goaway_code(&rest), Some(0xb), "GOAWAY(ENHANCE_YOUR_CALM)");
}

/// The error code of the first GOAWAY frame in `bytes` (server frames, no preface).
fn goaway_code(mut bytes: &[u8]) -> Option<u32> {
    while let Some((kind, _, payload, used)) = split_frame(bytes) {
        if kind == GOAWAY {
            return Some(u32::from_be_bytes(payload.get(4..8)?.try_into().ok()?));
        }
        bytes = &bytes[used..];
    }
    None
}

/// A server that sends a keep-alive PING `interval_ms` after the handshake and after each
/// answer, and closes a connection whose PING is unanswered for `timeout_ms`.
fn start_pinging(interval_ms: u64, timeout_ms: u64) -> support::TestServer {
    let mut config = Config::default();
    let h2 = config.http2.get_or_insert_with(Http2Config::default);
    h2.keep_alive_interval = Some(Duration::from_millis(interval_ms));
    h2.keep_alive_timeout = Duration::from_millis(timeout_ms);
    start_with(config, WorkerModel::PerCore)
}

/// A raw HTTP/2 client: the preface, an empty SETTINGS and the ACK of the server's, then it
/// reads the server's frames for `watch`, answering each PING if `answer`. Returns the PINGs
/// seen and, if the server closed the connection, when (from the end of the handshake).
fn watch_pings(addr: SocketAddr, answer: bool, watch: Duration) -> (usize, Option<Duration>) {
    use std::io::{ErrorKind, Read, Write};
    let mut stream = support::connect(addr);
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    hello.extend(frame(SETTINGS, ACK, 0, &[]));
    stream.write_all(&hello).unwrap();
    let started = Instant::now();
    let (mut received, mut pings) = (Vec::new(), 0);
    while started.elapsed() < watch {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return (pings, Some(started.elapsed())),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return (pings, Some(started.elapsed()))
            }
            Err(e) => panic!("reading frames: {e}"),
        }
        while let Some((kind, flags, payload, used)) = split_frame(&received) {
            if kind == PING && flags & ACK == 0 {
                pings += 1;
                if answer {
                    stream.write_all(&frame(PING, ACK, 0, payload)).unwrap();
                }
            }
            received.drain(..used);
        }
    }
    (pings, None)
}

#[tokio::test]
async fn a_client_that_answers_pings_keeps_its_connection_past_many_intervals() {
    let server = start_pinging(100, 300);
    // The h2 client answers PINGs by itself.
    let (send, conn) = h2c(server.addr).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!conn.is_finished(), "closed: {:?}", conn.await);
    let mut send = send.ready().await.unwrap();
    let (res, _) = send.send_request(get(server.addr, "/"), true).unwrap();
    assert_eq!(
        read_body(res.await.unwrap()).await,
        (StatusCode::OK, "Hello, World!".into())
    );
}

#[test]
fn pings_come_every_interval_while_answered() {
    let server = start_pinging(100, 300);
    let (pings, closed) = watch_pings(server.addr, true, Duration::from_millis(1000));
    assert_eq!(closed, None, "closed although every PING was answered");
    // About one per 100 ms; a loaded machine may stretch the intervals.
    assert!((3..=11).contains(&pings), "{pings} PINGs in 1 s");
}

#[test]
fn a_client_that_never_answers_pings_is_closed_after_interval_and_timeout() {
    let server = start_pinging(200, 300);
    let (pings, closed) = watch_pings(server.addr, false, Duration::from_secs(10));
    let closed = closed.expect("still open after 10 s");
    assert_eq!(pings, 1, "one PING, unanswered, then the close");
    // The PING goes out 200 ms in, the close 300 ms after it.
    assert!(
        closed >= Duration::from_millis(450) && closed < Duration::from_secs(5),
        "{closed:?}"
    );
}

#[tokio::test]
async fn requests_that_break_field_rules_get_400_or_417_and_the_connection_serves_on() {
    let server = start();
    let (send, _conn) = h2c(server.addr).await;
    let authority = server.addr.to_string();
    let with = |fields: &[(&'static str, &str)], uri: &str| {
        let mut req = Request::get(uri.to_owned());
        for (name, value) in fields {
            req = req.header(*name, *value);
        }
        req.body(()).unwrap()
    };
    let here = format!("http://{authority}/");
    let cases = [
        // RFC 9113 §8.2.1: no leading or trailing whitespace in a value.
        (with(&[("x-pad", " padded")], &here), 400),
        (with(&[("x-pad", "padded\t")], &here), 400),
        // One Host, a valid one, naming what :authority names (§8.3.1).
        (
            with(&[("host", &authority), ("host", &authority)], &here),
            400,
        ),
        (with(&[("host", "a%zz")], &here), 400),
        // Userinfo in :authority (RFC 9110 §4.2.4).
        (with(&[], &format!("http://user@{authority}/")), 400),
        (with(&[("host", "elsewhere.example")], &here), 400),
        // The same authority, spelled with another case or with the default port.
        (with(&[("host", "EXAMPLE.com")], "http://example.com/"), 200),
        (
            with(&[("host", "example.com:80")], "http://example.com/"),
            200,
        ),
        (with(&[("x-inner", "a  b")], &here), 200),
        // As HTTP/1.1: an expectation other than 100-continue is 417 (RFC 9110 §10.1.1).
        (with(&[("expect", "something-else")], &here), 417),
        (with(&[("expect", "100-Continue")], &here), 200),
    ];
    for (req, expected) in cases {
        let shown = format!("{:?}", req.headers());
        let mut send = send.clone().ready().await.unwrap();
        let (res, _) = send.send_request(req, true).unwrap();
        let (status, body) = read_body(res.await.unwrap()).await;
        assert_eq!(status, expected, "{shown}: {body:?}");
    }
}

/// Keeps the kind of every event the engine reports.
#[derive(Debug, Default)]
struct Kinds(std::sync::Mutex<Vec<&'static str>>);

impl Kinds {
    /// Waits up to 5 s for an event of `kind` (events are reported after the response).
    async fn wait_for(&self, kind: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.0.lock().unwrap().contains(&kind) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The reset that ends a stream, whether it comes before the response head or in its body;
/// the head's status when one came.
async fn reset_of(res: h2::client::ResponseFuture) -> (Option<StatusCode>, h2::Error) {
    let res = match res.await {
        Err(err) => return (None, err),
        Ok(res) => res,
    };
    let status = res.status();
    let mut body = res.into_body();
    loop {
        match body.data().await {
            Some(Ok(_)) => {}
            Some(Err(err)) => return (Some(status), err),
            None => panic!("the body ended normally"),
        }
    }
}

impl nucleus_http::observe::Observe for Kinds {
    fn event(
        &self,
        event: &nucleus_http::observe::Event<'_>,
        _request: &nucleus_http::observe::RequestInfo<'_>,
    ) {
        self.0.lock().unwrap().push(event.kind());
    }
}

#[tokio::test]
async fn an_echoed_upload_over_the_limit_is_cancelled_as_the_clients_doing() {
    let kinds = std::sync::Arc::new(Kinds::default());
    let mut config = Config::default();
    config.max_body_size = 1024;
    config.observer = Some(kinds.clone());
    let server = start_with(config, WorkerModel::PerCore);
    let (send, _conn) = h2c(server.addr).await;
    let mut send = send.ready().await.unwrap();
    // No content-length: the limit is found while the body streams back.
    let req = Request::post(format!("http://{}/echo", server.addr))
        .body(())
        .unwrap();
    let (res, mut stream) = send.send_request(req, false).unwrap();
    stream
        .send_data(Bytes::from(vec![b'a'; 600]), false)
        .unwrap();
    stream
        .send_data(Bytes::from(vec![b'b'; 600]), true)
        .unwrap();
    // The reset comes before or after the echo's head, depending on when the server reads
    // the second half: either way it is a CANCEL.
    let (status, err) = reset_of(res).await;
    assert!(status.is_none_or(|s| s == 200), "{status:?}");
    assert_eq!(err.reason(), Some(Reason::CANCEL), "{err}");
    // The limit, reported once, and no handler error (which logs at ERROR).
    kinds.wait_for("limit").await;
    let seen = kinds.0.lock().unwrap().clone();
    assert_eq!(
        seen.iter().filter(|k| **k == "limit").count(),
        1,
        "{seen:?}"
    );
    assert!(!seen.contains(&"handler_error"), "{seen:?}");
}

#[tokio::test]
async fn a_body_ended_by_an_empty_data_frame_finishes() {
    // curl -T - and httpx end an upload with an empty DATA frame carrying END_STREAM.
    let server = start();
    let (send, _conn) = h2c(server.addr).await;
    for path in ["/echo", "/collect"] {
        let mut send = send.clone().ready().await.unwrap();
        let req = Request::post(format!("http://{}{path}", server.addr))
            .body(())
            .unwrap();
        let (res, mut stream) = send.send_request(req, false).unwrap();
        stream
            .send_data(Bytes::from_static(b"hello"), false)
            .unwrap();
        stream.send_data(Bytes::new(), true).unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(5), async {
            read_body(res.await.unwrap()).await
        })
        .await;
        let (status, body) = answered.unwrap_or_else(|_| panic!("{path}: no end in 5 s"));
        assert_eq!(status, 200, "{path}");
        assert!(
            body.starts_with(b"hello") || body.starts_with(b"5 bytes"),
            "{path}: {body:?}"
        );
    }
}

#[tokio::test]
async fn framing_mistakes_of_a_handler_are_corrected_as_on_http1() {
    // h2 resets a stream whose length or content breaks the rules; HTTP/1.1's encoder fixes
    // them, and the engine does the same here.
    let server = start();
    let (send, _conn) = h2c(server.addr).await;
    let cases = [
        ("/no-content-with-body", 204, None, ""),
        ("/not-modified-with-body", 304, Some("1234"), ""),
        ("/wrong-length", 200, Some("5"), "hello"),
    ];
    for (path, status, length, body) in cases {
        let mut send = send.clone().ready().await.unwrap();
        let (res, _) = send.send_request(get(server.addr, path), true).unwrap();
        let res = res.await.unwrap_or_else(|err| panic!("{path}: {err}"));
        let got_length = res
            .headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap().to_owned());
        let (got_status, got_body) = read_body(res).await;
        assert_eq!(got_status, status, "{path}");
        assert_eq!(got_length.as_deref(), length, "{path}");
        assert_eq!(&got_body[..], body.as_bytes(), "{path}");
    }
}

#[tokio::test]
async fn a_handler_body_that_fails_is_the_servers_fault_not_the_clients() {
    // Its error is an engine error of kind `User`, unlike a request body's: INTERNAL_ERROR
    // and a handler-error event, not the CANCEL of an upload that broke a limit.
    let kinds = std::sync::Arc::new(Kinds::default());
    let mut config = Config::default();
    config.observer = Some(kinds.clone());
    let server = start_with(config, WorkerModel::PerCore);
    let (send, _conn) = h2c(server.addr).await;
    let mut send = send.ready().await.unwrap();
    let (res, _) = send
        .send_request(get(server.addr, "/fail-stream?n=1"), true)
        .unwrap();
    let (_, err) = reset_of(res).await;
    assert_eq!(err.reason(), Some(Reason::INTERNAL_ERROR), "{err}");
    kinds.wait_for("handler_error").await;
    assert!(kinds.0.lock().unwrap().contains(&"handler_error"));
}

#[tokio::test]
async fn cookie_fields_split_by_the_client_reach_the_handler_as_one() {
    let server = start();
    let (send, _conn) = h2c(server.addr).await;
    let req = Request::get(format!("http://{}/headers", server.addr))
        .header("cookie", "a=1")
        .header("x-between", "v")
        .header("cookie", "b=2")
        .body(())
        .unwrap();
    let mut send = send.ready().await.unwrap();
    let (res, _) = send.send_request(req, true).unwrap();
    let (status, body) = read_body(res.await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(body.contains("cookie=a=1; b=2"), "{body}");
    assert_eq!(body.matches("cookie=").count(), 1, "{body}");
}
