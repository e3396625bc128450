//! The `nucleus` configuration through the real binary: file, environment and flags, their
//! precedence, human units, `--print-config`, errors (exit 2), and the process lifecycle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The binary with no `NUCLEUS_*` variables inherited, so only what a test sets counts.
fn nucleus() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nucleus"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NUCLEUS_") {
            command.env_remove(name);
        }
    }
    command
}

/// A fresh file under the target's scratch directory.
fn write_file(text: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "nucleus-config-{}-{}.toml",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, text).unwrap();
    path
}

fn example_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../nucleus.example.toml")
}

/// `--print-config` with these extra arguments: the printed TOML, parsed.
fn printed(command: &mut Command) -> toml::Table {
    let out = command.arg("--print-config").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().parse().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must fail as a configuration error: exit 2, nothing bound, and a
/// message on stderr holding every one of `needles`.
fn config_error(command: &mut Command, needles: &[&str]) {
    let out = command.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        !stdout.contains("listening"),
        "bound before failing: {stdout}"
    );
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
}

#[test]
fn example_file_parses_and_lists_every_setting_at_its_default() {
    let defaults = printed(&mut nucleus());
    let example: toml::Table = std::fs::read_to_string(example_file())
        .unwrap()
        .parse()
        .unwrap();
    let listed: Vec<&String> = example.keys().collect();
    let known: Vec<&String> = defaults.keys().collect();
    assert_eq!(listed, known, "the example must list exactly the settings");
    let loaded = printed(nucleus().arg("--config").arg(example_file()));
    assert_eq!(loaded, defaults, "the example must show the defaults");
}

#[test]
fn defaults_are_the_documented_ones() {
    let config = printed(&mut nucleus());
    let expect = [
        ("listen", "[\"127.0.0.1:8000\"]"),
        ("workers", "\"auto\""),
        ("worker_model", "\"per-core\""),
        ("max_body_size", "\"1GiB\""),
        ("header_read_timeout", "\"10s\""),
        ("keep_alive_timeout", "\"15s\""),
        ("handler_timeout", "\"off\""),
        ("shutdown_timeout", "\"30s\""),
        ("health_path", "\"/health\""),
        ("ready_path", "\"/ready\""),
    ];
    for (key, value) in expect {
        assert_eq!(config[key].to_string(), value, "{key}");
    }
}

#[test]
fn flags_beat_environment_beat_file_beat_defaults() {
    let file = write_file("workers = 2\nbacklog = 10\nmax_headers = 50\n");
    let config = printed(
        nucleus()
            .arg("--config")
            .arg(&file)
            .env("NUCLEUS_WORKERS", "3")
            .env("NUCLEUS_BACKLOG", "20")
            .args(["--workers", "4"]),
    );
    assert_eq!(
        config["workers"].as_integer(),
        Some(4),
        "flag over env and file"
    );
    assert_eq!(config["backlog"].as_integer(), Some(20), "env over file");
    assert_eq!(
        config["max_headers"].as_integer(),
        Some(50),
        "file over default"
    );
    assert_eq!(config["max_drain"].as_str(), Some("256KiB"), "default");

    // The file may also come from NUCLEUS_CONFIG; --config wins over it.
    let other = write_file("max_headers = 60\n");
    let config = printed(nucleus().env("NUCLEUS_CONFIG", &file));
    assert_eq!(config["max_headers"].as_integer(), Some(50));
    let config = printed(
        nucleus()
            .env("NUCLEUS_CONFIG", &file)
            .arg("--config")
            .arg(&other),
    );
    assert_eq!(config["max_headers"].as_integer(), Some(60));
}

