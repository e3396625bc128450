//! loadgen: send an exact number of HTTP/1.1 requests and verify every response.
//!
//! Used for fixed-count measurements (callgrind instructions/request, strace
//! syscalls/request) where wrk's "run for T seconds" model does not fit.
//! No async runtime: one OS thread per connection, std::net::TcpStream.
//!
//! ```text
//! loadgen [--addr 127.0.0.1:8080] [-n 1000] [-c 1] [-p 1] [--close]
//!         [--method GET] [--path /] [--body-size 0] [--expect-status 200]
//!         [--expect-len BYTES] [--quiet]
//! ```
//! * `-n`  total requests, split as evenly as possible over the `-c` connections
//! * `-p`  pipelining depth: up to P requests are written with one write() before
//!   their responses are read (keep-alive mode only)
//! * `--close`  one fresh connection per request, sent with `Connection: close`
//!   (the C threads each open their connections one after another)
//! * `--path P`  the target; `{n}` in it becomes an 8-digit counter, a new target for
//!   every request (keep-alive mode only)
//! * `--body-size B`  send a B-byte body (bytes 'a'..'z') with Content-Length
//! * `--expect-len`  check every response body has exactly this many bytes
//!   (defaults to B for `--path /echo` with a body)
//!
//! A response counts as complete when its head parses and its body (framed by
//! Content-Length, chunked encoding, or connection close) has been fully read.
//! Exit status is 1 if any request failed; a summary goes to stdout.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Opts {
    addr: SocketAddr,
    host: String,
    n: u64,
    c: u64,
    p: u64,
    close: bool,
    method: String,
    path: String,
    body: Vec<u8>,
    expect_status: u16,
    expect_len: Option<usize>,
    quiet: bool,
    /// Send the fields a desktop browser sends with a page request (12 more, ~600 bytes).
    browser: bool,
}

/// What Chrome sends with a navigation, give or take: the field count and sizes of a real
/// page request, so that per-field and per-byte costs show.
const BROWSER_HEADERS: &str = "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 \
(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,\
image/apng,*/*;q=0.8\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n\
Cache-Control: max-age=0\r\n\
Cookie: session=3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c; theme=dark; _ga=GA1.1.123456789.1700000000\r\n\
Referer: https://www.example.com/articles/2026/11/some-long-article-title\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: same-origin\r\n\
Upgrade-Insecure-Requests: 1\r\n";

fn usage(msg: &str) -> ! {
    eprintln!("loadgen: {msg}");
    eprintln!(
        "usage: loadgen [--addr HOST:PORT] [-n N] [-c C] [-p P] [--close] [--method M] \
         [--path P (`{{n}}`: a counter per request)] [--body-size B] [--expect-status S] [--expect-len L] [--browser-headers] [--quiet]"
    );
    std::process::exit(2);
}

