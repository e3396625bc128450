//! Peer server for the Nucleus benchmarks: may_minihttp 0.1 on the `may` coroutine runtime
//! (HTTP/1.1 only; the TechEmpower-style minimal server).
//!
//! `may-minihttp-server [--listen ADDR] [--workers N]` (defaults 127.0.0.1:8080, 1).
//! `--workers N` sets may's worker threads (`may::config().set_workers`); may pins each
//! worker to one CPU of the process's affinity mask (so `taskset -c 0-7` with 8 workers gives
//! one worker per CPU). Routes as Nucleus's demo app (see bench/README.md), with the
//! deviations that may_minihttp's API forces:
//! * no timeouts, no limits, `Connection: close` is ignored (the connection stays open),
//!   request bodies only with Content-Length (no chunked requests);
//! * response headers must be `&'static str`, so `/echo` echoes the Content-Type only when it
//!   is one of `ECHO_TYPES`, and sends `application/octet-stream` otherwise;
//! * every response carries Content-Length, so `/stream` sends its N lines as one body
//!   (not chunked), and `/echo` reads the whole body before answering;
//! * `/blocking` runs its sleep on a fresh OS thread (may has no blocking pool) and parks
//!   the coroutine on a may channel until it is done.
//!
//! may_minihttp writes `Server: M` and a cached `Date`. It leaves Nagle on; we set
//! TCP_NODELAY per connection (see `new_service`). It has no shutdown: SIGINT/SIGTERM exit(0).

use std::io::{self, BufRead};
use std::os::fd::RawFd;
use std::time::Duration;

use bytes::BufMut;
use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

const TEXT: &str = "Content-Type: text/plain; charset=utf-8";

/// Content-Type header lines `/echo` can send back (its value compared case-insensitively);
/// anything else is answered with the first.
const ECHO_TYPES: &[&str] = &[
    "Content-Type: application/octet-stream",
    "Content-Type: application/json",
    "Content-Type: text/plain",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Type: application/x-www-form-urlencoded",
];

fn echo_type_header(ctype: &[u8]) -> &'static str {
    let same = |h: &&&str| h.as_bytes()["Content-Type: ".len()..].eq_ignore_ascii_case(ctype);
    ECHO_TYPES
        .iter()
        .find(same)
        .copied()
        .unwrap_or(ECHO_TYPES[0])
}

fn query_u64(query: &str, key: &str) -> u64 {
    query
        .split('&')
        .find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.parse().ok()).flatten()
        })
        .unwrap_or(0)
}

struct Service;

impl HttpService for Service {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        let (path, query) = req.path().split_once('?').unwrap_or((req.path(), ""));
        match (req.method(), path) {
            ("GET", "/") => {
                rsp.header(TEXT).body("Hello, World!");
            }
            ("GET", "/json") => {
                rsp.header("Content-Type: application/json");
                serde_json::to_writer(
                    rsp.body_mut().writer(),
                    &Message {
                        message: "Hello, World!",
                    },
                )?;
            }
            ("POST" | "PUT", "/echo") => {
                let ctype = req
                    .headers()
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-type"));
                if let Some(h) = ctype {
                    rsp.header(echo_type_header(h.value));
                }
                // `body()` reads exactly Content-Length bytes (from the buffer, then the socket).
                let mut body = req.body();
                let out = rsp.body_mut();
                loop {
                    let chunk = body.fill_buf()?;
                    if chunk.is_empty() {
                        break;
                    }
                    let n = chunk.len();
                    out.extend_from_slice(chunk);
                    body.consume(n);
                }
            }
            ("GET", "/slow") => {
                may::coroutine::sleep(Duration::from_millis(query_u64(query, "ms")));
                rsp.header(TEXT).body("done");
            }
            ("GET", "/blocking") => {
                let ms = query_u64(query, "ms");
                let (tx, rx) = may::sync::mpsc::channel();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(ms));
                    let _ = tx.send(());
                });
                rx.recv()
                    .map_err(|_| io::Error::other("blocking thread died"))?;
                rsp.header(TEXT).body("done");
            }
            ("GET", "/stream") => {
                use std::io::Write;
                let mut w = rsp.header(TEXT).body_mut().writer();
                for i in 0..query_u64(query, "n") {
                    writeln!(w, "chunk {i}")?;
                }
            }
            ("GET", "/health") => {
                rsp.header(TEXT).body("ok");
            }
            _ => {
                rsp.status_code(404, "Not Found")
                    .header(TEXT)
                    .body("not found");
            }
        }
        Ok(())
    }
}

struct Factory;

impl HttpServiceFactory for Factory {
    type Service = Service;

    /// Called once per accepted connection; `id` is the connection's fd (may_minihttp's
    /// `start` passes `as_raw_fd()`), the only hook where the socket can be configured.
    fn new_service(&self, id: usize) -> Service {
        set_nodelay(id as RawFd);
        Service
    }
}

fn set_nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: fd is the freshly accepted, open connection socket; the option value is a
    // c_int that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        eprintln!("TCP_NODELAY: {}", io::Error::last_os_error());
    }
}

fn parse_args() -> (String, usize) {
    let mut listen = "127.0.0.1:8080".to_string();
    let mut workers = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().expect("--listen ADDR"),
            "--workers" => workers = args.next().expect("--workers N").parse().expect("bad N"),
            other => {
                eprintln!("usage: may-minihttp-server [--listen ADDR] [--workers N] (unknown arg {other})");
                std::process::exit(2);
            }
        }
    }
    (listen, workers.max(1))
}

fn main() {
    let (listen, workers) = parse_args();
    // may_minihttp has no shutdown: exit(0) on SIGINT/SIGTERM so callgrind writes its output.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .expect("signal handler");
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            std::process::exit(0);
        }
    });
    // Must come before the first coroutine: the scheduler starts with it.
    may::config().set_workers(workers);
    let server = Factory.start(&listen).unwrap_or_else(|e| {
        eprintln!("bind {listen}: {e}");
        std::process::exit(1);
    });
    eprintln!("may-minihttp-server listening on {listen}");
    let _ = server.join();
}
