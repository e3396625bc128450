//! SIGTERM on the real binary: a graceful drain, proven from the outside.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn read_one_response(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>, String) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    let mut len = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(": ").unwrap();
        if k.eq_ignore_ascii_case("content-length") {
            len = v.parse().unwrap();
        }
        headers.push((k.to_ascii_lowercase(), v.to_owned()));
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (status, headers, String::from_utf8(body).unwrap())
}

/// Starts the binary with `workers` workers and a 30 s drain deadline; returns it and its address.
fn start_nucleus(workers: &str) -> (Child, SocketAddr) {
    start_nucleus_with(workers, Stdio::null())
}

fn start_nucleus_with(workers: &str, stderr: Stdio) -> (Child, SocketAddr) {
    start_nucleus_logging(workers, stderr, "warn")
}

fn start_nucleus_logging(workers: &str, stderr: Stdio, log: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nucleus"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--workers",
            workers,
            "--shutdown-timeout",
            "30s",
        ])
        .env("NUCLEUS_LOG", log)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("nucleus listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    (child, addr)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn sigterm_drains_in_flight_requests_closes_idle_ones_and_exits_0() {
    drains_and_exits_0("2");
}

/// One worker runs on the main thread and watches for signals there (`Server::run_with`).
#[test]
fn sigterm_drains_a_one_worker_server_too() {
    drains_and_exits_0("1");
}

fn drains_and_exits_0(workers: &str) {
    let (mut child, addr) = start_nucleus(workers);

    let in_flight: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                s.write_all(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                read_one_response(&mut BufReader::new(s))
            })
        })
        .collect();
    let mut idle = connect(addr);
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut idle_reader = BufReader::new(idle.try_clone().unwrap());
    assert_eq!(read_one_response(&mut idle_reader).0, 200);
    std::thread::sleep(Duration::from_millis(300));

    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    let mut rest = Vec::new();
    idle_reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(
        signalled.elapsed() < Duration::from_millis(1000),
        "idle connection lingered"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        TcpStream::connect(addr).is_err(),
        "new connections must be refused while draining"
    );

    for request in in_flight {
        let (status, headers, body) = request.join().unwrap();
        assert_eq!((status, body.as_str()), (200, "done"));
        assert!(
            headers.contains(&("connection".to_owned(), "close".to_owned())),
            "{headers:?}"
        );
    }
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "did not exit after draining"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "exit took {:?}",
        signalled.elapsed()
    );
}

#[test]
fn second_signal_exits_at_once() {
    let (mut child, addr) = start_nucleus_with("1", Stdio::piped());
    let stuck = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(b"GET /slow?ms=20000 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
    });
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still draining the stuck request"
    );
    let second = Instant::now();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            second.elapsed() < Duration::from_secs(3),
            "second signal did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_ne!(exit.code(), Some(0), "a forced exit is not a clean drain");
    stuck.join().unwrap();
    // The reason is in the log: `exit` skips destructors, so the queue is flushed first.
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("exiting now"), "{log}");
}

/// A one-worker server is a single thread while it serves: no signal, timer, clock or log
/// thread beside the worker (Linux charges every system call on a socket of a multi-threaded
/// process for a file reference; nucleus-http's `server/housekeeping.rs`). The log's writer
/// thread, started by the start-up lines, ends once idle.
#[cfg(target_os = "linux")]
#[test]
fn a_one_worker_server_serves_as_a_single_thread() {
    // Info: the start-up lines start the log's writer thread, which must end.
    let (mut child, addr) = start_nucleus_logging("1", Stdio::null(), "info");
    let threads = || {
        std::fs::read_dir(format!("/proc/{}/task", child.id()))
            .unwrap()
            .count()
    };
    let mut s = connect(addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_one_response(&mut reader).0, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while threads() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(threads(), 1, "threads besides the worker while serving");
    // Serving, timeouts and the `Date` clock start none.
    for _ in 0..10 {
        s.write_all(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(read_one_response(&mut reader).0, 200);
    }
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(threads(), 1);
    child.kill().unwrap();
    child.wait().unwrap();
}
