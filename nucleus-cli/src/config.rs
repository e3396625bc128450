//! The effective configuration: the defaults, then a TOML file, then `NUCLEUS_*` environment
//! variables, then flags. Each layer overrides the ones before it key by key, and each value
//! is checked as it comes in, so an error names the key and where it came from. The merged
//! result is then validated as a whole, before anything binds.
//!
//! A setting has one name in four spellings: the TOML key `max_body_size`, the environment
//! variable `NUCLEUS_MAX_BODY_SIZE`, the flag `--max-body-size`, and the field below.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

use crate::args::{Args, H2Engine, Model};
use crate::listen::{comma_list, Addr, FilePath, ListenAddr, Scheme};
use crate::observe::{AccessLogFormat, LogFormat};
use crate::units::{OrAuto, OrOff, Rate, Secs, Size};

/// Environment variable naming the config file when `--config` is not given.
pub(crate) const CONFIG_ENV: &str = "NUCLEUS_CONFIG";
const ENV_PREFIX: &str = "NUCLEUS_";
/// `Builder::backlog`'s default; the engine does not export it.
const DEFAULT_BACKLOG: u32 = 1024;
/// `Builder::shutdown_timeout`'s default; the engine does not export it.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// The most workers accepted: the old `--workers` flag was a `u16`.
const MAX_WORKERS: usize = u16::MAX as usize;

