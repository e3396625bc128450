//! Metrics and request IDs over real sockets: scrape `/metrics` with a real client, parse the
//! text format, and watch the series move.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use nucleus::metrics::Metrics;
use nucleus::{Request, Router};
use nucleus_http::observe::RequestId;

struct Running {
    addr: SocketAddr,
    handle: nucleus_http::ShutdownHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn panics(_req: Request) -> &'static str {
    panic!("boom")
}

async fn echo_id(req: Request) -> String {
    let current = RequestId::current().map(|id| id.to_string());
    let header = req
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    format!(
        "{}|{}",
        current.unwrap_or_default(),
        header.unwrap_or_default()
    )
}

fn start(configure: impl FnOnce(&mut nucleus::Config)) -> Running {
    start_with(Arc::new(Metrics::new()), configure)
}

/// A server exporting `metrics`; `configure` may replace the observer (keeping `metrics` in).
fn start_with(metrics: Arc<Metrics>, configure: impl FnOnce(&mut nucleus::Config)) -> Running {
    let mut config = nucleus::Config::default();
    config.observer = Some(metrics.clone());
    configure(&mut config);
    let app = Router::new()
        .get("/", |_req: Request| async { "hello" })
        .get("/users/{id}", |_req: Request| async { "user" })
        .get("/panic", panics)
        .get("/id", echo_id)
        .get("/metrics", metrics.handler());
    let server = nucleus::Server::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .workers(2)
        .config(config)
        .bind()
        .unwrap();
    let addr = server.local_addrs()[0];
    let handle = server.shutdown_handle();
    let thread = std::thread::spawn(move || server.run(app).unwrap());
    Running {
        addr,
        handle,
        thread: Some(thread),
    }
}

/// Every sample of a scrape, keyed by its series (`name{labels}`), after checking that each
/// line is a comment or `series value` with a number.
async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let res = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect(line);
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "duplicate series {series}"
        );
    }
    samples
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

/// Sends raw bytes and returns everything the server answered before closing.
fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

const USERS_200: &str = r#"http_requests_total{method="GET",route="/users/{id}",status="200"}"#;

