//! The real binary's access log, JSON logs and metrics listener, read from the outside.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Nucleus {
    child: Child,
    addr: SocketAddr,
    /// Further lines the binary printed at start (e.g. the metrics address).
    banner: Vec<String>,
}

fn start(args: &[&str], stderr: Stdio, banner_lines: usize) -> Nucleus {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nucleus"))
        .args(["--listen", "127.0.0.1:0", "--workers", "2"])
        .args(args)
        .env_remove("NUCLEUS_LOG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = Vec::new();
    let mut addr = None;
    while addr.is_none() || banner.len() < banner_lines {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let listening = line.trim().strip_prefix("nucleus listening on ");
        match listening.and_then(|l| l.strip_prefix("http://").or(l.strip_prefix("https://"))) {
            Some(a) => addr = Some(a.parse().unwrap()),
            None => banner.push(line.trim().to_owned()),
        }
    }
    // Keep draining stdout so the binary never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Nucleus {
        child,
        addr: addr.unwrap(),
        banner,
    }
}

/// A server a test forgot to stop, or whose test failed first, must not outlive the test run.
impl Drop for Nucleus {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Nucleus {
    /// SIGTERM, then wait for a clean exit (which flushes the logs).
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
    }
}

/// One request on its own connection; returns the raw response.
fn request(addr: SocketAddr, raw: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The metrics page at `url`, read with a real HTTP client.
fn scrape(url: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}

const JSON_REQUEST: &str = "GET /json?x=1 HTTP/1.1\r\nHost: x\r\nReferer: http://ref.example/a\r\n\
                            User-Agent: test-agent/1.0 \"quoted\"\r\nX-Request-Id: req-7\r\n\
                            Connection: close\r\n\r\n";

fn temp_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("nucleus-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// The access log lines of one `JSON_REQUEST` in `format`.
fn access_log_of_one_request(format: &str) -> Vec<String> {
    let path = temp_path(&format!("access-{format}.log"));
    let server = start(
        &[
            "--access-log",
            format,
            "--access-log-file",
            path.to_str().unwrap(),
            "--request-id-header",
            "x-request-id",
        ],
        Stdio::null(),
        0,
    );
    let answer = request(server.addr, JSON_REQUEST);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    server.stop();
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    text.lines().map(str::to_owned).collect()
}

/// Splits `[27/Nov/2026:05:01:43 +0000]` out of a CLF line, checking its shape.
fn split_time(line: &str) -> (String, String) {
    let (before, rest) = line.split_once(" [").unwrap();
    let (time, after) = rest.split_once("] ").unwrap();
    let shape: String = time
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                '9'
            } else if c.is_ascii_alphabetic() {
                'a'
            } else {
                c
            }
        })
        .collect();
    assert_eq!(shape, "99/aaa/9999:99:99:99 +9999", "{time}");
    (before.to_owned(), after.to_owned())
}

#[test]
fn combined_access_log_is_nginx_byte_for_byte() {
    let lines = access_log_of_one_request("combined");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (before, after) = split_time(&lines[0]);
    assert_eq!(before, "127.0.0.1 - -");
    // 27 bytes: {"message":"Hello, World!"}; a `"` in a field is escaped as nginx does.
    assert_eq!(
        after,
        r#""GET /json?x=1 HTTP/1.1" 200 27 "http://ref.example/a" "test-agent/1.0 \x22quoted\x22""#
    );
}