/// Every setting of the server, with its effective value. Field order is the order
/// `--print-config` prints them in. Limits and timeouts mirror [`nucleus_http::Config`], whose
/// docs give the reason for each default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    /// Addresses to listen on (`[::]:8000` serves IPv6 and IPv4). A bare address serves HTTPS
    /// when a certificate is configured and plain HTTP otherwise; `http://ADDR` and
    /// `https://ADDR` choose, so one list can mix both. In the environment, a comma-separated
    /// list. Default `127.0.0.1:8000`.
    #[serde(deserialize_with = "listen_addrs")]
    pub(crate) listen: Vec<ListenAddr>,
    /// Plain-HTTP addresses that answer every request with `308` to the same URL over HTTPS
    /// (on the first HTTPS listener's port). Default none.
    #[serde(deserialize_with = "redirect_addrs")]
    pub(crate) redirect_listen: Vec<Addr>,
    /// Certificate chain files (PEM, leaf first), paired in order with `tls_key`. Several
    /// pairs: the certificate is chosen by the name the client asks for (SNI), the first is
    /// the default. Default none.
    #[serde(deserialize_with = "file_paths")]
    pub(crate) tls_cert: Vec<FilePath>,
    /// Private key files (PEM: PKCS#8, PKCS#1 or SEC1), one per `tls_cert`. Default none.
    #[serde(deserialize_with = "file_paths")]
    pub(crate) tls_key: Vec<FilePath>,
    /// Serve HTTPS with a certificate for localhost generated at start-up (development only;
    /// its SHA-256 fingerprint is printed). Default false.
    pub(crate) tls_self_signed: bool,
    /// Longest time from accept to a finished TLS handshake. Default 10 s.
    pub(crate) tls_handshake_timeout: Secs,
    /// How often certificate and key files are checked for changes and reloaded (SIGHUP
    /// reloads at once); `off` reloads on SIGHUP only. Default 10 s.
    pub(crate) tls_reload_interval: OrOff<Secs>,
    /// `Strict-Transport-Security` max-age sent on HTTPS responses; `off` sends none.
    /// Default `off`.
    pub(crate) hsts: OrOff<Secs>,
    /// Serve HTTP/2: over TLS by ALPN, and in cleartext to clients that start with its
    /// preface (prior knowledge). Default true.
    pub(crate) http2: bool,
    /// HTTP/2 streams a client may have open at once. Default 128.
    pub(crate) h2_max_concurrent_streams: u32,
    /// HTTP/2 initial flow-control window per stream. Default 1 MiB.
    pub(crate) h2_stream_window: Size,
    /// HTTP/2 initial flow-control window per connection. Default 1 MiB.
    pub(crate) h2_connection_window: Size,
    /// Largest HTTP/2 frame payload accepted (16 KiB to 16 MiB - 1). Default 16 KiB.
    pub(crate) h2_max_frame_size: Size,
    /// HTTP/2 streams a client may cancel mid-request, net of completed ones, before the
    /// connection is closed with GOAWAY (Rapid Reset defence). Default 200.
    pub(crate) h2_max_cancelled_streams: u32,
    /// Send an HTTP/2 PING this often and close the connection if it goes unanswered for
    /// `h2_keep_alive_timeout`; `off` sends none. Default `off`.
    pub(crate) h2_keep_alive_interval: OrOff<Secs>,
    /// How long a keep-alive PING may go unanswered. Default 20 s.
    pub(crate) h2_keep_alive_timeout: Secs,
    /// Which HTTP/2 framing layer serves: `nucleus` (its own, default) or `h2` (the h2
    /// crate; the same rules and limits, about twice the work per request).
    pub(crate) h2_engine: H2Engine,
    /// Worker threads; `auto` (default) is the number of CPUs available.
    pub(crate) workers: OrAuto<usize>,
    /// How connections are spread over workers. Default `per-core`.
    pub(crate) worker_model: Model,
    /// Listen backlog. Default 1024.
    pub(crate) backlog: u32,
    /// Most connections open at once; `auto` (default) is the open-file limit, raised to its
    /// hard limit, less a reserve of 64.
    pub(crate) max_connections: OrAuto<usize>,
    /// How long a graceful shutdown waits for in-flight requests before closing what is left.
    /// Default 30 s.
    pub(crate) shutdown_timeout: Secs,
    /// Makes `[::]` listeners IPv6-only instead of dual stack. Default false.
    pub(crate) ipv6_only: bool,
    /// Liveness endpoint answered by the engine itself; `off` to disable. Default `/health`.
    pub(crate) health_path: OrOff<String>,
    /// Readiness endpoint: `200` while serving, `503` while starting or draining; `off` to
    /// disable. Default `/ready`.
    pub(crate) ready_path: OrOff<String>,
    /// Longest request target; longer gets `414`. Default 8 KiB.
    pub(crate) max_uri_len: Size,
    /// Largest request head (request line and header fields); larger gets `431`. At least
    /// `max_uri_len`. Default 64 KiB.
    pub(crate) max_head_size: Size,
    /// Most header fields in one request; more gets `431`. Default 100.
    pub(crate) max_headers: usize,
    /// Largest request body; a larger declared body gets `413` before it is read. Default
    /// 1 GiB (bodies stream through bounded memory, so this bounds time and disk).
    pub(crate) max_body_size: Size,
    /// Kernel send buffer (`SO_SNDBUF`) per connection; `off` keeps Linux's autotuning (up to
    /// 4 MiB). Default 512 KiB: bounds what a slow reader can park in the kernel.
    pub(crate) send_buffer_size: OrOff<Size>,
    /// Requests served on one connection before it is closed; `off` for no limit. Default
    /// 10,000.
    pub(crate) max_requests_per_connection: OrOff<u64>,
    /// Total chunk extensions accepted per body. Default 16 KiB.
    pub(crate) max_chunk_extensions: Size,
    /// Largest trailer section of a chunked body. Default 16 KiB.
    pub(crate) max_trailer_size: Size,
    /// Unread request body the engine discards to keep a connection alive; more closes it.
    /// Default 256 KiB.
    pub(crate) max_drain: Size,
    /// Longest wait for a complete request head, then `408` (the slowloris defence); `off`
    /// waits forever. Default 10 s.
    pub(crate) header_read_timeout: OrOff<Secs>,
    /// How long an idle keep-alive connection waits for its next request; `off` never closes
    /// idle connections on a timer. Default 15 s.
    pub(crate) keep_alive_timeout: OrOff<Secs>,
    /// Longest a handler may take to produce a response head, then `503`. Default `off`.
    pub(crate) handler_timeout: OrOff<Secs>,
    /// Slowest request body accepted while the handler waits for it, then `408`; `off`
    /// disables the check. Default 1 KiB/s.
    pub(crate) body_min_rate: OrOff<Rate>,
    /// Grace period and averaging window of `body_min_rate`. Default 10 s.
    pub(crate) body_min_rate_window: Secs,
    /// Slowest client accepted while it takes response bytes, then disconnected; `off`
    /// disables the check. Default 1 KiB/s.
    pub(crate) send_min_rate: OrOff<Rate>,
    /// Grace period and averaging window of `send_min_rate`. Default 10 s.
    pub(crate) send_min_rate_window: Secs,
    /// Initial and minimum free space of a connection's read buffer. Default 8 KiB.
    pub(crate) read_buffer_size: Size,
    /// Response bytes buffered before a write while pipelined requests wait. Default 64 KiB.
    pub(crate) write_buffer_watermark: Size,
    /// Response body chunks at least this large are written from their own buffer rather
    /// than copied. Default 16 KiB.
    pub(crate) write_copy_threshold: Size,
    /// Also put the peer address into every request's extensions (three allocations per
    /// request). Default false.
    pub(crate) peer_addr_extension: bool,
    /// Log filter: a level or `RUST_LOG`-style directives. `NUCLEUS_LOG` and `RUST_LOG`
    /// override it unless `--log-level` is given. Default `info`.
    pub(crate) log_level: String,
    /// Log output format: `text`, `json` or `auto` (default: text on a terminal, else json).
    pub(crate) log_format: LogFormat,
    /// Access log format: `off` (default), `common`, `combined` or `json`.
    pub(crate) access_log: AccessLogFormat,
    /// Access log destination: `stdout` (default), `stderr` or a file path.
    pub(crate) access_log_file: String,
    /// Path of the Prometheus metrics endpoint; `off` to disable. Default `/metrics`.
    pub(crate) metrics_path: OrOff<String>,
    /// A separate address for the metrics endpoint; `off` (default) serves it on `listen`.
    pub(crate) metrics_listen: OrOff<SocketAddr>,
    /// Request ID header; `off` to disable. Default `x-request-id`.
    pub(crate) request_id_header: OrOff<String>,
}

/// A configuration error: bad file, key, value or combination. `main` exits with 2.
#[derive(Debug)]
pub(crate) struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub(crate) fn new(message: String) -> ConfigError {
        ConfigError(message)
    }
}

impl Config {
    /// Where metrics are served: `metrics_path`, or `/metrics` when only `metrics_listen`
    /// is set (a separate metrics listener says it wants metrics).
    pub(crate) fn metrics_path(&self) -> Option<&str> {
        match (&self.metrics_path.0, self.metrics_listen.0) {
            (Some(path), _) => Some(path),
            (None, Some(_)) => Some("/metrics"),
            (None, None) => None,
        }
    }
}