fn parse_opts() -> Opts {
    let mut addr = "127.0.0.1:8080".to_string();
    let (mut n, mut c, mut p) = (1000u64, 1u64, 1u64);
    let mut close = false;
    let mut method = "GET".to_string();
    let mut path = "/".to_string();
    let mut body_size = 0usize;
    let mut expect_status = 200u16;
    let mut expect_len = None;
    let mut quiet = false;
    let mut browser = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        let num = |s: String| {
            s.parse::<u64>()
                .unwrap_or_else(|_| usage(&format!("bad number {s}")))
        };
        match a.as_str() {
            "--addr" => addr = val("--addr"),
            "-n" => n = num(val("-n")),
            "-c" => c = num(val("-c")).max(1),
            "-p" => p = num(val("-p")).max(1),
            "--close" => close = true,
            "--method" => method = val("--method"),
            "--path" => path = val("--path"),
            "--body-size" => body_size = num(val("--body-size")) as usize,
            "--expect-status" => expect_status = num(val("--expect-status")) as u16,
            "--expect-len" => expect_len = Some(num(val("--expect-len")) as usize),
            "--quiet" | "-q" => quiet = true,
            "--browser-headers" => browser = true,
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let addr_s = addr
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let sock = addr_s
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .unwrap_or_else(|| usage(&format!("cannot resolve {addr_s}")));
    let body: Vec<u8> = (0..body_size).map(|i| b'a' + (i % 26) as u8).collect();
    if expect_len.is_none() && body_size > 0 && path.starts_with("/echo") {
        expect_len = Some(body_size);
    }
    Opts {
        addr: sock,
        host: addr_s,
        n,
        c: c.min(n.max(1)),
        p,
        close,
        method,
        path,
        body,
        expect_status,
        expect_len,
        quiet,
        browser,
    }
}

fn build_request(o: &Opts, close: bool) -> Vec<u8> {
    let mut r = format!("{} {} HTTP/1.1\r\nHost: {}\r\n", o.method, o.path, o.host).into_bytes();
    if close {
        r.extend_from_slice(b"Connection: close\r\n");
    }
    if o.browser {
        r.extend_from_slice(BROWSER_HEADERS.as_bytes());
    }
    if !o.body.is_empty() || o.method == "POST" || o.method == "PUT" {
        r.extend_from_slice(
            format!(
                "Content-Length: {}\r\nContent-Type: application/octet-stream\r\n",
                o.body.len()
            )
            .as_bytes(),
        );
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(&o.body);
    r
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Buffered reader over a stream that parses HTTP/1.1 responses.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

struct Resp {
    status: u16,
    body_len: usize,
    close: bool,
}

impl Conn {
    fn new(s: TcpStream) -> Self {
        Conn {
            s,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// Read more bytes; Ok(false) at EOF.
    fn fill(&mut self) -> io::Result<bool> {
        if self.start > 0 && self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = self.s.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n > 0)
    }

    fn avail(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Read one line ending in CRLF (returned without it).
    fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.avail().windows(2).position(|w| w == b"\r\n") {
                let l = self.avail()[..i].to_vec();
                self.start += i + 2;
                return Ok(l);
            }
            if !self.fill()? {
                return Err(err("EOF inside a line"));
            }
        }
    }

    /// Skip exactly n body bytes.
    fn skip(&mut self, mut n: usize) -> io::Result<()> {
        loop {
            let k = n.min(self.end - self.start);
            self.start += k;
            n -= k;
            if n == 0 {
                return Ok(());
            }
            if !self.fill()? {
                return Err(err("EOF inside a body"));
            }
        }
    }

    fn response(&mut self, head_only: bool) -> io::Result<Resp> {
        let status_line = self.line()?;
        let sl = String::from_utf8_lossy(&status_line);
        let mut parts = sl.splitn(3, ' ');
        let ver = parts.next().unwrap_or("");
        if !ver.starts_with("HTTP/1.") {
            return Err(err(format!("bad status line {sl:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err("bad status"))?;
        let mut clen: Option<usize> = None;
        let mut chunked = false;
        let mut close = ver == "HTTP/1.0";
        loop {
            let h = self.line()?;
            if h.is_empty() {
                break;
            }
            let hs = String::from_utf8_lossy(&h);
            let (name, value) = hs
                .split_once(':')
                .ok_or_else(|| err(format!("bad header {hs:?}")))?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                clen = Some(value.parse().map_err(|_| err("bad content-length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    close = true;
                } else if v.contains("keep-alive") {
                    close = false;
                }
            }
        }
        let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
        let body_len = if no_body {
            0
        } else if chunked {
            let mut total = 0;
            loop {
                let l = self.line()?;
                let ls = String::from_utf8_lossy(&l);
                let size_s = ls.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_s, 16)
                    .map_err(|_| err(format!("bad chunk size {ls:?}")))?;
                if size == 0 {
                    // trailers, then the final empty line
                    while !self.line()?.is_empty() {}
                    break;
                }
                self.skip(size)?;
                if !self.line()?.is_empty() {
                    return Err(err("missing CRLF after chunk"));
                }
                total += size;
            }
            total
        } else if let Some(n) = clen {
            self.skip(n)?;
            n
        } else {
            // read to EOF
            let mut total = self.end - self.start;
            self.start = self.end;
            while self.fill()? {
                total += self.end - self.start;
                self.start = self.end;
            }
            close = true;
            total
        };
        Ok(Resp {
            status,
            body_len,
            close,
        })
    }
}

/// Connections opened (a keep-alive run should open exactly `-c`).
static CONNECTS: AtomicU64 = AtomicU64::new(0);

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    CONNECTS.fetch_add(1, Ordering::Relaxed);
    // Retry refused connections for a while: under valgrind the server is slow to start/accept.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => {
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(Duration::from_secs(120)))?;
                return Ok(s);
            }
            Err(e) if Instant::now() < deadline && e.kind() == io::ErrorKind::ConnectionRefused => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

fn check(o: &Opts, r: &Resp) -> io::Result<()> {
    if r.status != o.expect_status {
        return Err(err(format!(
            "status {} (expected {})",
            r.status, o.expect_status
        )));
    }
    if let Some(l) = o.expect_len {
        if r.body_len != l {
            return Err(err(format!("body {} bytes (expected {l})", r.body_len)));
        }
    }
    Ok(())
}

/// Runs `count` requests; returns the number that succeeded, plus the first error.
fn worker(o: &Opts, count: u64, done: &AtomicU64) -> (u64, Option<io::Error>) {
    let head_only = o.method == "HEAD";
    let mut ok = 0u64;
    if o.close {
        let req = build_request(o, true);
        for _ in 0..count {
            let r = (|| {
                let mut s = connect(o.addr)?;
                s.write_all(&req)?;
                let mut c = Conn::new(s);
                let resp = c.response(head_only)?;
                check(o, &resp)?;
                // Drain to EOF so the server closes first (no TIME_WAIT pile-up on the client side).
                while c.fill()? {
                    c.start = c.end;
                }
                Ok::<_, io::Error>(())
            })();
            if let Err(e) = r {
                return (ok, Some(e));
            }
            ok += 1;
            done.fetch_add(1, Ordering::Relaxed);
        }
        return (ok, None);
    }
    let one = build_request(o, false);
    // `{n}` in the path: every request gets its own target (an 8-digit counter there), to
    // measure targets that never repeat.
    let numbered = o.path.contains("{n}");
    let mut counter = 0u64;
    let mut conn: Option<Conn> = None;
    let mut left = count;
    while left > 0 {
        let batch = left.min(o.p);
        let r = (|| {
            if conn.is_none() {
                conn = Some(Conn::new(connect(o.addr)?));
            }
            let c = conn.as_mut().unwrap();
            let mut wbuf = Vec::with_capacity(one.len() * batch as usize);
            for _ in 0..batch {
                if numbered {
                    counter += 1;
                    let text =
                        String::from_utf8_lossy(&one).replacen("{n}", &format!("{counter:08}"), 1);
                    wbuf.extend_from_slice(text.as_bytes());
                } else {
                    wbuf.extend_from_slice(&one);
                }
            }
            c.s.write_all(&wbuf)?;
            for i in 0..batch {
                let resp = c.response(head_only)?;
                check(o, &resp)?;
                if resp.close {
                    conn = None;
                    if i + 1 < batch {
                        return Err(err("server closed a keep-alive connection mid-pipeline"));
                    }
                    break;
                }
            }
            Ok::<_, io::Error>(())
        })();
        if let Err(e) = r {
            return (ok, Some(e));
        }
        ok += batch;
        left -= batch;
        done.fetch_add(batch, Ordering::Relaxed);
    }
    (ok, None)
}

fn main() {
    let o = Arc::new(parse_opts());
    let done = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..o.c)
        .map(|i| {
            let count = o.n / o.c + u64::from(i < o.n % o.c);
            let (o, done) = (Arc::clone(&o), Arc::clone(&done));
            std::thread::spawn(move || worker(&o, count, &done))
        })
        .collect();
    let mut ok = 0;
    let mut errors = Vec::new();
    for h in handles {
        let (k, e) = h.join().expect("worker panicked");
        ok += k;
        if let Some(e) = e {
            errors.push(e);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let failed = o.n - ok;
    if !o.quiet || failed > 0 {
        println!(
            "requests={} ok={} failed={} connections={} connects={} pipeline={} close={} elapsed_s={:.3} req_per_s={:.0}",
            o.n, ok, failed, o.c, CONNECTS.load(Ordering::Relaxed), o.p, o.close, secs, ok as f64 / secs.max(1e-9)
        );
    }
    for e in errors.iter().take(5) {
        eprintln!("loadgen: error: {e}");
    }
    std::process::exit(if failed > 0 { 1 } else { 0 });
}
