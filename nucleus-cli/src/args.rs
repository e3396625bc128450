//! The command line, exactly as typed: parsing only, no I/O.
//!
//! Every setting flag is an `Option` (or an empty `Vec`): `None` means "not given here", so the
//! environment, the config file or the default decides (see `config.rs`). A flag's long name is
//! its config key with `-` for `_`, which is how `config.rs` turns these fields into a layer:
//! `Args` serializes to a TOML table holding only the flags that were given.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::listen::{Addr, FilePath, ListenAddr};
use crate::observe::{AccessLogFormat, LogFormat};
use crate::units::{OrAuto, OrOff, Rate, Secs, Size};

/// Nucleus: a production HTTP/1.1, HTTP/2 and HTTPS server with a demo app.
///
/// Serves the demo routes (`/`, `/json`, `/echo`, `/slow`, `/blocking`, `/stream`,
/// `/health`) on every `--listen` address.
#[derive(Debug, Parser, Serialize)]
#[command(
    name = "nucleus",
    version,
    about,
    long_about = None,
    after_help = "Every setting flag --some-flag can also be given as the environment variable \
                  NUCLEUS_SOME_FLAG or as the key some_flag in the --config file. Flags override \
                  the environment, which overrides the file, which overrides the defaults. \
                  Durations take units (10s, 500ms, 2m; a plain number is seconds), sizes too \
                  (8KiB, 1MiB; a plain number is bytes); `off` disables an optional limit."
)]
pub(crate) struct Args {
    /// Read settings from this TOML file (keys as in nucleus.example.toml) [env: NUCLEUS_CONFIG].
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub(crate) config: Option<PathBuf>,

    /// Print the effective configuration as TOML (a valid --config file) and exit.
    #[arg(long)]
    #[serde(skip)]
    pub(crate) print_config: bool,

    /// Address to listen on, e.g. 127.0.0.1:8000 or [::]:8000; repeat for several. HTTPS when
    /// a certificate is given, unless written http://ADDR; https://ADDR is always HTTPS
    /// [default: 127.0.0.1:8000].
    #[arg(long = "listen", value_name = "ADDR", help_heading = "Server")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) listen: Vec<ListenAddr>,

    /// Plain-HTTP address that redirects every request to HTTPS (308); repeatable.
    #[arg(long = "redirect-listen", value_name = "ADDR", help_heading = "TLS")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) redirect_listen: Vec<Addr>,

    /// Certificate chain file (PEM); repeat with --tls-key for several, chosen by SNI.
    #[arg(long = "tls-cert", value_name = "FILE", help_heading = "TLS")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) tls_cert: Vec<FilePath>,

    /// Private key file (PEM) of the --tls-cert in the same position.
    #[arg(long = "tls-key", value_name = "FILE", help_heading = "TLS")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) tls_key: Vec<FilePath>,

    /// Serve HTTPS with a generated certificate for localhost (development) [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          help_heading = "TLS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_self_signed: Option<bool>,

    /// Longest time from accept to a finished TLS handshake [default: 10s].
    #[arg(long, value_name = "DURATION", help_heading = "TLS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_handshake_timeout: Option<Secs>,

    /// How often certificate files are checked and reloaded when changed, or `off` (SIGHUP
    /// always reloads) [default: 10s].
    #[arg(long, value_name = "DURATION|off", help_heading = "TLS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_reload_interval: Option<OrOff<Secs>>,

    /// Strict-Transport-Security max-age on HTTPS responses, or `off` [default: off].
    #[arg(long, value_name = "DURATION|off", help_heading = "TLS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hsts: Option<OrOff<Secs>>,

    /// Serve HTTP/2 (ALPN over TLS, prior knowledge in cleartext) [default: true].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          help_heading = "HTTP/2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) http2: Option<bool>,

    /// HTTP/2 streams a client may have open at once [default: 128].
    #[arg(long, value_name = "N", help_heading = "HTTP/2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) h2_max_concurrent_streams: Option<u32>,

    /// HTTP/2 initial flow-control window per stream [default: 1MiB].
    #[arg(long, value_name = "BYTES", help_heading = "HTTP/2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) h2_stream_window: Option<Size>,

    /// HTTP/2 initial flow-control window per connection [default: 1MiB].
    #[arg(long, value_name = "BYTES", help_heading = "HTTP/2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) h2_connection_window: Option<Size>,