impl Config {
    /// Merges the config file (`--config` or `NUCLEUS_CONFIG`), the environment (read through
    /// `env`, so tests can supply their own) and the flags over the defaults, and validates the
    /// result.
    pub(crate) fn load(
        args: &Args,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Config, ConfigError> {
        let mut layers = Layers::new()?;
        let file = match &args.config {
            Some(path) => Some(path.clone()),
            None => env_string(&env, CONFIG_ENV)?.map(PathBuf::from),
        };
        if let Some(path) = file {
            let table = read_file(&path)?;
            layers.add(table, &Origin::File(path))?;
        }
        layers.add(env_table(&env, &layers.known)?, &Origin::Env)?;
        let flags = toml::Table::try_from(args)
            .map_err(|err| ConfigError(format!("cannot convert the flags: {err}")))?;
        layers.add(flags, &Origin::Flag)?;
        let config = Config::deserialize(layers.table)
            .map_err(|err| ConfigError(format!("invalid configuration: {}", err.message())))?;
        config.validate(&layers.origins)?;
        Ok(config)
    }

    /// The configuration as a TOML document that `--config` reads back to the same values.
    pub(crate) fn to_toml(&self) -> Result<String, ConfigError> {
        let body = toml::to_string(self)
            .map_err(|err| ConfigError(format!("cannot print the configuration: {err}")))?;
        Ok(format!(
            "# Effective nucleus configuration; load it with `nucleus --config FILE`.\n{body}"
        ))
    }

    /// The engine's limits and timeouts.
    pub(crate) fn engine(&self) -> nucleus_http::Config {
        let min_rate = |rate: &OrOff<Rate>, window: Secs| {
            rate.0.map(|Rate(bytes_per_second)| nucleus_http::MinRate {
                bytes_per_second,
                window: window.0,
            })
        };
        let mut engine = nucleus_http::Config::default();
        engine.max_uri_len = to_usize(self.max_uri_len);
        engine.max_head_size = to_usize(self.max_head_size);
        engine.max_headers = self.max_headers;
        engine.max_body_size = self.max_body_size.0;
        engine.max_requests_per_connection = self.max_requests_per_connection.0;
        engine.send_buffer_size = self.send_buffer_size.0.map(to_usize);
        engine.max_chunk_extensions = to_usize(self.max_chunk_extensions);
        engine.max_trailer_size = to_usize(self.max_trailer_size);
        engine.max_drain = self.max_drain.0;
        engine.read_buffer_size = to_usize(self.read_buffer_size);
        engine.write_buffer_watermark = to_usize(self.write_buffer_watermark);
        engine.write_copy_threshold = to_usize(self.write_copy_threshold);
        engine.peer_addr_extension = self.peer_addr_extension;
        engine.header_read_timeout = self.header_read_timeout.0.map(|s| s.0);
        engine.keep_alive_timeout = self.keep_alive_timeout.0.map(|s| s.0);
        engine.handler_timeout = self.handler_timeout.0.map(|s| s.0);
        engine.body_min_rate = min_rate(&self.body_min_rate, self.body_min_rate_window);
        engine.send_min_rate = min_rate(&self.send_min_rate, self.send_min_rate_window);
        engine.liveness_path = self.health_path.0.clone();
        engine.readiness_path = self.ready_path.0.clone();
        engine.request_id_header = self
            .request_id_header
            .0
            .as_deref()
            .and_then(|name| http::HeaderName::try_from(name).ok());
        engine.http2 = self.http2.then(|| {
            let mut h2 = nucleus_http::Http2Config::default();
            h2.max_concurrent_streams = self.h2_max_concurrent_streams;
            h2.initial_stream_window = to_u32(self.h2_stream_window);
            h2.initial_connection_window = to_u32(self.h2_connection_window);
            h2.max_frame_size = to_u32(self.h2_max_frame_size);
            h2.max_cancelled_streams = self.h2_max_cancelled_streams;
            h2.keep_alive_interval = self.h2_keep_alive_interval.0.map(|s| s.0);
            h2.keep_alive_timeout = self.h2_keep_alive_timeout.0;
            h2.engine = match self.h2_engine {
                H2Engine::Nucleus => nucleus_http::Http2Engine::Nucleus,
                H2Engine::H2 => nucleus_http::Http2Engine::H2Crate,
            };
            h2
        });
        engine
    }

    /// Whether any listener serves HTTPS.
    pub(crate) fn serves_tls(&self) -> bool {
        let have_certificate = self.has_certificate();
        self.listen.iter().any(|l| l.is_tls(have_certificate))
    }

    fn has_certificate(&self) -> bool {
        !self.tls_cert.is_empty() || self.tls_self_signed
    }

    /// A server builder with every setting applied, ready to bind. `tls` is what
    /// [`crate::tls::load`] made of the certificate settings. Addresses are bound in the order
    /// of `listen`, then `redirect_listen`.
    pub(crate) fn builder(&self, tls: Option<&nucleus_http::TlsConfig>) -> nucleus_http::Builder {
        let mut builder = nucleus_http::Server::builder()
            .config(self.engine())
            .worker_model(match self.worker_model {
                Model::PerCore => nucleus_http::WorkerModel::PerCore,
                Model::WorkStealing => nucleus_http::WorkerModel::WorkStealing,
            })
            .backlog(self.backlog)
            .shutdown_timeout(self.shutdown_timeout.0)
            .ipv6_only(self.ipv6_only);
        if let OrAuto(Some(workers)) = self.workers {
            builder = builder.workers(workers);
        }
        if let OrAuto(Some(max)) = self.max_connections {
            builder = builder.max_connections(max);
        }
        for listen in &self.listen {
            builder = match tls {
                Some(tls) if listen.is_tls(true) => builder.listen_tls(listen.addr, tls.clone()),
                _ => builder.listen(listen.addr),
            };
        }
        if let Some(port) = self.https_port() {
            for addr in &self.redirect_listen {
                builder = builder.listen_redirect(addr.0, port);
            }
        }
        builder
    }

    /// The port redirects point to: the first HTTPS listener's.
    fn https_port(&self) -> Option<u16> {
        let have_certificate = self.has_certificate();
        self.listen
            .iter()
            .find(|l| l.is_tls(have_certificate))
            .map(|l| l.addr.port())
    }

    /// Checks what a single value's type cannot: ranges, zero timeouts, and combinations.
    fn validate(&self, origins: &Origins) -> Result<(), ConfigError> {
        let bad = |key: &str, value: &dyn fmt::Display, why: &str| {
            Err(ConfigError(format!(
                "invalid `{key} = {value}` ({}): {why}",
                origins.describe(key)
            )))
        };
        if self.listen.is_empty() {
            return bad(
                "listen",
                &"[]",
                "give at least one address, e.g. 127.0.0.1:8000",
            );
        }
        for (i, listen) in self.listen.iter().enumerate() {
            if listen.addr.port() != 0 && self.listen[..i].iter().any(|l| l.addr == listen.addr) {
                return bad("listen", listen, "this address is listed twice");
            }
        }
        self.validate_tls(origins)?;
        match self.workers.0 {
            Some(0) => return bad("workers", &0, "must be at least 1 (or `auto`)"),
            Some(n) if n > MAX_WORKERS => {
                return bad("workers", &n, &format!("must be at most {MAX_WORKERS}"))
            }
            _ => {}
        }
        if self.max_connections.0 == Some(0) {
            return bad("max_connections", &0, "must be at least 1 (or `auto`)");
        }
        if self.backlog == 0 {
            return bad("backlog", &0, "must be at least 1");
        }
        for (key, value) in [
            ("header_read_timeout", &self.header_read_timeout),
            ("keep_alive_timeout", &self.keep_alive_timeout),
            ("handler_timeout", &self.handler_timeout),
            ("h2_keep_alive_interval", &self.h2_keep_alive_interval),
        ] {
            if value.0 == Some(Secs(Duration::ZERO)) {
                return bad(key, value, "must be more than 0; use `off` to disable it");
            }
        }
        for (key, rate, window_key, window) in [
            (
                "body_min_rate",
                self.body_min_rate,
                "body_min_rate_window",
                self.body_min_rate_window,
            ),
            (
                "send_min_rate",
                self.send_min_rate,
                "send_min_rate_window",
                self.send_min_rate_window,
            ),
        ] {
            if rate.0 == Some(Rate(0)) {
                return bad(key, &rate, "must be more than 0; use `off` to disable it");
            }
            if window.0.is_zero() {
                return bad(window_key, &window, "must be more than 0");
            }
        }
        for (key, value) in [
            ("max_uri_len", self.max_uri_len),
            ("read_buffer_size", self.read_buffer_size),
        ] {
            if value.0 == 0 {
                return bad(key, &value, "must be more than 0");
            }
        }
        if self.max_headers == 0 {
            return bad(
                "max_headers",
                &0,
                "must be at least 1 (a request needs `Host`)",
            );
        }
        if self.max_head_size < self.max_uri_len {
            return Err(ConfigError(format!(
                "invalid combination: `max_head_size = {}` ({}) is less than `max_uri_len = {}` \
                 ({}); the request head includes the request target, so it must be at least \
                 as large",
                self.max_head_size,
                origins.describe("max_head_size"),
                self.max_uri_len,
                origins.describe("max_uri_len"),
            )));
        }
        for key in ["health_path", "ready_path"] {
            let value = if key == "health_path" {
                &self.health_path
            } else {
                &self.ready_path
            };
            let Some(path) = &value.0 else { continue };
            if !path.starts_with('/') || path.contains(|c: char| c.is_whitespace() || c == '?') {
                return bad(
                    key,
                    path,
                    "must be a URL path starting with `/` (no query), or `off`",
                );
            }
        }
        if self.health_path.0.is_some() && self.health_path == self.ready_path {
            return Err(ConfigError(format!(
                "invalid combination: `health_path` ({}) and `ready_path` ({}) are both `{}`; \
                 give them different paths or turn one `off`",
                origins.describe("health_path"),
                origins.describe("ready_path"),
                self.health_path,
            )));
        }
        self.validate_observability(&|key| origins.describe(key))?;
        Ok(())
    }
}

impl Config {
    /// The TLS and HTTP/2 settings, alone and together.
    fn validate_tls(&self, origins: &Origins) -> Result<(), ConfigError> {
        let combination = |a: &str, b: &str, why: &str| {
            Err(ConfigError(format!(
                "invalid combination: `{a}` ({}) and `{b}` ({}): {why}",
                origins.describe(a),
                origins.describe(b),
            )))
        };
        if self.tls_cert.len() != self.tls_key.len() {
            return combination(
                "tls_cert",
                "tls_key",
                &format!(
                    "{} certificate(s) but {} key(s); give one key per certificate, in the same order",
                    self.tls_cert.len(),
                    self.tls_key.len()
                ),
            );
        }
        if self.tls_self_signed && !self.tls_cert.is_empty() {
            return combination(
                "tls_self_signed",
                "tls_cert",
                "use a generated certificate or your own, not both",
            );
        }
        if let Some(https) = self.listen.iter().find(|l| l.scheme == Scheme::Https) {
            if !self.has_certificate() {
                return Err(ConfigError(format!(
                    "invalid `listen = {https}` ({}): an https:// listener needs `tls_cert` and                      `tls_key` (or `tls_self_signed` for development)",
                    origins.describe("listen")
                )));
            }
        }
        if !self.serves_tls() {
            if !self.redirect_listen.is_empty() {
                return combination(
                    "redirect_listen",
                    "listen",
                    "redirects go to an HTTPS listener, and there is none",
                );
            }
            if self.hsts.0.is_some() {
                return combination(
                    "hsts",
                    "listen",
                    "HSTS is sent over HTTPS only, and there is no HTTPS listener",
                );
            }
        } else if !self.redirect_listen.is_empty() && self.https_port() == Some(0) {
            return combination(
                "redirect_listen",
                "listen",
                "the HTTPS listener has port 0, so a redirect cannot name its port",
            );
        }
        let taken =
            |addr: &SocketAddr| addr.port() != 0 && self.listen.iter().any(|l| l.addr == *addr);
        if self.redirect_listen.iter().any(|r| taken(&r.0)) {
            return combination(
                "redirect_listen",
                "listen",
                "an address cannot both serve and redirect",
            );
        }
        if self
            .tls_reload_interval
            .0
            .is_some_and(|every| every.0.is_zero())
        {
            return Err(ConfigError(format!(
                "invalid `tls_reload_interval = 0` ({}): must be more than 0, or `off` to \
                 reload on SIGHUP only",
                origins.describe("tls_reload_interval")
            )));
        }
        if self.tls_handshake_timeout.0.is_zero() {
            return Err(ConfigError(format!(
                "invalid `tls_handshake_timeout = 0` ({}): must be more than 0",
                origins.describe("tls_handshake_timeout")
            )));
        }
        const MAX_WINDOW: u64 = (1 << 31) - 1;
        for (key, value, min, max) in [
            ("h2_stream_window", self.h2_stream_window, 1, MAX_WINDOW),
            (
                "h2_connection_window",
                self.h2_connection_window,
                65_535,
                MAX_WINDOW,
            ),
            (
                "h2_max_frame_size",
                self.h2_max_frame_size,
                16_384,
                16_777_215,
            ),
        ] {
            if !(min..=max).contains(&value.0) {
                return Err(ConfigError(format!(
                    "invalid `{key} = {value}` ({}): must be from {min} to {max} bytes \
                     (RFC 9113 §6.5.2)",
                    origins.describe(key)
                )));
            }
        }
        if self.h2_keep_alive_timeout.0.is_zero() {
            return Err(ConfigError(format!(
                "invalid `h2_keep_alive_timeout = 0` ({}): must be more than 0",
                origins.describe("h2_keep_alive_timeout")
            )));
        }
        if self.h2_max_concurrent_streams == 0 {
            return Err(ConfigError(format!(
                "invalid `h2_max_concurrent_streams = 0` ({}): must be at least 1; set \
                 `http2 = false` to turn HTTP/2 off",
                origins.describe("h2_max_concurrent_streams")
            )));
        }
        Ok(())
    }
}

impl Default for Config {
    /// The engine's defaults, so the two cannot drift apart.
    fn default() -> Config {
        let engine = nucleus_http::Config::default();
        let rate = |rate: Option<nucleus_http::MinRate>| {
            (
                OrOff(rate.map(|r| Rate(r.bytes_per_second))),
                Secs(rate.map_or(Duration::from_secs(10), |r| r.window)),
            )
        };
        let (body_min_rate, body_min_rate_window) = rate(engine.body_min_rate);
        let (send_min_rate, send_min_rate_window) = rate(engine.send_min_rate);
        let size = |n: usize| Size(n as u64);
        let h2 = engine.http2.clone().unwrap_or_default();
        Config {
            listen: vec![ListenAddr {
                scheme: Scheme::Auto,
                addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
            }],
            redirect_listen: Vec::new(),
            tls_cert: Vec::new(),
            tls_key: Vec::new(),
            tls_self_signed: false,
            tls_handshake_timeout: Secs(Duration::from_secs(10)),
            tls_reload_interval: OrOff(Some(Secs(Duration::from_secs(10)))),
            hsts: OrOff(None),
            http2: engine.http2.is_some(),
            h2_max_concurrent_streams: h2.max_concurrent_streams,
            h2_stream_window: Size(u64::from(h2.initial_stream_window)),
            h2_connection_window: Size(u64::from(h2.initial_connection_window)),
            h2_max_frame_size: Size(u64::from(h2.max_frame_size)),
            h2_max_cancelled_streams: h2.max_cancelled_streams,
            h2_keep_alive_interval: OrOff(h2.keep_alive_interval.map(Secs)),
            h2_keep_alive_timeout: Secs(h2.keep_alive_timeout),
            h2_engine: match h2.engine {
                nucleus_http::Http2Engine::H2Crate => H2Engine::H2,
                _ => H2Engine::Nucleus,
            },
            workers: OrAuto(None),
            worker_model: Model::PerCore,
            backlog: DEFAULT_BACKLOG,
            max_connections: OrAuto(None),
            shutdown_timeout: Secs(DEFAULT_SHUTDOWN_TIMEOUT),
            ipv6_only: false,
            health_path: OrOff(engine.liveness_path),
            ready_path: OrOff(engine.readiness_path),
            max_uri_len: size(engine.max_uri_len),
            max_head_size: size(engine.max_head_size),
            max_headers: engine.max_headers,
            max_body_size: Size(engine.max_body_size),
            max_requests_per_connection: OrOff(engine.max_requests_per_connection),
            send_buffer_size: OrOff(engine.send_buffer_size.map(size)),
            max_chunk_extensions: size(engine.max_chunk_extensions),
            max_trailer_size: size(engine.max_trailer_size),
            max_drain: Size(engine.max_drain),
            header_read_timeout: OrOff(engine.header_read_timeout.map(Secs)),
            keep_alive_timeout: OrOff(engine.keep_alive_timeout.map(Secs)),
            handler_timeout: OrOff(engine.handler_timeout.map(Secs)),
            body_min_rate,
            body_min_rate_window,
            send_min_rate,
            send_min_rate_window,
            read_buffer_size: size(engine.read_buffer_size),
            write_buffer_watermark: size(engine.write_buffer_watermark),
            write_copy_threshold: size(engine.write_copy_threshold),
            peer_addr_extension: engine.peer_addr_extension,
            log_level: "info".to_owned(),
            log_format: LogFormat::Auto,
            access_log: AccessLogFormat::Off,
            access_log_file: "stdout".to_owned(),
            // Both opt-in, as in Caddy and nginx: each costs instructions on every request
            // (docs/PERFORMANCE.md, "Observability cost").
            metrics_path: OrOff(None),
            metrics_listen: OrOff(None),
            request_id_header: OrOff(None),
        }
    }
}

/// Where a setting's value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Default,
    File(PathBuf),
    Env,
    Flag,
}