#[test]
fn listen_from_each_source() {
    let config = printed(nucleus().env("NUCLEUS_LISTEN", "127.0.0.1:1, [::1]:2"));
    assert_eq!(
        config["listen"].to_string(),
        r#"["127.0.0.1:1", "[::1]:2"]"#
    );
    let file = write_file("listen = [\"0.0.0.0:80\"]\n");
    let config = printed(nucleus().arg("--config").arg(&file).args([
        "--listen",
        "127.0.0.1:3",
        "--listen",
        "[::]:4",
    ]));
    assert_eq!(config["listen"].to_string(), r#"["127.0.0.1:3", "[::]:4"]"#);
}

#[test]
fn human_units_and_off() {
    let file =
        write_file("keep_alive_timeout = 120\nmax_trailer_size = 2048\nsend_min_rate = false\n");
    let config = printed(
        nucleus()
            .arg("--config")
            .arg(&file)
            .env("NUCLEUS_MAX_REQUESTS_PER_CONNECTION", "off")
            .env("NUCLEUS_SHUTDOWN_TIMEOUT", "5")
            .args(["--max-body-size", "8MiB", "--header-read-timeout", "500ms"])
            .args(["--handler-timeout", "1.5s", "--max-drain", "1000"])
            .args(["--body-min-rate", "2KiB", "--ready-path", "off"])
            .args(["--max-uri-len", "1 KB", "--ipv6-only"]),
    );
    let expect = [
        ("keep_alive_timeout", "\"2m\""),
        ("max_trailer_size", "\"2KiB\""),
        ("send_min_rate", "\"off\""),
        ("max_requests_per_connection", "\"off\""),
        ("shutdown_timeout", "\"5s\""),
        ("max_body_size", "\"8MiB\""),
        ("header_read_timeout", "\"500ms\""),
        ("handler_timeout", "\"1500ms\""),
        ("max_drain", "1000"),
        ("body_min_rate", "\"2KiB/s\""),
        ("ready_path", "\"off\""),
        ("max_uri_len", "1000"),
        ("ipv6_only", "true"),
    ];
    for (key, value) in expect {
        assert_eq!(config[key].to_string(), value, "{key}");
    }
}

#[test]
fn print_config_round_trips_through_config() {
    let mut first = nucleus();
    first
        .env("NUCLEUS_LISTEN", "127.0.0.1:9000,[::1]:9001")
        .env("NUCLEUS_HEALTH_PATH", "off")
        .args(["--workers", "3", "--worker-model", "work-stealing"])
        .args(["--max-connections", "500", "--handler-timeout", "250us"])
        .args(["--max-body-size", "12345", "--keep-alive-timeout", "off"])
        .args(["--peer-addr-extension", "true", "--print-config"]);
    let out = first.output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let once = String::from_utf8(out.stdout).unwrap();
    let file = write_file(&once);
    let out = nucleus()
        .arg("--config")
        .arg(&file)
        .arg("--print-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), once);
    assert!(once.contains("handler_timeout = \"250us\""), "{once}");
    assert!(once.contains("worker_model = \"work-stealing\""), "{once}");
}

#[test]
fn file_errors_exit_2_naming_the_file_and_key() {
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-nucleus.toml");
    config_error(
        nucleus().arg("--config").arg(&missing),
        &["cannot read config file", "no-such-nucleus.toml"],
    );
    let file = write_file("workers = [\n");
    config_error(
        nucleus().arg("--config").arg(&file),
        &["not valid TOML", file.to_str().unwrap()],
    );
    let file = write_file("workers = 2\nmax_bodysize = \"1MiB\"\n");
    config_error(
        nucleus().arg("--config").arg(&file),
        &[
            "unknown key `max_bodysize`",
            file.to_str().unwrap(),
            "max_body_size",
        ],
    );
    let file = write_file("header_read_timeout = \"10 parsecs\"\n");
    config_error(
        nucleus().arg("--config").arg(&file),
        &["header_read_timeout", file.to_str().unwrap(), "parsecs"],
    );
    let file = write_file("max_body_size = -1\n");
    config_error(
        nucleus().arg("--config").arg(&file),
        &["max_body_size", file.to_str().unwrap()],
    );
    let file = write_file("worker_model = \"round-robin\"\n");
    config_error(
        nucleus().arg("--config").arg(&file),
        &["worker_model", file.to_str().unwrap()],
    );
    let file = write_file("listen = []\n");
    config_error(
        nucleus().arg("--config").arg(&file),
        &["`listen = []`", file.to_str().unwrap()],
    );
    let file = write_file("workers = 0\n");
    config_error(
        nucleus().arg("--config").arg(&file),
        &["`workers = 0`", file.to_str().unwrap()],
    );
    // A bad value in the file is an error even where a flag overrides it.
    let file = write_file("workers = \"many\"\n");
    config_error(
        nucleus()
            .arg("--config")
            .arg(&file)
            .args(["--workers", "2"]),
        &["workers", file.to_str().unwrap()],
    );
}

#[test]
fn environment_errors_exit_2_naming_the_variable() {
    config_error(
        nucleus().env("NUCLEUS_WORKERS", "0"),
        &["`workers = 0`", "NUCLEUS_WORKERS"],
    );
    config_error(
        nucleus().env("NUCLEUS_HEADER_READ_TIMEOUT", "0"),
        &["header_read_timeout", "NUCLEUS_HEADER_READ_TIMEOUT", "off"],
    );
    config_error(
        nucleus().env("NUCLEUS_LISTEN", ""),
        &["listen", "NUCLEUS_LISTEN"],
    );
    config_error(
        nucleus().env("NUCLEUS_LISTEN", "localhost:8000"),
        &["listen", "NUCLEUS_LISTEN", "localhost:8000"],
    );
    config_error(
        nucleus().env("NUCLEUS_MAX_BODY_SIZE", "lots"),
        &["max_body_size", "NUCLEUS_MAX_BODY_SIZE"],
    );
    config_error(
        nucleus().env("NUCLEUS_KEEP_ALIVE_TIMEOUT", "soon"),
        &["keep_alive_timeout", "NUCLEUS_KEEP_ALIVE_TIMEOUT"],
    );
    // Other NUCLEUS_* variables (logging, Kubernetes service links) are not settings.
    let out = nucleus()
        .env("NUCLEUS_SERVICE_HOST", "10.0.0.1")
        .env("NUCLEUS_PORT", "tcp://10.0.0.1:80")
        .arg("--print-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
}

#[test]
fn flag_and_combination_errors_exit_2() {
    config_error(
        nucleus().args(["--header-read-timeout", "0"]),
        &["header_read_timeout", "--header-read-timeout", "off"],
    );
    config_error(
        nucleus().args(["--workers", "0"]),
        &["workers", "--workers"],
    );
    // One address cannot both serve and redirect (binding it twice failed with exit 1).
    config_error(
        nucleus().args([
            "--tls-self-signed",
            "--listen",
            "127.0.0.1:18443",
            "--redirect-listen",
            "127.0.0.1:18443",
        ]),
        &["redirect_listen", "listen"],
    );
    // Zero would poll the certificate files in a loop (a core at 100 %).
    config_error(
        nucleus().args(["--tls-self-signed", "--tls-reload-interval", "0"]),
        &["tls_reload_interval", "--tls-reload-interval", "off"],
    );
    config_error(
        nucleus().args(["--keep-alive-timeout", "later"]),
        &["--keep-alive-timeout"],
    );
    config_error(nucleus().args(["--no-such-flag"]), &["--no-such-flag"]);
    let file = write_file("max_uri_len = \"16KiB\"\n");
    config_error(
        nucleus()
            .arg("--config")
            .arg(&file)
            .args(["--max-head-size", "8KiB"]),
        &[
            "max_head_size",
            "--max-head-size",
            "max_uri_len",
            file.to_str().unwrap(),
        ],
    );
    config_error(
        nucleus().args(["--health-path", "/same", "--ready-path", "/same"]),
        &["health_path", "ready_path"],
    );
    config_error(
        nucleus().args(["--health-path", "healthz"]),
        &["health_path", "--health-path", "/"],
    );
    config_error(
        nucleus().args(["--listen", "127.0.0.1:8080", "--listen", "127.0.0.1:8080"]),
        &["listen", "twice"],
    );
}

struct Running {
    child: Child,
    addrs: Vec<SocketAddr>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server and reads one `nucleus listening on http://ADDR` line per listener.
fn start(command: &mut Command, listeners: usize) -> Running {
    let mut child = command
        .env("NUCLEUS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let addrs = (0..listeners)
        .map(|_| {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            line.trim()
                .strip_prefix("nucleus listening on http://")
                .unwrap_or_else(|| panic!("{line:?}"))
                .parse()
                .unwrap()
        })
        .collect();
    Running { child, addrs }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_for_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "still running after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn settings_reach_the_engine() {
    let n = start(
        nucleus()
            .env("NUCLEUS_LISTEN", "127.0.0.1:0")
            .env("NUCLEUS_WORKERS", "1")
            .args(["--health-path", "/healthz", "--ready-path", "off"])
            .args(["--max-uri-len", "64", "--max-head-size", "1KiB"]),
        1,
    );
    let addr = n.addrs[0];
    assert!(get(addr, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(get(addr, "/ready").starts_with("HTTP/1.1 404"));
    let long = format!("/{}", "a".repeat(100));
    assert!(
        get(addr, &long).starts_with("HTTP/1.1 414"),
        "max_uri_len not applied"
    );
}

#[test]
fn sigterm_drains_and_exits_0() {
    let mut n = start(
        nucleus().args(["--listen", "127.0.0.1:0", "--workers", "1"]),
        1,
    );
    let addr = n.addrs[0];
    assert!(get(addr, "/").ends_with("Hello, World!"));
    // A request in flight when the signal comes is finished, then the process exits 0.
    let slow = std::thread::spawn(move || get(addr, "/slow?ms=500"));
    std::thread::sleep(Duration::from_millis(150));
    signal(&n.child, "TERM");
    assert!(slow.join().unwrap().ends_with("done"));
    let status = wait_for_exit(&mut n.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_second_signal_exits_at_once_with_1() {
    let mut n = start(
        nucleus().args([
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--shutdown-timeout",
            "1m",
        ]),
        1,
    );
    let addr = n.addrs[0];
    let _slow = std::thread::spawn(move || get(addr, "/slow?ms=30000"));
    std::thread::sleep(Duration::from_millis(200));
    signal(&n.child, "INT");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        n.child.try_wait().unwrap().is_none(),
        "exited before draining"
    );
    signal(&n.child, "TERM");
    let status = wait_for_exit(&mut n.child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(1));
}

#[test]
fn address_in_use_is_a_runtime_error_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = nucleus().args(["--listen", &addr]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains("cannot listen on") && stderr.contains(&addr),
        "{stderr}"
    );
}

#[test]
fn every_listener_is_announced_and_ipv6_in_brackets() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    }
    let n = start(
        nucleus().args([
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "[::1]:0",
            "--workers",
            "1",
        ]),
        2,
    );
    assert!(n.addrs[0].is_ipv4());
    assert!(n.addrs[1].is_ipv6());
    for addr in &n.addrs {
        assert!(get(*addr, "/").ends_with("Hello, World!"));
    }
}

#[test]
fn every_default_that_help_states_is_the_one_print_config_shows() {
    let out = nucleus().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let config = printed(&mut nucleus());
    let mut checked = 0;
    let mut flag = None;
    for line in help.lines() {
        let trimmed = line.trim_start();
        // An option's first line: `--name <VALUE>` or `-x, --name <VALUE>`.
        if let Some(rest) = trimmed.split("--").nth(1).filter(|_| {
            trimmed.starts_with("--") || (trimmed.starts_with('-') && trimmed.contains(", --"))
        }) {
            flag = rest.split_whitespace().next().map(str::to_owned);
        }
        let Some(stated) = line
            .split("[default: ")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
        else {
            continue;
        };
        let name = flag.as_deref().expect("a default before any flag");
        let key = name.replace('-', "_");
        let shown = match config.get(&key) {
            Some(toml::Value::String(s)) => s.clone(),
            Some(toml::Value::Array(items)) if items.len() == 1 => {
                items[0].as_str().unwrap().to_owned()
            }
            Some(other) => other.to_string(),
            None => panic!("--{name} states a default but --print-config has no `{key}`"),
        };
        assert_eq!(
            stated, shown,
            "--{name}: --help and --print-config disagree"
        );
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} defaults found in --help");
}
