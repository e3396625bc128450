//! The binary's HTTPS: a generated certificate, certificate files, reload on SIGHUP, and
//! start-up errors that name the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Nucleus {
    child: Child,
    /// The lines printed before the listeners, and each listener's URL.
    preamble: Vec<String>,
    urls: Vec<String>,
}

impl Drop for Nucleus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str], listeners: usize) -> Nucleus {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nucleus"))
        .args(args)
        .args(if args.contains(&"--workers") {
            &[][..]
        } else {
            &["--workers", "1"][..]
        })
        .env("NUCLEUS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (mut preamble, mut urls) = (Vec::new(), Vec::new());
    while urls.len() < listeners {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "exited early");
        match line.trim().strip_prefix("nucleus listening on ") {
            Some(url) => urls.push(url.to_owned()),
            None => preamble.push(line.trim().to_owned()),
        }
    }
    Nucleus {
        child,
        preamble,
        urls,
    }
}

fn client() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_info(true)
        .no_proxy()
        .timeout(Duration::from_secs(10))
}

fn peer_certificate(res: &reqwest::Response) -> Vec<u8> {
    res.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("TLS info")
        .to_vec()
}

fn sha256_fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

#[tokio::test]
async fn self_signed_serves_https_with_h2_and_plain_http_beside_it() {
    let nucleus = spawn(
        &[
            "--tls-self-signed",
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "http://127.0.0.1:0",
        ],
        2,
    );
    let https = &nucleus.urls[0];
    let plain = &nucleus.urls[1];
    assert!(https.starts_with("https://127.0.0.1:"), "{https}");
    assert!(plain.starts_with("http://127.0.0.1:"), "{plain}");
    let fingerprint = nucleus
        .preamble
        .iter()
        .find_map(|l| l.split("SHA-256 fingerprint ").nth(1))
        .expect("the fingerprint is printed")
        .to_owned();

    // The certificate is for localhost; a development client accepts it by fingerprint.
    let port = https.rsplit(':').next().unwrap();
    let insecure = client().danger_accept_invalid_certs(true).build().unwrap();
    let res = insecure
        .get(format!("https://localhost:{port}/json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(sha256_fingerprint(&peer_certificate(&res)), fingerprint);
    assert_eq!(res.text().await.unwrap(), r#"{"message":"Hello, World!"}"#);
    let res = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{plain}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "Hello, World!");
}

#[test]
fn certificate_problems_stop_start_up_with_exit_2_naming_the_file() {
    let dir = tempdir("bad");
    let (cert, key) = write_pair(&dir, &generate());
    let other_key = dir.join("other.key");
    std::fs::write(&other_key, generate().1).unwrap();
    let missing = dir.join("missing.pem");
    let cases: [(&Path, &Path, &str); 3] = [
        (&missing, &key, "missing.pem"),
        (&cert, &other_key, "does not match"),
        (&key, &key, "no certificate found"),
    ];
    for (cert, key, needle) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_nucleus"))
            .args(["--listen", "127.0.0.1:0", "--tls-cert"])
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
        assert!(!stdout.contains("listening"), "{stdout}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_nucleus"))
        .args(["--listen", "https://127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls_cert"));
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_certificate_files() {
    let (nucleus, addr, dir, first) = serve_generated("sighup", "1", "off");
    let second = generate();
    assert!(served_with(addr, &first.0).await);
    assert!(!served_with(addr, &second.0).await, "not trusted yet");

    write_pair(&dir, &second);
    let kill = Command::new("kill")
        .args(["-HUP", &nucleus.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert!(
        eventually_served_with(addr, &second.0).await,
        "still the first certificate after SIGHUP"
    );
}

/// Serves a fresh certificate from files in a new directory with `workers` workers and that
/// `--tls-reload-interval`; returns the server, its address, the directory and the pair.
fn serve_generated(
    name: &str,
    workers: &str,
    reload_interval: &str,
) -> (Nucleus, SocketAddr, PathBuf, (String, String)) {
    let dir = tempdir(name);
    let first = generate();
    let (cert, key) = write_pair(&dir, &first);
    let nucleus = spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--workers",
            workers,
            "--tls-reload-interval",
            reload_interval,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        1,
    );
    let addr = nucleus.urls[0]
        .strip_prefix("https://")
        .unwrap()
        .parse()
        .unwrap();
    (nucleus, addr, dir, first)
}

/// Whether a client trusting only `trusted` is answered within five seconds.
async fn eventually_served_with(addr: SocketAddr, trusted: &str) -> bool {
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if served_with(addr, trusted).await {
            return true;
        }
    }
    false
}

/// Rewriting the certificate files is enough: the server looks at them every
/// `--tls-reload-interval`. With one worker the worker looks (on its housekeeping tick); with
/// more, a watcher thread.
#[tokio::test]
async fn changed_certificate_files_are_reloaded_with_one_worker() {
    reloads_changed_files("1").await;
}

#[tokio::test]
async fn changed_certificate_files_are_reloaded_with_two_workers() {
    reloads_changed_files("2").await;
}

async fn reloads_changed_files(workers: &str) {
    let (_nucleus, addr, dir, first) =
        serve_generated(&format!("watch-{workers}"), workers, "300ms");
    let second = generate();
    assert!(served_with(addr, &first.0).await);
    assert!(!served_with(addr, &second.0).await, "not trusted yet");
    // Modification times have a granularity; make sure the new files' differ.
    tokio::time::sleep(Duration::from_millis(20)).await;
    write_pair(&dir, &second);
    assert!(
        eventually_served_with(addr, &second.0).await,
        "still the first certificate after the files changed"
    );
}

/// Whether a client that trusts only `trusted` (a PEM certificate) gets an answer.
async fn served_with(addr: SocketAddr, trusted: &str) -> bool {
    let client = client()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(trusted.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .build()
        .unwrap();
    client
        .get(format!("https://localhost:{}/", addr.port()))
        .send()
        .await
        .is_ok()
}

/// A certificate for localhost: (certificate PEM, key PEM).
fn generate() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write_pair(dir: &Path, pair: &(String, String)) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &pair.0).unwrap();
    std::fs::write(&key, &pair.1).unwrap();
    (cert, key)
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nucleus-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