impl Origin {
    fn describe(&self, key: &str) -> String {
        match self {
            Origin::Default => "the default".to_owned(),
            Origin::File(path) => format!("from config file {}", path.display()),
            Origin::Env => format!("from environment variable {}", env_var(key)),
            Origin::Flag => format!("from flag --{}", key.replace('_', "-")),
        }
    }
}

/// The origin of every key set by a layer; keys not in it have their default.
#[derive(Debug, Default)]
struct Origins(HashMap<String, Origin>);

impl Origins {
    fn describe(&self, key: &str) -> String {
        self.0.get(key).unwrap_or(&Origin::Default).describe(key)
    }
}

/// The layers merged so far, as one TOML table.
#[derive(Debug)]
struct Layers {
    /// Every key, sorted.
    known: Vec<String>,
    table: toml::Table,
    origins: Origins,
}

impl Layers {
    fn new() -> Result<Layers, ConfigError> {
        let defaults = toml::Table::try_from(Config::default())
            .map_err(|err| ConfigError(format!("cannot list the settings: {err}")))?;
        Ok(Layers {
            known: defaults.keys().cloned().collect(),
            table: toml::Table::new(),
            origins: Origins::default(),
        })
    }

    /// Adds one layer over those before it, checking each value on its own so that an error
    /// names its key and origin even if a later layer would have overridden it.
    fn add(&mut self, layer: toml::Table, origin: &Origin) -> Result<(), ConfigError> {
        for (key, value) in layer {
            if !self.known.contains(&key) {
                return Err(ConfigError(format!(
                    "unknown key `{key}` in {}; the keys are: {}",
                    origin_name(origin),
                    self.known.join(", ")
                )));
            }
            let mut single = toml::Table::new();
            single.insert(key.clone(), value.clone());
            if let Err(err) = Config::deserialize(single) {
                return Err(ConfigError(format!(
                    "invalid `{key} = {value}` ({}): {}",
                    origin.describe(&key),
                    err.message().trim_end()
                )));
            }
            self.table.insert(key.clone(), value);
            self.origins.0.insert(key, origin.clone());
        }
        Ok(())
    }
}

