//! Timeouts, the connection cap, graceful shutdown, health endpoints and address families,
//! over real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nucleus_http::{Config, MinRate, WorkerModel};
use support::{connect, exchange, read_response, read_to_close, start_builder, start_with};

fn with(configure: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::default();
    configure(&mut config);
    config
}

#[test]
fn slowloris_head_gets_408_while_others_are_served() {
    let server = start_with(
        with(|c| c.header_read_timeout = Some(Duration::from_secs(1))),
        WorkerModel::PerCore,
    );
    let slow = connect(server.addr);
    let started = Instant::now();
    let addr = server.addr;
    let trickler = {
        let mut slow = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            {
                if slow.write_all(&[*byte]).is_err() {
                    break;
                }
                // Everyone else is served meanwhile.
                assert_eq!(
                    exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
                    200
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let before = nucleus_http::stats().header_read_timeouts;
    let mut first = [0u8; 12];
    (&slow).read_exact(&mut first).unwrap();
    let answered = started.elapsed();
    assert_eq!(&first, b"HTTP/1.1 408");
    assert!(
        nucleus_http::stats().header_read_timeouts > before,
        "the timeout was counted"
    );
    assert!(
        answered < Duration::from_millis(2000),
        "408 after {answered:?}"
    );
    trickler.join().unwrap();
}

#[test]
fn connection_that_never_speaks_is_closed_after_the_header_timeout() {
    let server = start_with(
        with(|c| c.header_read_timeout = Some(Duration::from_millis(500))),
        WorkerModel::PerCore,
    );
    let mut silent = connect(server.addr);
    let started = Instant::now();
    let raw = String::from_utf8_lossy(&read_to_close(&mut silent)).into_owned();
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw:?}");
    assert!(started.elapsed() < Duration::from_millis(2500));
}

#[test]
fn slow_body_gets_408_and_close() {
    let rate = MinRate {
        bytes_per_second: 1000,
        window: Duration::from_millis(500),
    };
    let server = start_with(with(|c| c.body_min_rate = Some(rate)), WorkerModel::PerCore);
    let mut stream = connect(server.addr);
    stream
        .write_all(b"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
        .unwrap();
    let started = Instant::now();
    let writer = {
        let mut s = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..40 {
                if s.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let raw = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw:?}");
    assert!(raw.contains("connection: close"));
    assert!(
        started.elapsed() < Duration::from_millis(3000),
        "took {:?}",
        started.elapsed()
    );
    writer.join().unwrap();
}

#[test]
fn body_that_keeps_the_rate_is_not_cut_off() {
    let rate = MinRate {
        bytes_per_second: 1000,
        window: Duration::from_millis(300),
    };
    let server = start_with(with(|c| c.body_min_rate = Some(rate)), WorkerModel::PerCore);
    let mut stream = connect(server.addr);
    stream
        .write_all(b"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 8000\r\n\r\n")
        .unwrap();
    for _ in 0..8 {
        stream.write_all(&[b'k'; 1000]).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    let res = read_response(&mut BufReader::new(stream), false).unwrap();
    assert_eq!(res.text(), "8000 bytes");
}

#[test]
fn a_connection_that_freed_its_buffers_while_idle_still_reads_every_byte() {
    let server = start_with(Config::default(), WorkerModel::PerCore);
    let mut stream = connect(server.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    let released = nucleus_http::stats().idle_buffers_released;
    // Idle past the release point (about a second, on the sweep's 250 ms ticks).
    let deadline = Instant::now() + Duration::from_secs(5);
    while nucleus_http::stats().idle_buffers_released == released {
        assert!(
            Instant::now() < deadline,
            "idle buffers were never released"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The first read after the release takes at most 512 bytes: a larger head, a body and
    // a pipelined request behind it must all arrive intact.
    let filler = "f".repeat(3000);
    let batch = format!(
        "POST /collect HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\nContent-Length: 5000\r\n\r\n{}\
         GET /method?after=release HTTP/1.1\r\nHost: x\r\n\r\n",
        "b".repeat(5000)
    );
    stream.write_all(batch.as_bytes()).unwrap();
    assert_eq!(
        read_response(&mut reader, false).unwrap().text(),
        "5000 bytes"
    );
    assert_eq!(
        read_response(&mut reader, false).unwrap().text(),
        "GET /method?after=release"
    );
}

#[test]
fn idle_keep_alive_connection_is_closed_silently() {
    let server = start_with(
        with(|c| c.keep_alive_timeout = Some(Duration::from_millis(500))),
        WorkerModel::PerCore,
    );
    let idle = idle_until_closed(server.addr);
    assert!(
        idle >= Duration::from_millis(400) && idle < Duration::from_millis(2500),
        "{idle:?}"
    );
}

/// Makes one request on a new connection, then waits for the server to close it; returns
/// how long it stayed idle. No bytes may come on an idle close.
fn idle_until_closed(addr: SocketAddr) -> Duration {
    let mut stream = connect(addr);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    let idle_since = Instant::now();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "no bytes on an idle close: {rest:?}");
    idle_since.elapsed()
}

#[test]
fn handler_timeout_answers_503_and_drops_the_handler() {
    let server = start_with(
        with(|c| c.handler_timeout = Some(Duration::from_millis(300))),
        WorkerModel::PerCore,
    );
    let started = Instant::now();
    let res = exchange(
        server.addr,
        b"GET /slow?ms=5000 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(res.status, 503);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        exchange(server.addr, b"GET /slow?ms=10 HTTP/1.1\r\nHost: x\r\n\r\n").text(),
        "done"
    );
}

#[test]
fn client_that_stops_reading_is_disconnected() {
    let rate = MinRate {
        bytes_per_second: 10_000,
        window: Duration::from_millis(500),
    };
    let server = start_with(with(|c| c.send_min_rate = Some(rate)), WorkerModel::PerCore);
    let mut stream = connect(server.addr);
    let total = 64 * 1024 * 1024;
    stream
        .write_all(format!("GET /big?n={total} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    // Read nothing for a while: the socket buffers fill and the server must give up.
    std::thread::sleep(Duration::from_secs(2));
    let got = read_to_close(&mut stream).len();
    assert!(
        got < total,
        "the whole body arrived ({got} bytes): the slow reader was not cut off"
    );
}

#[test]
fn nth_plus_one_client_waits_for_a_slot_then_is_served() {
    // One worker: one listen queue, so connections are accepted in the order they arrive.
    let server = start_builder(|b| b.max_connections(2).workers(1));
    let addr = server.addr;
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /slow?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            // Sent before the next connects: with one listen queue it is accepted first.
            std::thread::spawn(move || read_response(&mut BufReader::new(s), false).unwrap().text())
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let res = exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let waited = started.elapsed();
    assert_eq!(res.text(), "Hello, World!");
    assert!(
        waited >= Duration::from_millis(400),
        "served after {waited:?}: the cap did not hold"
    );
    for b in busy {
        assert_eq!(b.join().unwrap(), "done");
    }
}

#[test]
fn idle_connections_make_room_first_under_pressure() {
    let server = start_builder(|b| b.max_connections(2));
    let mut idle_a = connect(server.addr);
    idle_a
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reader_a = BufReader::new(idle_a.try_clone().unwrap());
    read_response(&mut reader_a, false).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut idle_b = connect(server.addr);
    idle_b
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reader_b = BufReader::new(idle_b.try_clone().unwrap());
    read_response(&mut reader_b, false).unwrap();
    // Both slots hold idle keep-alive connections; a newcomer is served at once.
    let started = Instant::now();
    assert_eq!(
        exchange(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
    // The longest-idle one went.
    let mut rest = Vec::new();
    reader_a.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn graceful_shutdown_finishes_in_flight_requests_and_closes_idle_ones() {
    let mut server = start_builder(|b| b.shutdown_timeout(Duration::from_secs(10)));
    let addr = server.addr;
    let in_flight: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                s.write_all(b"GET /slow?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                read_response(&mut BufReader::new(s), false).unwrap()
            })
        })
        .collect();
    let mut idle = connect(addr);
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut idle_reader = BufReader::new(idle.try_clone().unwrap());
    read_response(&mut idle_reader, false).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    server.handle.shutdown();
    let mut rest = Vec::new();
    idle_reader.read_to_end(&mut rest).unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "idle connection lingered"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        TcpStream::connect(addr).is_err(),
        "new connections must be refused while draining"
    );

    for request in in_flight {
        let res = request.join().unwrap();
        assert_eq!((res.status, res.text().as_str()), (200, "done"));
        assert_eq!(res.header("connection"), Some("close"));
    }
    server.thread.take().unwrap().join().unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "drain took {:?}",
        started.elapsed()
    );
}

#[test]
fn shutdown_deadline_force_closes_what_is_left() {
    let mut server = start_builder(|b| b.shutdown_timeout(Duration::from_millis(500)));
    let addr = server.addr;
    let stuck = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(b"GET /slow?ms=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        read_to_close(&mut s)
    });
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    server.handle.shutdown();
    server.thread.take().unwrap().join().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        stuck.join().unwrap().is_empty(),
        "the stuck request got no response, only a close"
    );
}

#[test]
fn health_and_readiness_are_answered_by_the_engine() {
    let server = support::start();
    let health = exchange(server.addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    let ready = exchange(server.addr, b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));
    // The test service has neither route: these never reached it.
    assert_eq!(
        exchange(server.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status,
        404
    );

    let config = with(|c| {
        c.liveness_path = Some("/livez".into());
        c.readiness_path = None;
    });
    let server = start_with(config, WorkerModel::PerCore);
    assert_eq!(
        exchange(server.addr, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
    assert_eq!(
        exchange(server.addr, b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n").status,
        404
    );
}

fn serves(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.ends_with("Hello, World!")
}

#[test]
fn ipv6_and_dual_stack_listeners() {
    let v6 = start_builder(|b| b.listen("[::1]:0".parse().unwrap()));
    let server = &v6;
    let _ = server;
    let dual = {
        let builder = nucleus_http::Server::builder()
            .listen("[::]:0".parse().unwrap())
            .workers(1);
        let s = builder.bind().unwrap();
        let port = s.local_addrs()[0].port();
        let handle = s.shutdown_handle();
        std::thread::spawn(move || {
            s.run(tower::service_fn(
                |_req: http::Request<nucleus_http::Body>| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        nucleus_http::Body::from("Hello, World!"),
                    ))
                },
            ))
        });
        (port, handle)
    };
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        serves(SocketAddr::from(([127, 0, 0, 1], dual.0))),
        "dual stack serves IPv4"
    );
    assert!(
        serves(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, dual.0))),
        "dual stack serves IPv6"
    );
    dual.1.shutdown();
}

#[test]
fn connections_that_have_not_sent_a_byte_do_not_hold_up_a_drain_or_a_full_server() {
    // A browser opens connections ahead of need (pre-connect); until one carries a request,
    // closing it loses nothing.
    let mut server = start_builder(|b| {
        b.max_connections(2)
            .shutdown_timeout(Duration::from_secs(10))
    });
    let addr = server.addr;
    let mut silent_a = connect(addr);
    std::thread::sleep(Duration::from_millis(300));
    let _silent_b = connect(addr);
    std::thread::sleep(Duration::from_millis(300));
    // Both slots hold silent connections: a newcomer is served once the older one goes
    // (after its one-second grace, in 250 ms ticks), long before the 10 s header timeout.
    let started = Instant::now();
    assert_eq!(
        exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        read_to_close(&mut silent_a).is_empty(),
        "closed without an answer"
    );

    // A drain closes a silent connection at once instead of waiting for its header timeout.
    let mut silent_c = connect(addr);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.handle.shutdown();
    assert!(read_to_close(&mut silent_c).is_empty());
    server.thread.take().unwrap().join().unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drain took {:?}",
        started.elapsed()
    );
}

/// With one worker the thread that calls `run` is the worker, and the worker keeps its
/// connections' clock and the `Date` second itself (no sweeper or clock thread): header and
/// keep-alive timeouts still fire, and `Date` is current.
#[test]
fn one_worker_serves_on_the_calling_thread_and_keeps_its_own_clock() {
    let server = nucleus_http::Server::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .workers(1)
        .config(with(|c| {
            c.header_read_timeout = Some(Duration::from_millis(500));
            c.keep_alive_timeout = Some(Duration::from_millis(500));
        }))
        .bind()
        .unwrap();
    let addr = server.local_addrs()[0];
    let handle = server.shutdown_handle();
    let thread = std::thread::Builder::new()
        .name("runs-the-server".into())
        .spawn(move || {
            server.run(tower::service_fn(
                |_req: http::Request<nucleus_http::Body>| {
                    let here = std::thread::current().name().unwrap_or_default().to_owned();
                    async move {
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            nucleus_http::Body::from(here),
                        ))
                    }
                },
            ))
        })
        .unwrap();
    let mut answered = None;
    for _ in 0..200 {
        if TcpStream::connect(addr).is_ok() {
            answered = Some(exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let answered = answered.expect("the server should come up");
    assert_eq!(answered.text(), "runs-the-server");
    let date = httpdate::parse_http_date(answered.header("date").unwrap()).unwrap();
    let skew = std::time::SystemTime::now()
        .duration_since(date)
        .unwrap_or_default();
    assert!(skew < Duration::from_secs(2), "Date is {skew:?} old");

    // The header timeout, from the worker's own tick.
    let mut silent = connect(addr);
    let started = Instant::now();
    let raw = String::from_utf8_lossy(&read_to_close(&mut silent)).into_owned();
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw:?}");
    assert!(started.elapsed() < Duration::from_millis(2500));

    // The keep-alive timeout, likewise.
    let idle = idle_until_closed(addr);
    assert!(idle < Duration::from_millis(2500), "{idle:?}");

    handle.shutdown();
    thread.join().unwrap().unwrap();
}

/// `run_with`'s background future runs on the one worker, or on a thread of its own with
/// more; it can stop the server, and it is dropped once the server has drained.
#[test]
fn run_with_runs_the_background_beside_the_workers_and_drops_it_at_the_end() {
    for (workers, runs_on) in [(1, "runs-the-server"), (2, "nucleus-background")] {
        let server = nucleus_http::Server::builder()
            .listen("127.0.0.1:0".parse().unwrap())
            .workers(workers)
            .bind()
            .unwrap();
        let handle = server.shutdown_handle();
        let (tx, rx) = std::sync::mpsc::channel();
        let (dropped_tx, dropped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("runs-the-server".into())
            .spawn(move || {
                server.run_with(
                    tower::service_fn(|_req: http::Request<nucleus_http::Body>| async {
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            nucleus_http::Body::empty(),
                        ))
                    }),
                    async move {
                        // Dropped with the future: the channel disconnects.
                        let _held = dropped_tx;
                        let here = std::thread::current().name().unwrap_or_default().to_owned();
                        tx.send(here).unwrap();
                        handle.shutdown();
                        std::future::pending::<()>().await;
                    },
                )
            })
            .unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), runs_on);
        // The background's shutdown stops the server, and the server drops the background.
        thread.join().unwrap().unwrap();
        assert_eq!(
            dropped.recv_timeout(Duration::from_secs(10)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected),
            "{workers} workers: the background outlived the server"
        );
    }
}
