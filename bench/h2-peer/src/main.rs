//! HTTP/2 and TLS peer server for the Nucleus benchmarks: hyper 1.x + hyper-util.
//!
//! `hyper-h2-server [--listen ADDR] [--workers N] [--h2c] [--tls-cert FILE --tls-key FILE]`
//! (defaults 127.0.0.1:8080, 1). HTTP/1.1 only by default (`http1::Builder`); `--h2c` serves
//! HTTP/1.1 and HTTP/2 with prior knowledge on the port (hyper-util's `auto::Builder`, as
//! Nucleus does); `--tls-cert`/`--tls-key` serve HTTPS with the same rustls configuration as
//! Nucleus (ring, TLS 1.3 + 1.2, server cipher order, tickets, ALPN h2 + http/1.1).
//! Routes are identical to Nucleus's demo app (see bench/README.md).
//!
//! Its own Cargo workspace (see Cargo.toml): built with hyper's `http2` feature, which also
//! changes hyper's HTTP/1 code, so its plain HTTP/1.1 mode is NOT the HTTP/1.1 yardstick;
//! that is `bench/peers/hyper-server` (hyper with `http1` only).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;

type Body = BoxBody<Bytes, hyper::Error>;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

fn full(status: StatusCode, ctype: &'static str, b: impl Into<Bytes>) -> Response<Body> {
    let mut res = Response::new(Full::new(b.into()).map_err(|e: Infallible| match e {}).boxed());
    *res.status_mut() = status;
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    res
}

fn query_u64(req: &Request<Incoming>, key: &str) -> u64 {
    req.uri()
        .query()
        .and_then(|q| {
            q.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == key).then(|| v.parse().ok()).flatten()
            })
        })
        .unwrap_or(0)
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let res = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => full(StatusCode::OK, TEXT, "Hello, World!"),
        (&Method::GET, "/json") => {
            let body = serde_json::to_vec(&Message { message: "Hello, World!" }).unwrap();
            full(StatusCode::OK, "application/json", body)
        }
        (&Method::POST | &Method::PUT, "/echo") => {
            let ctype = req.headers().get(CONTENT_TYPE).cloned();
            let mut res = Response::new(req.into_body().boxed());
            if let Some(ct) = ctype {
                res.headers_mut().insert(CONTENT_TYPE, ct);
            }
            res
        }
        (&Method::GET, "/slow") => {
            tokio::time::sleep(Duration::from_millis(query_u64(&req, "ms"))).await;
            full(StatusCode::OK, TEXT, "done")
        }
        (&Method::GET, "/blocking") => {
            let ms = query_u64(&req, "ms");
            tokio::task::spawn_blocking(move || std::thread::sleep(Duration::from_millis(ms)))
                .await
                .unwrap();
            full(StatusCode::OK, TEXT, "done")
        }
        (&Method::GET, "/stream") => {
            let n = query_u64(&req, "n");
            let chunks = futures_util::stream::iter(
                (0..n).map(|i| Ok::<_, hyper::Error>(Frame::data(Bytes::from(format!("chunk {i}\n"))))),
            );
            let mut res = Response::new(StreamBody::new(chunks).boxed());
            res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(TEXT));
            res
        }
        (&Method::GET, "/health") => full(StatusCode::OK, TEXT, "ok"),
        _ => full(StatusCode::NOT_FOUND, TEXT, "not found"),
    };
    Ok(res)
}

struct Args {
    listen: SocketAddr,
    workers: usize,
    h2c: bool,
    cert: Option<String>,
    key: Option<String>,
}

fn parse_args() -> Args {
    let mut a = Args { listen: "127.0.0.1:8080".parse().unwrap(), workers: 1, h2c: false, cert: None, key: None };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => a.listen = args.next().expect("--listen ADDR").parse().expect("bad ADDR"),
            "--workers" => a.workers = args.next().expect("--workers N").parse().expect("bad N"),
            "--h2c" => a.h2c = true,
            "--tls-cert" => a.cert = Some(args.next().expect("--tls-cert FILE")),
            "--tls-key" => a.key = Some(args.next().expect("--tls-key FILE")),
            other => {
                eprintln!(
                    "usage: hyper-h2-server [--listen ADDR] [--workers N] [--h2c] \
                     [--tls-cert FILE --tls-key FILE] (unknown arg {other})"
                );
                std::process::exit(2);
            }
        }
    }
    a.workers = a.workers.max(1);
    a
}

fn tls_acceptor(cert: &str, key: &str) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert).expect("cert file").map(|c| c.expect("cert")).collect();
    let key = PrivateKeyDer::from_pem_file(key).expect("key file");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate and key");
    config.ignore_client_order = true;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ticketer = rustls::crypto::ring::Ticketer::new().unwrap();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

async fn serve(args: Args) {
    let listener = tokio::net::TcpListener::bind(args.listen).await.expect("bind");
    eprintln!("hyper-h2-server listening on {}", args.listen);
    let tls = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)),
        _ => None,
    };
    let h2c = args.h2c;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            let auto = || hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            match tls {
                Some(tls) => {
                    let Ok(stream) = tls.accept(stream).await else { return };
                    let _ = auto().serve_connection(TokioIo::new(stream), service_fn(handle)).await;
                }
                None if h2c => {
                    let _ = auto().serve_connection(TokioIo::new(stream), service_fn(handle)).await;
                }
                None => {
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service_fn(handle))
                        .await;
                }
            }
        });
    }
}

/// Exit cleanly (status 0) on SIGINT/SIGTERM so valgrind/callgrind write their output.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
}

fn main() {
    let args = parse_args();
    let workers = args.workers;
    let rt = if workers == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    }
    .expect("runtime");
    rt.block_on(async {
        tokio::select! { _ = serve(args) => {}, _ = shutdown_signal() => {} }
    });
    std::process::exit(0);
}