    /// Largest HTTP/2 frame payload accepted [default: 16KiB].
    #[arg(long, value_name = "BYTES", help_heading = "HTTP/2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) h2_max_frame_size: Option<Size>,

    /// HTTP/2 streams a client may cancel, net of completed ones, before GOAWAY [default: 200].
    #[arg(long, value_name = "N", help_heading = "HTTP/2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) h2_max_cancelled_streams: Option<u32>,

    /// Send an HTTP/2 PING this often (close if unanswered for `--h2-keep-alive-timeout`),
    /// or `off` [default: off].
    #[arg(long, value_name = "DURATION|off", help_heading = "HTTP/2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) h2_keep_alive_interval: Option<OrOff<Secs>>,

    /// How long an HTTP/2 keep-alive PING may go unanswered before the connection is closed
    /// [default: 20s].
    #[arg(long, value_name = "DURATION", help_heading = "HTTP/2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) h2_keep_alive_timeout: Option<Secs>,

    /// Which HTTP/2 framing layer serves: `nucleus` (its own) or `h2` (the h2 crate)
    /// [default: nucleus].
    #[arg(long, value_enum, value_name = "ENGINE", help_heading = "HTTP/2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) h2_engine: Option<H2Engine>,

    /// Worker threads, or `auto` for the number of CPUs [default: auto].
    #[arg(long, value_name = "N", help_heading = "Server")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) workers: Option<OrAuto<usize>>,

    /// How connections are spread over workers [default: per-core].
    #[arg(long, value_enum, value_name = "MODEL", help_heading = "Server")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) worker_model: Option<Model>,

    /// Listen backlog: connections the kernel queues while the server is busy [default: 1024].
    #[arg(long, value_name = "N", help_heading = "Server")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backlog: Option<u32>,

    /// Most connections open at once, or `auto` for the open-file limit less a reserve
    /// [default: auto].
    #[arg(long, value_name = "N", help_heading = "Server")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_connections: Option<OrAuto<usize>>,

    /// How long a graceful shutdown waits for in-flight requests [default: 30s].
    #[arg(long, value_name = "DURATION", help_heading = "Server")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) shutdown_timeout: Option<Secs>,

    /// Make [::] listeners IPv6-only instead of dual stack [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          help_heading = "Server")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ipv6_only: Option<bool>,

    /// Liveness endpoint answered by the engine, or `off` [default: /health].
    #[arg(long, value_name = "PATH|off", help_heading = "Server")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) health_path: Option<OrOff<String>>,

    /// Readiness endpoint (503 while starting or draining), or `off` [default: /ready].
    #[arg(long, value_name = "PATH|off", help_heading = "Server")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ready_path: Option<OrOff<String>>,

    /// Longest request target; longer gets 414 [default: 8KiB].
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_uri_len: Option<Size>,

    /// Largest request head (request line and header fields); larger gets 431
    /// [default: 64KiB].
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_head_size: Option<Size>,

    /// Most header fields in one request; more gets 431 [default: 100].
    #[arg(long, value_name = "N", help_heading = "Limits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_headers: Option<usize>,

    /// Largest request body, in bytes or with a unit: 8MiB, 512KiB, 1GB [default: 1GiB].
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_body_size: Option<Size>,

    /// Kernel send buffer of each connection (SO_SNDBUF), or `off` for autotuning [default: 512KiB].
    #[arg(long, value_name = "BYTES|off", help_heading = "Limits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) send_buffer_size: Option<OrOff<Size>>,

    /// Requests served on one connection before it is closed, or `off` [default: 10000].
    #[arg(long, value_name = "N|off", help_heading = "Limits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_requests_per_connection: Option<OrOff<u64>>,

    /// Total chunk extensions accepted per body [default: 16KiB].
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_chunk_extensions: Option<Size>,

    /// Largest trailer section of a chunked body [default: 16KiB].
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_trailer_size: Option<Size>,

    /// Unread request body discarded to keep a connection alive [default: 256KiB].
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_drain: Option<Size>,

    /// Longest wait for a complete request head (slowloris defence), or `off` [default: 10s].
    #[arg(long, value_name = "DURATION|off", help_heading = "Timeouts")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) header_read_timeout: Option<OrOff<Secs>>,

    /// How long an idle keep-alive connection waits for its next request, or `off`
    /// [default: 15s].
    #[arg(long, value_name = "DURATION|off", help_heading = "Timeouts")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) keep_alive_timeout: Option<OrOff<Secs>>,

