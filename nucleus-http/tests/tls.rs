//! HTTPS: ALPN, SNI, certificate files and reload, plain HTTP on the TLS port, the handshake
//! timeout, HSTS and the redirect listener. Real clients: reqwest over rustls with a custom
//! root, and raw sockets.
#![cfg(all(feature = "tls", feature = "http2"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nucleus_http::TlsConfig;
use support::{cert_for, https_client, peer_certificate, start_builder, TestCert};

fn tls_for(certs: &[&TestCert]) -> nucleus_http::TlsBuilder {
    certs.iter().fold(TlsConfig::builder(), |b, c| {
        b.cert_pem(c.cert_pem.clone(), c.key_pem.clone())
    })
}

fn url(name: &str, addr: SocketAddr, path: &str) -> String {
    format!("https://{name}:{}{path}", addr.port())
}

#[tokio::test]
async fn alpn_chooses_http2_or_http1_and_the_handler_sees_which() {
    let cert = cert_for(&["localhost"]);
    let tls = tls_for(&[&cert]).build().unwrap();
    let server = start_builder(|b| b.listen_tls("127.0.0.1:0".parse().unwrap(), tls));
    let addr = server.addrs[1];

    let h2 = https_client(&[&cert]).build().unwrap();
    let res = h2
        .get(url("localhost", addr, "/version"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(
        res.text().await.unwrap(),
        format!("HTTP/2.0 localhost:{}", addr.port())
    );

    let h1 = https_client(&[&cert]).http1_only().build().unwrap();
    let res = h1
        .get(url("localhost", addr, "/version"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), http::Version::HTTP_11);
    assert_eq!(
        res.text().await.unwrap(),
        format!("HTTP/1.1 localhost:{}", addr.port())
    );
}

#[tokio::test]
async fn sni_picks_the_certificate_for_the_name_wildcards_included() {
    let a = cert_for(&["a.test"]);
    let b = cert_for(&["b.test", "*.b.test"]);
    let tls = tls_for(&[&a, &b]).build().unwrap();
    let server = start_builder(|bl| bl.listen_tls("127.0.0.1:0".parse().unwrap(), tls));
    let addr = server.addrs[1];
    let client = https_client(&[&a, &b])
        .resolve("a.test", addr)
        .resolve("b.test", addr)
        .resolve("www.b.test", addr)
        .build()
        .unwrap();
    for (name, want) in [("a.test", &a), ("b.test", &b), ("www.b.test", &b)] {
        let res = client.get(url(name, addr, "/")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{name}");
        assert!(
            peer_certificate(&res) == want.der,
            "{name} got the wrong certificate"
        );
    }
}

#[tokio::test]
async fn a_large_upload_and_download_over_tls_on_http2_and_http1() {
    let cert = cert_for(&["localhost"]);
    let tls = tls_for(&[&cert]).build().unwrap();
    let server = start_builder(|b| b.listen_tls("127.0.0.1:0".parse().unwrap(), tls));
    // Far larger than the TLS stream's 16 KiB write-behind and rustls's 64 KiB buffer
    // limit, echoed while it is still being sent.
    let body: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    for (client, version) in [
        (https_client(&[&cert]), http::Version::HTTP_2),
        (https_client(&[&cert]).http1_only(), http::Version::HTTP_11),
    ] {
        let res = client
            .build()
            .unwrap()
            .post(url("localhost", server.addrs[1], "/echo"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.version(), version);
        assert_eq!(res.status(), 200);
        let echoed = res.bytes().await.unwrap();
        assert!(echoed == body, "{version:?}: {} bytes back", echoed.len());
    }
}

/// A rustls client over a blocking socket, trusting `cert`; its session store is the
/// config's, so connections made from one config can resume each other's sessions.
fn rustls_client(
    cert: &TestCert,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> std::sync::Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert.der.clone()))
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn rustls_connect(
    config: &std::sync::Arc<rustls::ClientConfig>,
    addr: SocketAddr,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let sock = std::net::TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// A server with a certificate for localhost, and a TLS 1.3 connection to it.
fn server_and_tls13_connection() -> (
    support::TestServer,
    rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
) {
    let cert = cert_for(&["localhost"]);
    let tls = tls_for(&[&cert]).build().unwrap();
    let server = start_builder(|b| b.listen_tls("127.0.0.1:0".parse().unwrap(), tls));
    let config = rustls_client(&cert, &[&rustls::version::TLS13]);
    let connection = rustls_connect(&config, server.addrs[1]);
    (server, connection)
}

/// Sends a `Connection: close` request and reads to the end: the response, then a clean
/// end (`close_notify`), not a cut-off connection.
fn request_and_read_to_close(
    tls: &mut rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
    body: &[u8],
) -> String {
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).unwrap();
    tls.write_all(body).unwrap();
    let mut response = Vec::new();
    tls.read_to_end(&mut response)
        .expect("the response, then close_notify");
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn session_tickets_resume_the_next_connection_with_or_without_a_first_request() {
    use rustls::HandshakeKind::{Full, Resumed};
    let cert = cert_for(&["localhost"]);
    let tls = tls_for(&[&cert]).build().unwrap();
    let server = start_builder(|b| b.listen_tls("127.0.0.1:0".parse().unwrap(), tls));
    let addr = server.addrs[1];

    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        // The first request travels with the client's Finished: the tickets go out with
        // the response (TLS 1.3).
        let config = rustls_client(&cert, versions);
        let mut first = rustls_connect(&config, addr);
        let response = request_and_read_to_close(&mut first, b"hello");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("\r\n\r\nhello"), "{response}");
        assert_eq!(first.conn.handshake_kind(), Some(Full));
        let mut second = rustls_connect(&config, addr);
        request_and_read_to_close(&mut second, b"again");
        assert_eq!(second.conn.handshake_kind(), Some(Resumed), "{versions:?}");

        // A connection that asks nothing after its handshake (a browser's pre-connect), or
        // whose first request is not complete yet, still gets its tickets.
        for opening in [&b""[..], b"GET / HTTP/1.1\r\nHost: loc"] {
            let config = rustls_client(&cert, versions);
            let mut quiet = rustls_connect(&config, addr);
            // Written before the handshake ends: rustls sends it with its Finished.
            quiet.conn.writer().write_all(opening).unwrap();
            while quiet.conn.is_handshaking() || quiet.conn.wants_write() {
                quiet.conn.complete_io(&mut quiet.sock).unwrap();
            }
            quiet
                .sock
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            // Reads records until none come: the tickets, if the server sent them.
            while quiet.conn.complete_io(&mut quiet.sock).is_ok() {}
            drop(quiet);
            let mut next = rustls_connect(&config, addr);
            request_and_read_to_close(&mut next, b"x");
            let opening = String::from_utf8_lossy(opening);
            assert_eq!(
                next.conn.handshake_kind(),
                Some(Resumed),
                "{versions:?} {opening:?}"
            );
        }
    }
}

#[test]
fn an_upgraded_connection_over_tls_delivers_writes_the_handler_never_flushed() {
    let (_server, mut tls) = server_and_tls13_connection();
    // The test service's `shout` protocol echoes with `write_all` and no flush.
    tls.write_all(
        b"GET /upgrade HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\nearly",
    )
    .unwrap();
    let mut received = Vec::new();
    read_until_ends_with(&mut tls, &mut received, b"\r\n\r\nEARLY");
    assert!(received.starts_with(b"HTTP/1.1 101"));
    tls.write_all(b"later").unwrap();
    let mut echo = [0u8; 5];
    tls.read_exact(&mut echo)
        .expect("the echo of a later write");
    assert_eq!(&echo, b"LATER");
}

#[test]
fn a_streamed_response_over_tls_arrives_piece_by_piece() {
    let (_server, mut tls) = server_and_tls13_connection();
    // The echo answers each piece of the upload as it comes: the first piece must reach the
    // client while the upload is still open, though nothing asked the stream to flush.
    tls.write_all(
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
    )
    .unwrap();
    let mut received = Vec::new();
    read_until_ends_with(&mut tls, &mut received, b"first");
    assert!(received.starts_with(b"HTTP/1.1 200"));
    tls.write_all(b"6\r\nsecond\r\n").unwrap();
    read_until_ends_with(&mut tls, &mut received, b"second");
}

/// Reads byte by byte into `received` until it ends with `suffix` (no more: what follows
/// stays unread); fails on an error, a close or the read timeout.
fn read_until_ends_with(tls: &mut impl Read, received: &mut Vec<u8>, suffix: &[u8]) {
    let mut byte = [0u8; 1];
    while !received.ends_with(suffix) {
        tls.read_exact(&mut byte).unwrap_or_else(|err| {
            panic!(
                "{err} before {suffix:?}, after {:?}",
                String::from_utf8_lossy(received)
            )
        });
        received.push(byte[0]);
    }
}

#[test]
fn a_body_sent_as_many_tiny_records_in_one_burst_is_read_whole() {
    let (_server, mut tls) = server_and_tls13_connection();
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    // One record per byte of the request (about 30 bytes on the wire each), all in one
    // write: more records than one read of the socket brings in.
    let body: Vec<u8> = (0..200).map(|i| b'a' + (i % 26) as u8).collect();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    for byte in head.as_bytes().iter().chain(&body) {
        tls.conn
            .writer()
            .write_all(std::slice::from_ref(byte))
            .unwrap();
    }
    let mut wire = Vec::new();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut wire).unwrap();
    }
    assert!(wire.len() > 4096, "{} bytes on the wire", wire.len());
    tls.sock.write_all(&wire).unwrap();
    // The echo, on a connection that stays open: the server must read every record without
    // more bytes arriving to wake it.
    read_until_ends_with(&mut tls, &mut Vec::new(), &body);
}

