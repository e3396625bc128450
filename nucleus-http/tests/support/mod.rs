//! Test server and raw-socket client shared by the engine's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

pub mod frames;

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use nucleus_http::{Body, Builder, Config, Server, ShutdownHandle, WorkerModel};

pub struct TestServer {
    pub addr: SocketAddr,
    /// Every bound address, in the order listened; `addr` is the first.
    pub addrs: Vec<SocketAddr>,
    pub handle: ShutdownHandle,
    pub thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

pub fn start() -> TestServer {
    start_with(Config::default(), WorkerModel::PerCore)
}

pub fn start_with(config: Config, model: WorkerModel) -> TestServer {
    start_builder(|b| b.worker_model(model).config(config))
}

/// Starts the test service on 127.0.0.1 with 2 workers and whatever else `configure` sets.
pub fn start_builder(configure: impl FnOnce(Builder) -> Builder) -> TestServer {
    let builder = Server::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .workers(2);
    let server = configure(builder).bind().unwrap();
    let addrs = server.local_addrs();
    let addr = addrs[0];
    let handle = server.shutdown_handle();
    let thread = std::thread::spawn(move || server.run(tower::service_fn(route)));
    wait_until_ready(addr);
    TestServer {
        addr,
        addrs,
        handle,
        thread: Some(thread),
    }
}

/// Polls `/ready` until the server says so.
fn wait_until_ready(addr: SocketAddr) {
    for _ in 0..200 {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            // 404: readiness is disabled, but the server answers.
            if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.1 404") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("server never became ready");
}

fn query_num(req: &Request<Body>, key: &str) -> u64 {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn text(status: StatusCode, body: impl Into<Body>) -> Response<Body> {
    let mut res = Response::new(body.into());
    *res.status_mut() = status;
    res
}

/// `res` with one more header field.
fn with_header(mut res: Response<Body>, name: &'static str, value: &'static str) -> Response<Body> {
    res.headers_mut()
        .insert(name, HeaderValue::from_static(value));
    res
}

/// The engine tests' service: no framework, just `http` types.
async fn route(mut req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    Ok(match path.as_str() {
        "/" => text(StatusCode::OK, "Hello, World!"),
        "/echo" => Response::new(req.into_body()),
        "/collect" => match req.into_body().collect().await {
            Ok(collected) => {
                let trailers = collected.trailers().cloned();
                let bytes = collected.to_bytes();
                let mut body = format!("{} bytes", bytes.len());
                if let Some(t) = trailers {
                    for (k, v) in &t {
                        body.push_str(&format!(" {}={}", k, v.to_str().unwrap()));
                    }
                }
                text(StatusCode::OK, body)
            }
            Err(err) if err.is_body_too_large() => text(StatusCode::PAYLOAD_TOO_LARGE, "too large"),
            Err(err) => text(err.status(), "bad body"),
        },
        // The body read by another task than the connection's: its wakes must cross tasks.
        "/collect-spawned" => {
            let body = req.into_body();
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                let _ = tx.send(body.collect().await.map(|c| c.to_bytes().len()));
            });
            match rx.await {
                Ok(Ok(n)) => text(StatusCode::OK, format!("{n} bytes")),
                _ => text(StatusCode::BAD_REQUEST, "bad body"),
            }
        }
        "/ignore-body" => text(StatusCode::OK, "ignored"),
        // A streamed body that fails, before its first byte or after `n` chunks.
        "/fail-stream" => {
            let n = query_num(&req, "n");
            let chunks = futures_util::stream::iter(0..=n).map(move |i| {
                if i < n {
                    Ok(Bytes::from(format!("chunk{i}\n")))
                } else {
                    Err(std::io::Error::other("the source broke"))
                }
            });
            Response::new(Body::from_stream(chunks))
        }
        // Whatever status `code` asks for, as the final response (1xx included: a bug).
        "/status" => {
            let code = u16::try_from(query_num(&req, "code")).unwrap_or(500);
            text(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "as asked",
            )
        }
        "/panic" => panic!("handler exploded"),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(query_num(&req, "ms"))).await;
            text(StatusCode::OK, "done")
        }
        "/stream" => {
            let n = query_num(&req, "n");
            let chunks = futures_util::stream::iter(0..n)
                .map(|i| Ok::<_, Infallible>(Bytes::from(format!("chunk{i}\n"))));
            Response::new(Body::from_stream(chunks))
        }
        "/big" => text(StatusCode::OK, vec![b'z'; query_num(&req, "n") as usize]),
        "/trailers" => {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("x-checksum", "abc".parse().unwrap());
            // Fields that may not be sent as trailers (RFC 9110 §6.5.1): the engine drops them.
            trailers.insert("content-length", "100".parse().unwrap());
            trailers.insert("host", "elsewhere".parse().unwrap());
            let frames = futures_util::stream::iter([
                Ok::<_, Infallible>(http_body::Frame::data(Bytes::from_static(b"body"))),
                Ok(http_body::Frame::trailers(trailers)),
            ]);
            Response::new(Body::new(http_body_util::StreamBody::new(frames)))
        }
        "/no-content" => text(StatusCode::NO_CONTENT, Body::empty()),
        // Handler mistakes the engine corrects: a body on a 204 or 304, a wrong length.
        "/no-content-with-body" => text(StatusCode::NO_CONTENT, "oops"),
        "/not-modified-with-body" => with_header(
            text(StatusCode::NOT_MODIFIED, "oops"),
            "content-length",
            "1234",
        ),
        "/wrong-length" => with_header(text(StatusCode::OK, "hello"), "content-length", "99"),
        "/not-modified" => text(StatusCode::NOT_MODIFIED, Body::empty()),
        "/close" => with_header(text(StatusCode::OK, "bye"), "connection", "close"),
        "/peer" => {
            let current = nucleus_http::PeerAddr::current().map(|p| p.0.ip().to_string());
            let extension = req.extensions().get::<nucleus_http::PeerAddr>();
            let extension = extension.map(|p| p.0.ip().to_string());
            let peer = match (current, extension) {
                (Some(c), Some(e)) => Some(format!("{c} {e}")),
                (c, e) => c.or(e),
            };
            text(StatusCode::OK, peer.unwrap_or_default())
        }
        "/method" => text(StatusCode::OK, format!("{} {}", req.method(), req.uri())),
        "/headers" => {
            let names: Vec<String> = req
                .headers()
                .iter()
                .map(|(k, v)| format!("{k}={}", v.to_str().unwrap_or("?")))
                .collect();
            let mut res = text(StatusCode::OK, names.join(" "));
            for name in ["x-response-a", "x-response-b", "x-response-c"] {
                res.headers_mut().insert(name, "leak".parse().unwrap());
            }
            res
        }
        "/version" => {
            let host = req
                .headers()
                .get("host")
                .map(|h| h.to_str().unwrap().to_owned());
            text(
                StatusCode::OK,
                format!("{:?} {}", req.version(), host.unwrap_or_default()),
            )
        }
        "/upgrade" => {
            let on_upgrade = nucleus_http::upgrade::on(&mut req);
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                if let Ok(mut io) = on_upgrade.await {
                    let mut buf = [0u8; 1024];
                    // A test protocol: every read is echoed back upper-cased.
                    while let Ok(n @ 1..) = io.read(&mut buf).await {
                        let upper = buf[..n].to_ascii_uppercase();
                        if io.write_all(&upper).await.is_err() {
                            break;
                        }
                    }
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "upgrade")
                .header("upgrade", "shout")
                .body(Body::empty())
                .unwrap()
        }
        _ => text(StatusCode::NOT_FOUND, "not found"),
    })
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Sends `bytes` on a new connection and reads one response.
pub fn exchange(addr: SocketAddr, bytes: &[u8]) -> RawResponse {
    let mut stream = connect(addr);
    stream.write_all(bytes).unwrap();
    let mut reader = BufReader::new(stream);
    read_response(&mut reader, false).expect("a response")
}