    /// Longest a handler may take to start its response (then 503), or `off` [default: off].
    #[arg(long, value_name = "DURATION|off", help_heading = "Timeouts")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) handler_timeout: Option<OrOff<Secs>>,

    /// Slowest request body accepted while the handler reads it, or `off` [default: 1KiB/s].
    #[arg(long, value_name = "RATE|off", help_heading = "Timeouts")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) body_min_rate: Option<OrOff<Rate>>,

    /// Grace period and averaging window of --body-min-rate [default: 10s].
    #[arg(long, value_name = "DURATION", help_heading = "Timeouts")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) body_min_rate_window: Option<Secs>,

    /// Slowest client accepted while it takes response bytes, or `off` [default: 1KiB/s].
    #[arg(long, value_name = "RATE|off", help_heading = "Timeouts")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) send_min_rate: Option<OrOff<Rate>>,

    /// Grace period and averaging window of --send-min-rate [default: 10s].
    #[arg(long, value_name = "DURATION", help_heading = "Timeouts")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) send_min_rate_window: Option<Secs>,

    /// Initial and minimum free space of a connection's read buffer [default: 8KiB].
    #[arg(long, value_name = "BYTES", help_heading = "Tuning")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) read_buffer_size: Option<Size>,

    /// Response bytes buffered before a write while pipelined requests wait [default: 64KiB].
    #[arg(long, value_name = "BYTES", help_heading = "Tuning")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) write_buffer_watermark: Option<Size>,

    /// Body chunks at least this large are written without a copy [default: 4KiB].
    #[arg(long, value_name = "BYTES", help_heading = "Tuning")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) write_copy_threshold: Option<Size>,

    /// Also put the peer address into every request's extensions [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          help_heading = "Tuning")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) peer_addr_extension: Option<bool>,

    /// Log filter: a level (error, warn, info, debug, trace) or `RUST_LOG` directives such as
    /// `info,nucleus_http=debug`; NUCLEUS_LOG or RUST_LOG override the file and default
    /// [default: info].
    #[arg(long, value_name = "FILTER", help_heading = "Observability")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_level: Option<String>,

    /// Log output: text, json (one object per line), or auto (text on a terminal, else json)
    /// [default: auto].
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        help_heading = "Observability"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_format: Option<LogFormat>,

    /// Access log format: off, common, combined (as nginx) or json [default: off].
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        help_heading = "Observability"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) access_log: Option<AccessLogFormat>,

    /// Where the access log goes: stdout, stderr or a file path (reopened on SIGUSR1)
    /// [default: stdout].
    #[arg(
        long,
        value_name = "stdout|stderr|PATH",
        help_heading = "Observability"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) access_log_file: Option<String>,

    /// Path of the Prometheus metrics endpoint (e.g. `/metrics`), or `off` [default: off].
    #[arg(long, value_name = "PATH|off", help_heading = "Observability")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) metrics_path: Option<OrOff<String>>,

    /// Serve the metrics on this separate address instead of the main listeners, or `off`
    /// [default: off].
    #[arg(long, value_name = "ADDR|off", help_heading = "Observability")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) metrics_listen: Option<OrOff<SocketAddr>>,

    /// Request ID header (e.g. `x-request-id`): accepted when well formed, else generated; set
    /// on every response. Or `off` [default: off].
    #[arg(long, value_name = "NAME|off", help_heading = "Observability")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) request_id_header: Option<OrOff<String>>,
}

/// `--h2-engine` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum H2Engine {
    /// Nucleus's own HTTP/2 framing.
    Nucleus,
    /// The `h2` crate, as hyper uses it.
    H2,
}

/// `--worker-model` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Model {
    /// One single-threaded runtime per worker, each with its own SO_REUSEPORT socket.
    PerCore,
    /// One tokio work-stealing runtime shared by all workers.
    WorkStealing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_is_repeatable() {
        let args = Args::parse_from(["nucleus", "--listen", "127.0.0.1:1", "--listen", "[::1]:2"]);
        assert_eq!(args.listen.len(), 2);
    }

    #[test]
    fn flags_not_given_stay_unset() {
        let args = Args::parse_from(["nucleus", "--workers", "3", "--ipv6-only"]);
        assert_eq!(args.workers, Some(OrAuto(Some(3))));
        assert_eq!(args.ipv6_only, Some(true));
        assert_eq!(args.max_body_size, None);
        assert!(args.listen.is_empty());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
