//! The real `nucleus` binary: flags, demo routes, and behaviour under pressure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Nucleus {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Nucleus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(extra: &[&str]) -> Nucleus {
    spawn_with(Command::new(env!("CARGO_BIN_EXE_nucleus")), extra)
}

fn spawn_with(mut command: Command, extra: &[&str]) -> Nucleus {
    let mut child = command
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env("NUCLEUS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("nucleus listening on http://")
        .unwrap_or_else(|| panic!("{line:?}"));
    Nucleus {
        child,
        addr: url.parse().unwrap(),
    }
}

fn url(n: &Nucleus, path: &str) -> String {
    format!("http://{}{}", n.addr, path)
}

fn status_of(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn help_lists_the_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_nucleus"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in ["--listen", "--workers", "--max-body-size", "--help"] {
        assert!(text.contains(flag), "{flag} missing from --help:\n{text}");
    }
}

#[test]
fn bad_flags_exit_with_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_nucleus"))
        .args(["--workers", "zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_nucleus"))
        .args(["--max-body-size", "5 parsecs"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn demo_routes_answer_as_documented() {
    let n = spawn(&["--workers", "2"]);
    let client = reqwest::Client::new();

    let res = client.get(url(&n, "/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(res.text().await.unwrap(), "Hello, World!");

    let res = client.get(url(&n, "/json")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.text().await.unwrap(), r#"{"message":"Hello, World!"}"#);

    for method in [reqwest::Method::POST, reqwest::Method::PUT] {
        let res = client
            .request(method, url(&n, "/echo"))
            .body("echo me")
            .send()
            .await
            .unwrap();
        assert_eq!(res.text().await.unwrap(), "echo me");
    }

    for path in ["/slow?ms=20", "/blocking?ms=20"] {
        let res = client.get(url(&n, path)).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "done", "{path}");
    }

    let res = client.get(url(&n, "/stream?n=3")).send().await.unwrap();
    assert_eq!(res.headers()["transfer-encoding"], "chunked");
    assert_eq!(res.text().await.unwrap(), "chunk 0\nchunk 1\nchunk 2\n");

    let res = client.get(url(&n, "/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);

    assert_eq!(
        client
            .get(url(&n, "/missing"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let res = client.delete(url(&n, "/echo")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert!(res.headers()["allow"].to_str().unwrap().contains("POST"));
}

#[tokio::test]
async fn blocking_handlers_do_not_stall_the_only_worker() {
    let n = spawn(&["--workers", "1"]);
    let client = reqwest::Client::new();
    let blocked: Vec<_> = (0..4)
        .map(|_| {
            let (client, u) = (client.clone(), url(&n, "/blocking?ms=1500"));
            tokio::spawn(async move { client.get(u).send().await.unwrap().text().await.unwrap() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    assert_eq!(
        client
            .get(url(&n, "/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Hello, World!"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "GET / waited {:?}",
        started.elapsed()
    );
    for b in blocked {
        assert_eq!(b.await.unwrap(), "done");
    }
}

#[test]
fn max_body_size_flag_is_enforced_with_413() {
    let n = spawn(&["--max-body-size", "1KiB"]);
    let mut stream = TcpStream::connect(n.addr).unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.read_to_string(&mut text);
    assert!(text.starts_with("HTTP/1.1 413 Payload Too Large"), "{text}");
    assert!(text.contains("1024 bytes"), "{text}");
}

#[test]
fn hundred_mebibyte_echo_runs_in_bounded_memory_with_expect_continue() {
    let n = spawn(&["--workers", "1", "--max-body-size", "200MiB"]);
    let pid = n.child.id();
    let total: usize = 100 * 1024 * 1024;
    let mut stream = TcpStream::connect(n.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // As curl does for large uploads: wait for 100 Continue before sending the body.
    stream
        .write_all(format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\nExpect: 100-continue\r\n\r\n").as_bytes())
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    reader.read_line(&mut line).unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'e'; 1 << 20];
        for _ in 0..total / chunk.len() {
            stream.write_all(&chunk).unwrap();
        }
    });
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
    }
    let mut received = 0;
    let mut buf = vec![0; 1 << 20];
    while received < total {
        let got = reader.read(&mut buf).unwrap();
        assert!(got > 0);
        received += got;
    }
    writer.join().unwrap();
    let peak_kib = status_of(pid, "VmHWM:");
    assert!(
        peak_kib < 48 * 1024,
        "peak RSS {peak_kib} KiB for a 100 MiB echo"
    );
}

#[test]
fn running_out_of_file_descriptors_backs_off_without_spinning_or_exiting() {
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "ulimit -n 40 && exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_nucleus"),
    ]);
    // A cap above the descriptor limit, so that accept itself runs out and hits EMFILE.
    let n = spawn_with(command, &["--workers", "1", "--max-connections", "1000"]);
    let pid = n.child.id();
    // Far more connections than descriptors: accept hits EMFILE.
    let flood: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(n.addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(pid) - before;
    assert!(spent < 30, "accept loop spun: {spent} ticks in 1 s");
    drop(flood);
    std::thread::sleep(Duration::from_millis(1500));
    let mut stream = TcpStream::connect(n.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    assert!(
        text.ends_with("Hello, World!"),
        "server did not recover: {text:?}"
    );
}