#[test]
fn plain_http_on_the_tls_port_gets_a_400_that_says_so() {
    let cert = cert_for(&["localhost"]);
    let tls = tls_for(&[&cert]).build().unwrap();
    let server = start_builder(|b| b.listen_tls("127.0.0.1:0".parse().unwrap(), tls));
    let res = support::exchange(server.addrs[1], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.status, 400);
    assert!(res
        .text()
        .contains("plain HTTP request was sent to HTTPS port"));
    assert_eq!(res.header("connection"), Some("close"));
}

#[test]
fn a_client_that_never_finishes_its_handshake_is_cut_off() {
    let cert = cert_for(&["localhost"]);
    let tls = tls_for(&[&cert])
        .handshake_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let server = start_builder(|b| b.listen_tls("127.0.0.1:0".parse().unwrap(), tls));
    let mut stream = support::connect(server.addrs[1]);
    // The start of a TLS record, then nothing.
    stream.write_all(&[0x16, 0x03, 0x01]).unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let waited = started.elapsed();
    assert!(
        out.is_empty(),
        "no TLS alert or HTTP answer expected: {out:?}"
    );
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test]
async fn hsts_goes_on_https_responses_and_the_redirect_listener_sends_plain_http_there() {
    let cert = cert_for(&["localhost"]);
    let tls = tls_for(&[&cert])
        .hsts(Some(Duration::from_secs(600)))
        .build()
        .unwrap();
    let server = start_builder(|b| {
        b.listen_tls("127.0.0.1:0".parse().unwrap(), tls)
            .listen_redirect("127.0.0.1:0".parse().unwrap(), 8443)
    });
    let client = https_client(&[&cert]).build().unwrap();
    for client in [client, https_client(&[&cert]).http1_only().build().unwrap()] {
        let res = client
            .get(url("localhost", server.addrs[1], "/"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.headers()["strict-transport-security"],
            "max-age=600",
            "{:?}",
            res.version()
        );
    }
    let plain = support::exchange(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(plain.header("strict-transport-security"), None);

    let redirected = support::exchange(
        server.addrs[2],
        b"POST /a/b?c=d HTTP/1.1\r\nHost: example.com:80\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(redirected.status, 308);
    assert_eq!(
        redirected.header("location"),
        Some("https://example.com:8443/a/b?c=d")
    );
    let health = support::exchange(server.addrs[2], b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(health.status, 200, "health checks are not redirected");
}

#[tokio::test]
async fn reload_swaps_certificates_for_new_handshakes_without_dropping_open_connections() {
    let dir = tempdir();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    let old = cert_for(&["localhost"]);
    let new = cert_for(&["localhost"]);
    std::fs::write(&cert_path, &old.cert_pem).unwrap();
    std::fs::write(&key_path, &old.key_pem).unwrap();
    let tls = TlsConfig::builder()
        .cert_files(&cert_path, &key_path)
        .build()
        .unwrap();
    let server = start_builder(|b| b.listen_tls("127.0.0.1:0".parse().unwrap(), tls.clone()));
    let addr = server.addrs[1];
    let open = https_client(&[&old]).http1_only().build().unwrap();
    let res = open.get(url("localhost", addr, "/")).send().await.unwrap();
    assert!(peer_certificate(&res) == old.der);
    res.bytes().await.unwrap();

    // A broken key file: the reload fails, naming it, and the old certificate stays.
    std::fs::write(&key_path, "not a key").unwrap();
    let err = tls.reload().unwrap_err().to_string();
    assert!(err.contains("key.pem"), "{err}");
    std::fs::write(&cert_path, &new.cert_pem).unwrap();
    std::fs::write(&key_path, &new.key_pem).unwrap();
    tls.reload().unwrap();

    // The open keep-alive connection still answers (same connection, old certificate).
    let res = open.get(url("localhost", addr, "/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(peer_certificate(&res) == old.der);
    let fresh = https_client(&[&new]).build().unwrap();
    let res = fresh.get(url("localhost", addr, "/")).send().await.unwrap();
    assert!(peer_certificate(&res) == new.der);
}

#[test]
fn bad_certificate_files_fail_with_a_message_that_names_the_file() {
    let dir = tempdir();
    let good = cert_for(&["localhost"]);
    let other = cert_for(&["localhost"]);
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cert = write("cert.pem", &good.cert_pem);
    let key = write("key.pem", &good.key_pem);
    let other_key = write("other.key", &other.key_pem);
    let garbage = write("garbage.pem", "hello");
    let missing = dir.join("missing.pem");
    // Cut off before the END line, as a half-written file is.
    let cut_cert = write("cut.pem", &good.cert_pem[..good.cert_pem.len() / 2]);
    let cut_key = write("cut.key", &good.key_pem[..good.key_pem.len() / 2]);
    let encrypted = write(
        "encrypted.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0w\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let cases = [
        (
            &missing,
            &key,
            "cannot read certificate file",
            "missing.pem",
        ),
        (
            &cert,
            &missing,
            "cannot read private key file",
            "missing.pem",
        ),
        (&garbage, &key, "no certificate found", "garbage.pem"),
        (&cert, &garbage, "no private key found", "garbage.pem"),
        (
            &cert,
            &other_key,
            "does not match the certificate",
            "other.key",
        ),
        (
            &cut_cert,
            &key,
            "no `-----END CERTIFICATE-----` line",
            "cut.pem",
        ),
        (
            &cert,
            &cut_key,
            "no `-----END PRIVATE KEY-----` line",
            "cut.key",
        ),
        (
            &cert,
            &encrypted,
            "encrypted, which is not supported",
            "encrypted.key",
        ),
    ];
    for (cert, key, what, file) in cases {
        let err = TlsConfig::builder()
            .cert_files(cert, key)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains(what) && err.contains(file), "{err}");
    }
    let err = TlsConfig::builder().build().unwrap_err().to_string();
    assert!(err.contains("no TLS certificate"), "{err}");
}

fn tempdir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("nucleus-tls-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