fn origin_name(origin: &Origin) -> String {
    match origin {
        Origin::File(path) => format!("config file {}", path.display()),
        Origin::Env => "the environment".to_owned(),
        Origin::Flag | Origin::Default => "the flags".to_owned(),
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| ConfigError(format!("cannot read config file {}: {err}", path.display())))?;
    text.parse::<toml::Table>().map_err(|err| {
        ConfigError(format!(
            "config file {} is not valid TOML: {}",
            path.display(),
            err.to_string().trim_end()
        ))
    })
}

/// The `NUCLEUS_*` variable of every known key that is set. Only known names are read: other
/// `NUCLEUS_*` variables (`NUCLEUS_LOG`, or those Kubernetes makes for a service named
/// `nucleus`) are not ours to reject.
fn env_table(
    env: &impl Fn(&str) -> Option<OsString>,
    known: &[String],
) -> Result<toml::Table, ConfigError> {
    let mut table = toml::Table::new();
    for key in known {
        let Some(text) = env_string(env, &env_var(key))? else {
            continue;
        };
        table.insert(key.clone(), env_value(&text));
    }
    Ok(table)
}

fn env_string(
    env: &impl Fn(&str) -> Option<OsString>,
    name: &str,
) -> Result<Option<String>, ConfigError> {
    env(name)
        .map(|value| {
            value
                .into_string()
                .map_err(|_| ConfigError(format!("environment variable {name} is not valid UTF-8")))
        })
        .transpose()
}