#[test]
fn each_line_takes_its_own_requests_fields_on_a_kept_alive_connection() {
    let path = temp_path("access-pipelined.log");
    let server = start(
        &[
            "--access-log",
            "combined",
            "--access-log-file",
            path.to_str().unwrap(),
        ],
        Stdio::null(),
        0,
    );
    // Three requests in one write: field names in any case, the first of two user agents,
    // a request with neither field after one with both, and an absolute-form target.
    let answer = request(
        server.addr,
        "GET /a?q=1 HTTP/1.1\r\nHost: x\r\nuser-agent: first-ua\r\nReferer: r1\r\n\
         User-Agent: second-ua\r\n\r\n\
         GET /b HTTP/1.1\r\nHost: x\r\n\r\n\
         GET http://x/json HTTP/1.1\r\nHost: x\r\nREFERER: R3\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 3, "{answer}");
    server.stop();
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let lines: Vec<String> = text.lines().map(|l| split_time(l).1).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with(r#""GET /a?q=1 HTTP/1.1" 404 "#),
        "{lines:?}"
    );
    assert!(lines[0].ends_with(r#" "r1" "first-ua""#), "{lines:?}");
    assert!(
        lines[1].starts_with(r#""GET /b HTTP/1.1" 404 "#),
        "{lines:?}"
    );
    assert!(lines[1].ends_with(r#" "-" "-""#), "{lines:?}");
    assert_eq!(lines[2], r#""GET http://x/json HTTP/1.1" 200 27 "R3" "-""#);
}

#[test]
fn common_access_log_stops_after_the_byte_count() {
    let lines = access_log_of_one_request("common");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (before, after) = split_time(&lines[0]);
    assert_eq!(before, "127.0.0.1 - -");
    assert_eq!(after, r#""GET /json?x=1 HTTP/1.1" 200 27"#);
}

#[test]
fn json_access_log_has_every_field() {
    let lines = access_log_of_one_request("json");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["remote_addr"], "127.0.0.1");
    assert_eq!(v["request_id"], "req-7");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["route"], "/json");
    assert_eq!(v["target"], "/json?x=1");
    assert_eq!(v["protocol"], "HTTP/1.1");
    assert_eq!(v["status"], 200);
    assert_eq!(v["body_bytes_sent"], 27);
    assert_eq!(v["referer"], "http://ref.example/a");
    assert_eq!(v["user_agent"], "test-agent/1.0 \"quoted\"");
    assert!(v["duration_ms"].as_f64().unwrap() >= 0.0);
    let time = v["time"].as_str().unwrap();
    assert_eq!(time.len(), 20, "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
}

#[test]
fn sigusr1_reopens_the_access_log_file() {
    let path = temp_path("rotate.log");
    let rotated = path.with_extension("log.1");
    let server = start(
        &[
            "--access-log",
            "common",
            "--access-log-file",
            path.to_str().unwrap(),
        ],
        Stdio::null(),
        0,
    );
    let get = |target: &str| {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert!(request(server.addr, &raw).starts_with("HTTP/1.1 200"));
    };
    get("/?before");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&path)
        .unwrap_or_default()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the first line never reached the file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::rename(&path, &rotated).unwrap();
    server.signal("-USR1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(Instant::now() < deadline, "SIGUSR1 did not reopen the file");
        std::thread::sleep(Duration::from_millis(20));
    }
    get("/?after");
    server.stop();
    let old = std::fs::read_to_string(&rotated).unwrap();
    let new = std::fs::read_to_string(&path).unwrap();
    let _ = (std::fs::remove_file(&path), std::fs::remove_file(&rotated));
    assert!(
        old.contains("GET /?before ") && !old.contains("after"),
        "{old}"
    );
    assert!(
        new.contains("GET /?after ") && !new.contains("before"),
        "{new}"
    );
}

/// A broken chunked body: a request-level error, logged with the request's context. The echo
/// handler has nothing to answer with, so the connection is just cut.
const BROKEN_CHUNKED: &str = "POST /echo HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-me-42\r\n\
                              Transfer-Encoding: chunked\r\n\r\nzz\r\n";

/// The JSON log lines (debug level) of a server started with `args` that was sent `requests`.
fn json_log_lines(args: &[&str], requests: &[&str]) -> (Vec<serde_json::Value>, String) {
    let log = temp_path("stderr.log");
    let mut all = vec!["--log-format", "json", "--log-level", "debug"];
    all.extend_from_slice(args);
    let server = start(&all, Stdio::from(std::fs::File::create(&log).unwrap()), 0);
    for raw in requests {
        request(server.addr, raw);
    }
    server.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (lines, text)
}

#[test]
fn request_log_lines_carry_method_and_route_even_with_everything_off() {
    let (lines, text) = json_log_lines(&[], &[BROKEN_CHUNKED]);
    let chunk = lines
        .iter()
        .find(|v| v["fields"]["rule"] == "chunk_size")
        .unwrap_or_else(|| panic!("no chunk_size line in:\n{text}"));
    assert_eq!(chunk["fields"]["method"], "POST");
    assert_eq!(chunk["fields"]["route"], "/echo");
    assert!(chunk["fields"]["peer"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(
        chunk["fields"].get("request_id").is_none(),
        "request IDs are off: {chunk}"
    );
}

#[test]
fn json_logs_are_json_lines_carrying_the_request_id() {
    // The malformed head is logged with the rule and the escaped first bytes.
    let (lines, text) = json_log_lines(
        &["--request-id-header", "x-request-id"],
        &[BROKEN_CHUNKED, "GET / HTTP/1.1\r\nHost x\r\n\r\n"],
    );
    let chunk = lines
        .iter()
        .find(|v| v["fields"]["request_id"] == "trace-me-42")
        .unwrap_or_else(|| panic!("no line with the request ID in:\n{text}"));
    assert_eq!(chunk["level"], "DEBUG");
    assert_eq!(chunk["fields"]["rule"], "chunk_size");
    assert_eq!(chunk["fields"]["method"], "POST");
    assert_eq!(chunk["fields"]["route"], "/echo");
    assert!(chunk["fields"]["peer"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    let head = lines
        .iter()
        .find(|v| v["fields"]["rule"] == "header_name")
        .unwrap_or_else(|| panic!("no malformed-head line in:\n{text}"));
    assert_eq!(head["fields"]["status"], 400);
    assert!(head["fields"]["head"]
        .as_str()
        .unwrap()
        .starts_with("GET / HTTP/1.1\\r\\nHost x"));
}

#[test]
fn by_default_there_is_no_metrics_endpoint_and_no_request_id() {
    // Both are opt-in: each costs instructions on every request.
    let server = start(&[], Stdio::null(), 0);
    let metrics = request(
        server.addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(metrics.starts_with("HTTP/1.1 404"), "{metrics}");
    let hello = request(
        server.addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(hello.starts_with("HTTP/1.1 200"), "{hello}");
    assert!(
        !hello.to_ascii_lowercase().contains("x-request-id"),
        "{hello}"
    );
    server.stop();
}

#[test]
fn metrics_can_move_to_their_own_listener() {
    let server = start(&["--metrics-listen", "127.0.0.1:0"], Stdio::null(), 1);
    let metrics_url = server.banner[0]
        .strip_prefix("nucleus metrics on ")
        .unwrap()
        .to_owned();
    assert!(metrics_url.ends_with("/metrics"), "{metrics_url}");
    let answer = request(
        server.addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let text = scrape(&metrics_url);
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="<unmatched>",status="404"} 1"#),
        "{text}"
    );
    server.stop();
}

#[test]
fn http2_requests_are_logged_counted_and_carry_request_ids() {
    let path = temp_path("access-h2.log");
    let server = start(
        &[
            "--access-log",
            "json",
            "--access-log-file",
            path.to_str().unwrap(),
            "--request-id-header",
            "x-request-id",
            "--metrics-path",
            "/metrics",
        ],
        Stdio::null(),
        0,
    );
    let base = format!("http://{}", server.addr);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (echoed, generated, metrics) = rt.block_on(async {
        // Cleartext HTTP/2 with prior knowledge: the same port, detected from the preface.
        let client = reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .unwrap();
        let echoed = client
            .get(format!("{base}/json?x=1"))
            .header("x-request-id", "h2-req-1")
            .header("user-agent", "h2-agent")
            .send()
            .await
            .unwrap();
        assert_eq!(echoed.version(), reqwest::Version::HTTP_2);
        let echoed = echoed.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let generated = client
            .get(format!("{base}/json"))
            .header("x-request-id", "bad id\twith tab")
            .send()
            .await
            .unwrap();
        let generated = generated.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let metrics = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (echoed, generated, metrics)
    });
    assert_eq!(echoed, "h2-req-1");
    assert_eq!(
        generated.len(),
        26,
        "a generated ID replaces a malformed one: {generated}"
    );
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/json",status="200"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"http_connections_total{protocol="http2"} 1"#),
        "{metrics}"
    );
    // The two finished streams left the gauge; the scrape's own stream is the one in flight.
    assert!(
        metrics.contains("\nhttp_requests_in_flight 1\n"),
        "{metrics}"
    );
    for log in ["server", "access"] {
        let series = format!(r#"log_lines_dropped_total{{log="{log}"}} 0"#);
        assert!(metrics.contains(&series), "{metrics}");
    }
    server.stop();
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["protocol"], "HTTP/2.0");
    assert_eq!(first["request_id"], "h2-req-1");
    assert_eq!(first["route"], "/json");
    assert_eq!(first["target"], "/json?x=1");
    assert_eq!(first["user_agent"], "h2-agent");
    assert_eq!(first["status"], 200);
    assert_eq!(first["body_bytes_sent"], 27);
}

#[test]
fn failed_tls_handshakes_are_counted_by_kind() {
    let server = start(
        &["--tls-self-signed", "--metrics-listen", "127.0.0.1:0"],
        Stdio::null(),
        2,
    );
    let metrics_url = server
        .banner
        .iter()
        .find_map(|line| line.strip_prefix("nucleus metrics on "))
        .unwrap()
        .to_owned();
    // Plain HTTP on the HTTPS port: nginx's 400, then a failed handshake.
    let answer = request(server.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // A whole handshake record that rustls refuses at once: a server's hello, empty.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])
        .unwrap();
    let _ = s.read_to_end(&mut Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(&metrics_url);
        if text.contains(r#"http_errors_total{kind="tls_handshake"} 2"#) {
            assert!(text.contains(r#"http_errors_total{kind="timeout_tls_handshake"} 0"#));
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
}

#[test]
fn sigusr1_without_an_access_log_leaves_the_server_running() {
    // logrotate's hook sends SIGUSR1 whatever the server's configuration; its default action
    // would end the process.
    let server = start(&[], Stdio::null(), 0);
    let ok = |label: &str| {
        let raw = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        assert!(
            request(server.addr, raw).starts_with("HTTP/1.1 200"),
            "{label}"
        );
    };
    ok("before");
    server.signal("-USR1");
    std::thread::sleep(Duration::from_millis(200));
    ok("after SIGUSR1");
    server.stop();
}