/// Reads one response; `head_only` for answers to HEAD.
pub fn read_response<R: BufRead>(reader: &mut R, head_only: bool) -> Option<RawResponse> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let mut res = RawResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status < 200 || status == 204 || status == 304 {
        return Some(res);
    }
    if let Some(len) = res.header("content-length") {
        let mut body = vec![0; len.parse().ok()?];
        reader.read_exact(&mut body).ok()?;
        res.body = body;
    } else if res.header("transfer-encoding").is_some() {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim_end(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            res.body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut res.body).ok()?;
    }
    Some(res)
}

/// Reads until the server closes; panics if it does not within the read timeout.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => out,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => out,
        Err(e) => panic!("server did not close the connection: {e}"),
    }
}

/// A self-signed certificate and its key, in PEM.
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

/// A self-signed certificate for `names` (DNS names; wildcards allowed).
pub fn cert_for(names: &[&str]) -> TestCert {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    TestCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// A reqwest client over rustls that trusts only `roots`.
pub fn https_client(roots: &[&TestCert]) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .tls_info(true)
        .no_proxy()
        .timeout(Duration::from_secs(30));
    for root in roots {
        builder = builder.add_root_certificate(
            reqwest::Certificate::from_pem(root.cert_pem.as_bytes()).unwrap(),
        );
    }
    builder
}

/// The leaf certificate the server presented, from a response of an [`https_client`].
pub fn peer_certificate(res: &reqwest::Response) -> Vec<u8> {
    res.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("TLS info")
        .to_vec()
}