/// An environment string as the TOML value it stands for: an integer, a boolean, or else a
/// string (which the setting's type parses: `10s`, `8KiB`, `off`, a comma-separated list).
fn env_value(text: &str) -> toml::Value {
    let trimmed = text.trim();
    if let Ok(n) = trimmed.parse::<i64>() {
        return toml::Value::Integer(n);
    }
    match trimmed {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(text.to_owned()),
    }
}

fn env_var(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

fn to_usize(size: Size) -> usize {
    // Only a 32-bit target can overflow, and there a saturated limit means the same thing.
    usize::try_from(size.0).unwrap_or(usize::MAX)
}

fn to_u32(size: Size) -> u32 {
    // Validation keeps every HTTP/2 size below 2^31.
    u32::try_from(size.0).unwrap_or(u32::MAX)
}

fn listen_addrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ListenAddr>, D::Error> {
    comma_list(d, "an address")
}

fn redirect_addrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Addr>, D::Error> {
    comma_list(d, "an address")
}

fn file_paths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<FilePath>, D::Error> {
    comma_list(d, "a file path")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn load(flags: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let args =
            Args::try_parse_from(std::iter::once("nucleus").chain(flags.iter().copied())).unwrap();
        Config::load(&args, |name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn defaults_match_the_engine_and_validate() {
        let config = load(&[], &[]).unwrap();
        assert_eq!(config, Config::default());
        let engine = config.engine();
        let default = nucleus_http::Config::default();
        assert_eq!(engine.max_body_size, default.max_body_size);
        assert_eq!(engine.header_read_timeout, default.header_read_timeout);
        assert_eq!(engine.body_min_rate, default.body_min_rate);
        assert_eq!(engine.liveness_path, default.liveness_path);
    }

    #[test]
    fn every_config_key_is_a_flag_and_back() {
        use clap::CommandFactory;
        let unset = toml::Table::try_from(Args::parse_from(["nucleus"])).unwrap();
        assert!(
            unset.is_empty(),
            "unset flags must not serialize: {unset:?}"
        );
        let mut flags: Vec<String> = Args::command()
            .get_arguments()
            .filter_map(|arg| arg.get_long())
            .filter(|long| !["config", "print-config", "help", "version"].contains(long))
            .map(|long| long.replace('-', "_"))
            .collect();
        let mut known = Layers::new().unwrap().known;
        flags.sort();
        known.sort();
        assert_eq!(flags, known);
    }

    #[test]
    fn flags_beat_env_beats_defaults() {
        let env = [("NUCLEUS_WORKERS", "3"), ("NUCLEUS_BACKLOG", "77")];
        let config = load(&["--workers", "5"], &env).unwrap();
        assert_eq!(config.workers, OrAuto(Some(5)));
        assert_eq!(config.backlog, 77);
        assert_eq!(config.max_headers, 100);
    }

    #[test]
    fn env_values_in_every_form() {
        let env = [
            ("NUCLEUS_LISTEN", "127.0.0.1:1, [::1]:2"),
            ("NUCLEUS_HEADER_READ_TIMEOUT", "off"),
            ("NUCLEUS_KEEP_ALIVE_TIMEOUT", "500ms"),
            ("NUCLEUS_MAX_BODY_SIZE", "1MiB"),
            ("NUCLEUS_IPV6_ONLY", "true"),
            ("NUCLEUS_SEND_MIN_RATE", "false"),
            ("NUCLEUS_LOG", "debug"),
            ("NUCLEUS_SERVICE_HOST", "10.0.0.1"),
        ];
        let config = load(&[], &env).unwrap();
        assert_eq!(config.listen.len(), 2);
        assert_eq!(config.header_read_timeout, OrOff(None));
        assert_eq!(
            config.keep_alive_timeout,
            OrOff(Some(Secs(Duration::from_millis(500))))
        );
        assert_eq!(config.max_body_size, Size(1 << 20));
        assert!(config.ipv6_only);
        assert_eq!(config.send_min_rate, OrOff(None));
    }

    #[test]
    fn the_http2_framing_layer_is_ours_unless_h2_is_asked_for() {
        let engine = |flags: &[&str], env: &[(&str, &str)]| {
            load(flags, env).unwrap().engine().http2.unwrap().engine
        };
        assert_eq!(engine(&[], &[]), nucleus_http::Http2Engine::Nucleus);
        assert_eq!(
            engine(&["--h2-engine", "h2"], &[]),
            nucleus_http::Http2Engine::H2Crate
        );
        assert_eq!(
            engine(&[], &[("NUCLEUS_H2_ENGINE", "h2")]),
            nucleus_http::Http2Engine::H2Crate
        );
    }

    #[test]
    fn http2_keep_alive_reaches_the_engine_and_zero_is_refused() {
        let flags = [
            "--h2-keep-alive-interval",
            "30s",
            "--h2-keep-alive-timeout",
            "5s",
        ];
        let h2 = load(&flags, &[]).unwrap().engine().http2.unwrap();
        assert_eq!(h2.keep_alive_interval, Some(Duration::from_secs(30)));
        assert_eq!(h2.keep_alive_timeout, Duration::from_secs(5));
        let h2 = load(&[], &[]).unwrap().engine().http2.unwrap();
        assert_eq!(h2.keep_alive_interval, None);
        assert_eq!(h2.keep_alive_timeout, Duration::from_secs(20));
        let err = load(&[], &[("NUCLEUS_H2_KEEP_ALIVE_TIMEOUT", "0")])
            .unwrap_err()
            .0;
        assert!(err.contains("h2_keep_alive_timeout"), "{err}");
        let err = load(&["--h2-keep-alive-interval", "0"], &[]).unwrap_err().0;
        assert!(err.contains("h2_keep_alive_interval"), "{err}");
    }

    #[test]
    fn errors_name_key_and_origin() {
        let err = load(&[], &[("NUCLEUS_WORKERS", "0")]).unwrap_err().0;
        assert!(
            err.contains("`workers = 0`") && err.contains("NUCLEUS_WORKERS"),
            "{err}"
        );
        let err = load(&["--header-read-timeout", "0"], &[]).unwrap_err().0;
        assert!(err.contains("header_read_timeout") && err.contains("--header-read-timeout"));
        let err = load(&[], &[("NUCLEUS_LISTEN", "")]).unwrap_err().0;
        assert!(
            err.contains("listen") && err.contains("NUCLEUS_LISTEN"),
            "{err}"
        );
        let err = load(&["--max-head-size", "1KiB"], &[]).unwrap_err().0;
        assert!(
            err.contains("max_uri_len") && err.contains("--max-head-size"),
            "{err}"
        );
        let err = load(&[], &[("NUCLEUS_KEEP_ALIVE_TIMEOUT", "soon")])
            .unwrap_err()
            .0;
        assert!(err.contains("keep_alive_timeout"), "{err}");
        let err = load(&["--health-path", "/x", "--ready-path", "/x"], &[])
            .unwrap_err()
            .0;
        assert!(
            err.contains("health_path") && err.contains("ready_path"),
            "{err}"
        );
    }

    #[test]
    fn tls_and_http2_settings_are_checked_alone_and_together() {
        let err = load(&["--tls-cert", "a.pem"], &[]).unwrap_err().0;
        assert!(
            err.contains("tls_key") && err.contains("1 certificate(s) but 0"),
            "{err}"
        );
        let err = load(&["--listen", "https://127.0.0.1:1"], &[])
            .unwrap_err()
            .0;
        assert!(
            err.contains("https://127.0.0.1:1") && err.contains("tls_cert"),
            "{err}"
        );
        let err = load(&["--redirect-listen", "127.0.0.1:2"], &[])
            .unwrap_err()
            .0;
        assert!(
            err.contains("redirect_listen") && err.contains("there is none"),
            "{err}"
        );
        let err = load(&["--hsts", "1h"], &[]).unwrap_err().0;
        assert!(err.contains("hsts"), "{err}");
        let err = load(
            &["--tls-self-signed", "--tls-cert", "a", "--tls-key", "b"],
            &[],
        )
        .unwrap_err()
        .0;
        assert!(err.contains("not both"), "{err}");
        let err = load(&["--h2-max-frame-size", "1KiB"], &[]).unwrap_err().0;
        assert!(
            err.contains("h2_max_frame_size") && err.contains("16384"),
            "{err}"
        );
        let err = load(
            &[
                "--tls-self-signed",
                "--listen",
                "127.0.0.1:0",
                "--redirect-listen",
                "127.0.0.1:2",
            ],
            &[],
        )
        .unwrap_err()
        .0;
        assert!(err.contains("port 0"), "{err}");
    }

    #[test]
    fn listen_schemes_decide_which_listeners_serve_tls() {
        let env = [
            (
                "NUCLEUS_LISTEN",
                "127.0.0.1:1, http://127.0.0.1:2, https://127.0.0.1:3",
            ),
            ("NUCLEUS_TLS_CERT", "a.pem"),
            ("NUCLEUS_TLS_KEY", "a.key"),
        ];
        let config = load(&["--redirect-listen", "127.0.0.1:4"], &env).unwrap();
        let tls: Vec<bool> = config.listen.iter().map(|l| l.is_tls(true)).collect();
        assert_eq!(tls, [true, false, true]);
        assert_eq!(config.https_port(), Some(1));
        let plain = load(&[], &[("NUCLEUS_LISTEN", "127.0.0.1:1")]).unwrap();
        assert!(!plain.serves_tls());
        let engine = load(&["--http2", "false"], &[]).unwrap().engine();
        assert!(engine.http2.is_none());
        let engine = load(&["--h2-max-concurrent-streams", "7"], &[])
            .unwrap()
            .engine();
        assert_eq!(engine.http2.unwrap().max_concurrent_streams, 7);
    }

    #[test]
    fn print_config_round_trips() {
        let config = load(
            &[
                "--handler-timeout",
                "1.5s",
                "--max-drain",
                "1000",
                "--workers",
                "2",
            ],
            &[("NUCLEUS_HEALTH_PATH", "off")],
        )
        .unwrap();
        let text = config.to_toml().unwrap();
        let back = Config::deserialize(text.parse::<toml::Table>().unwrap()).unwrap();
        assert_eq!(back, config);
    }
}
