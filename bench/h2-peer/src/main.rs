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

// The demo routes and signal handling, shared with the HTTP/1.1 peer.
#[path = "../../peers/hyper-server/src/routes.rs"]
mod routes;

use std::net::SocketAddr;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use routes::{handle, shutdown_signal};

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
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        // One task type per kind of connection: a task's future is as large as its largest
        // state and spawning copies it, so a TLS handshake's state inside every h2c task would
        // make this peer slower than hyper is (and flatter whoever is compared with it).
        match (&tls, args.h2c) {
            (Some(tls), _) => {
                tokio::spawn(serve_tls(tls.clone(), stream));
            }
            (None, true) => {
                tokio::spawn(serve_h2c(stream));
            }
            (None, false) => {
                tokio::spawn(serve_http1(stream));
            }
        }
    }
}

fn auto() -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
}

async fn serve_tls(tls: tokio_rustls::TlsAcceptor, stream: tokio::net::TcpStream) {
    let Ok(stream) = tls.accept(stream).await else { return };
    let _ = auto().serve_connection(TokioIo::new(stream), service_fn(handle)).await;
}

async fn serve_h2c(stream: tokio::net::TcpStream) {
    let _ = auto().serve_connection(TokioIo::new(stream), service_fn(handle)).await;
}

async fn serve_http1(stream: tokio::net::TcpStream) {
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service_fn(handle))
        .await;
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