#[tokio::test(flavor = "multi_thread")]
async fn requests_count_by_route_template_and_fill_histogram_buckets() {
    let server = start(|_| {});
    let before = scrape(server.addr).await;
    assert_eq!(value(&before, USERS_200), 0.0);
    for id in 1..=3 {
        let res = reqwest::get(format!("http://{}/users/{id}", server.addr))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let after = scrape(server.addr).await;
    assert_eq!(value(&after, USERS_200), 3.0);
    assert!(
        after.keys().all(|k| !k.contains("/users/1")),
        "raw paths must never be labels"
    );
    let hist = |suffix: &str| {
        value(
            &after,
            &format!(
                r#"http_request_duration_seconds_{suffix}{{method="GET",route="/users/{{id}}"{}}}"#,
                ""
            ),
        )
    };
    assert_eq!(hist("count"), 3.0);
    let bucket = |le: &str| {
        value(
            &after,
            &format!(
                r#"http_request_duration_seconds_bucket{{method="GET",route="/users/{{id}}",le="{le}"}}"#
            ),
        )
    };
    assert_eq!(bucket("+Inf"), 3.0);
    assert_eq!(bucket("10"), 3.0, "a local request takes well under 10 s");
    assert!(bucket("0.0005") <= bucket("0.001") && bucket("0.001") <= bucket("0.01"));
    assert!(hist("sum") > 0.0);
    // The scrape being answered is the one request in flight.
    assert_eq!(value(&after, "http_requests_in_flight"), 1.0);
    assert!(value(&after, r#"http_connections_total{protocol="http1"}"#) >= 2.0);
    assert!(
        value(&after, "http_received_bytes_total") > value(&before, "http_received_bytes_total")
    );
    assert!(value(&after, "http_sent_bytes_total") > value(&before, "http_sent_bytes_total"));
    assert!(value(&after, "process_resident_memory_bytes") > 0.0);
    assert!(value(&after, "process_threads") >= 2.0);
    assert!(value(&after, "process_open_fds") >= 3.0);
    assert!(value(&after, "process_start_time_seconds") > 1.0e9);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_input_limits_timeouts_and_panics_are_counted() {
    let server = start(|c| c.header_read_timeout = Some(Duration::from_millis(300)));
    let addr = server.addr;
    let answer = tokio::task::spawn_blocking(move || {
        [
            raw(addr, b"GET / HTTP/1.1\r\nHost x\r\n\r\n"),
            raw(
                addr,
                format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000)).as_bytes(),
            ),
            raw(addr, b"GET / HTTP/1.1\r\nHo"),
        ]
    })
    .await
    .unwrap();
    assert!(answer[0].starts_with("HTTP/1.1 400 "), "{}", answer[0]);
    assert!(answer[1].starts_with("HTTP/1.1 414 "), "{}", answer[1]);
    assert!(answer[2].starts_with("HTTP/1.1 408 "), "{}", answer[2]);
    let res = reqwest::get(format!("http://{addr}/panic")).await.unwrap();
    assert_eq!(res.status(), 500);

    let m = scrape(addr).await;
    let requests = |status: &str| {
        value(
            &m,
            &format!(
                r#"http_requests_total{{method="OTHER",route="<unmatched>",status="{status}"}}"#
            ),
        )
    };
    assert_eq!(requests("400"), 1.0);
    assert_eq!(requests("414"), 1.0);
    assert_eq!(requests("408"), 1.0);
    assert_eq!(
        value(
            &m,
            r#"http_request_duration_seconds_count{method="OTHER",route="<unmatched>"}"#
        ),
        3.0
    );
    let errors = |kind: &str| value(&m, &format!(r#"http_errors_total{{kind="{kind}"}}"#));
    assert_eq!(errors("parse"), 1.0);
    assert_eq!(errors("limit"), 1.0);
    assert_eq!(errors("timeout_header_read"), 1.0);
    assert_eq!(errors("panic"), 1.0);
    assert_eq!(
        value(
            &m,
            r#"http_requests_total{method="GET",route="/panic",status="500"}"#
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_distinct_raw_paths_add_no_series() {
    let server = start(|_| {});
    let addr = server.addr;
    // One unmatched request first, so that its series exists before counting.
    assert_eq!(
        reqwest::get(format!("http://{addr}/x"))
            .await
            .unwrap()
            .status(),
        404
    );
    // Twice: the first scrape creates the `/metrics` route's own series.
    scrape(addr).await;
    let before = scrape(addr).await;
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        for batch in 0..10 {
            let mut requests = Vec::new();
            for i in 0..1000 {
                write!(
                    requests,
                    "GET /scan/{batch}-{i}?q={i} HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                .unwrap();
            }
            s.write_all(&requests).unwrap();
            let mut seen = 0;
            let mut buf = vec![0; 64 * 1024];
            let mut text = Vec::new();
            while seen < 1000 {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "closed early");
                text.extend_from_slice(&buf[..n]);
                seen = text.windows(12).filter(|w| w == b"HTTP/1.1 404").count();
            }
        }
    })
    .await
    .unwrap();
    let after = scrape(addr).await;
    let mut added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    added.sort();
    assert!(added.is_empty(), "new series: {added:?}");
    let unmatched = r#"http_requests_total{method="GET",route="<unmatched>",status="404"}"#;
    assert_eq!(
        value(&after, unmatched),
        value(&before, unmatched) + 10_000.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn request_ids_are_echoed_when_well_formed_and_replaced_otherwise() {
    let server =
        start(|c| c.request_id_header = Some(http::HeaderName::from_static("x-request-id")));
    let client = reqwest::Client::new();
    let get = |id: Option<&str>| {
        let mut req = client.get(format!("http://{}/id", server.addr));
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        async move {
            let res = req.send().await.unwrap();
            let header = res.headers()["x-request-id"].to_str().unwrap().to_owned();
            (header, res.text().await.unwrap())
        }
    };

    let (header, body) = get(Some("abc-123.X_y")).await;
    assert_eq!(header, "abc-123.X_y");
    assert_eq!(body, "abc-123.X_y|abc-123.X_y");

    let generated = |id: &str| id.len() == 26 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let (first, body) = get(None).await;
    assert!(generated(&first), "{first}");
    assert_eq!(body, format!("{first}|"));
    let (second, _) = get(None).await;
    assert_ne!(first, second);

    for bad in ["a".repeat(65), "<script>".to_owned(), "a b".to_owned()] {
        let (header, body) = get(Some(&bad)).await;
        assert!(generated(&header), "{bad:?} was kept as {header:?}");
        // The handler never sees the rejected value.
        assert_eq!(body, format!("{header}|"));
    }

    // A CR inside the value never gets that far: the parser refuses the request.
    let addr = server.addr;
    let answer = tokio::task::spawn_blocking(move || {
        raw(
            addr,
            b"GET /id HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\rb\r\n\r\n",
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn access_log_lines_dropped_when_its_buffer_is_full_are_exported() {
    use nucleus::access_log::{AccessLog, Format, Target};
    use nucleus_http::observe::Both;

    let path = std::env::temp_dir().join(format!("nucleus-{}-dropped.log", std::process::id()));
    // A one-byte buffer holds no line: every line is dropped and counted.
    let log = Arc::new(
        AccessLog::with_buffer_limit(Format::Common, Target::File(path.clone()), 1).unwrap(),
    );
    let metrics = Arc::new(Metrics::new());
    let counted = log.clone();
    metrics.count_dropped_lines("access", move || counted.dropped());
    let observer = Arc::new(Both(metrics.clone(), log.clone()));
    let server = start_with(metrics, move |config| config.observer = Some(observer));
    for _ in 0..3 {
        let answer = raw(
            server.addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let samples = scrape(server.addr).await;
    assert_eq!(
        value(&samples, r#"log_lines_dropped_total{log="access"}"#),
        3.0
    );
    // The scrape's own line was dropped after it rendered.
    assert_eq!(log.dropped(), 4);
    let _ = std::fs::remove_file(path);
}
