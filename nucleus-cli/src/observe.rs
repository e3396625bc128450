//! Logs, access log, metrics and request IDs: the settings, their checks, and wiring them
//! into the engine and the app.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;

use clap::ValueEnum;
use nucleus::access_log::{AccessLog, Format, Target};
use nucleus::metrics::Metrics;
use nucleus_http::observe::{Both, Observe};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, ConfigError};
use crate::log_writer::LogWriter;

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum LogFormat {
    /// Text on a terminal, JSON lines otherwise (for log collectors).
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `--access-log` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum AccessLogFormat {
    /// No access log.
    Off,
    /// Common Log Format.
    Common,
    /// nginx's `combined`: Common plus referer and user agent.
    Combined,
    /// One JSON object per line.
    Json,
}

/// The observers the server runs with, kept for the metrics endpoint, SIGUSR1 and exit.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observers {
    pub(crate) metrics: Option<Arc<Metrics>>,
    pub(crate) access_log: Option<Arc<AccessLog>>,
}

impl Observers {
    /// Starts what `config` asks for; `log_drops` counts the lines the server log dropped.
    pub(crate) fn start(
        config: &Config,
        log_drops: Option<LogWriter>,
    ) -> std::io::Result<Observers> {
        let wants_metrics = config.metrics_path().is_some();
        let access_log = match config.access_log {
            AccessLogFormat::Off => None,
            format => {
                let format = match format {
                    AccessLogFormat::Common => Format::Common,
                    AccessLogFormat::Json => Format::Json,
                    _ => Format::Combined,
                };
                let target = match config.access_log_file.as_str() {
                    "stdout" => Target::Stdout,
                    "stderr" => Target::Stderr,
                    path => Target::File(PathBuf::from(path)),
                };
                let log = AccessLog::new(format, target).map_err(|err| {
                    std::io::Error::new(
                        err.kind(),
                        format!(
                            "cannot open the access log {}: {err}",
                            config.access_log_file
                        ),
                    )
                })?;
                Some(Arc::new(log))
            }
        };
        let metrics = wants_metrics.then(|| Arc::new(Metrics::new()));
        if let Some(metrics) = &metrics {
            if let Some(drops) = log_drops {
                metrics.count_dropped_lines("server", move || drops.dropped());
            }
            if let Some(log) = access_log.clone() {
                metrics.count_dropped_lines("access", move || log.dropped());
            }
        }
        Ok(Observers {
            metrics,
            access_log,
        })
    }

    /// The engine observer combining them, if any.
    pub(crate) fn observer(&self) -> Option<Arc<dyn Observe>> {
        match (self.metrics.clone(), self.access_log.clone()) {
            (Some(m), Some(a)) => Some(Arc::new(Both(m, a))),
            (Some(m), None) => Some(m),
            (None, Some(a)) => Some(a),
            (None, None) => None,
        }
    }

    /// Writes out buffered access log lines; called before exit.
    pub(crate) fn flush(&self) {
        if let Some(log) = &self.access_log {
            if let Err(err) = log.flush() {
                tracing::warn!(error = %err, "cannot flush the access log");
            }
        }
    }
}

impl Config {
    pub(crate) fn validate_observability(
        &self,
        describe: &dyn Fn(&str) -> String,
    ) -> Result<(), ConfigError> {
        let bad = |key: &str, value: &dyn std::fmt::Display, why: &str| {
            Err(ConfigError::new(format!(
                "invalid `{key} = {value}` ({}): {why}",
                describe(key)
            )))
        };
        if let Err(err) = EnvFilter::builder().parse(&self.log_level) {
            return bad(
                "log_level",
                &self.log_level,
                &format!("not a level or filter ({err}); e.g. `info` or `info,nucleus_http=debug`"),
            );
        }
        if self.access_log_file.trim().is_empty() {
            return bad(
                "access_log_file",
                &"\"\"",
                "give stdout, stderr or a file path",
            );
        }
        if let Some(path) = &self.metrics_path.0 {
            if !path.starts_with('/') || path.contains(|c: char| c.is_whitespace() || c == '?') {
                return bad(
                    "metrics_path",
                    path,
                    "must be a URL path starting with `/` (no query), or `off`",
                );
            }
            let engine_paths = [&self.health_path.0, &self.ready_path.0];
            if self.metrics_listen.0.is_none() && engine_paths.contains(&&Some(path.clone())) {
                return bad(
                    "metrics_path",
                    path,
                    "is already the health or ready path; give it another path",
                );
            }
        }
        if let Some(name) = &self.request_id_header.0 {
            if http::HeaderName::try_from(name.as_str()).is_err() {
                return bad(
                    "request_id_header",
                    name,
                    "not a valid header name (lowercase letters, digits and `-`)",
                );
            }
        }
        Ok(())
    }
}

/// Targets of dependencies that log what clients do wrong at `warn`, one line per connection,
/// and the level they log at unless the directives name them. rustls warns about a client's
/// IP address sent as SNI (wrk and OpenSSL-based clients do it on every handshake), which
/// let any client flood the log and cost about 7 µs of server CPU per handshake (5 %); the
/// engine reports failed handshakes itself, at `debug` as a client-caused error. h2 warns
/// when a client resets too many streams before they are accepted (Rapid Reset), which the
/// engine answers with GOAWAY and counts itself.
const QUIET_DEPENDENCIES: &[(&str, &str)] = &[("rustls", "error"), ("h2", "error")];

/// Whether a directive names `target` or one of its modules (`h2`, `h2::proto`; not
/// `nucleus_http::h2`).
fn names_target(directives: &str, target: &str) -> bool {
    directives.split(',').any(|directive| {
        let name = directive
            .split(['=', '['])
            .next()
            .unwrap_or_default()
            .trim();
        name == target
            || name
                .strip_prefix(target)
                .is_some_and(|rest| rest.starts_with("::"))
    })
}

/// `directives` plus a `target=level` for each quiet dependency they do not mention.
fn with_quiet_dependencies(directives: &str) -> String {
    let mut all = directives.trim().to_owned();
    for (target, level) in QUIET_DEPENDENCIES {
        if !names_target(directives, target) {
            if !all.is_empty() {
                all.push(',');
            }
            all.push_str(target);
            all.push('=');
            all.push_str(level);
        }
    }
    all
}

/// Log lines queued for the writer thread before new ones are dropped. (tracing-appender's
/// writer, used before, allocated its queue of 128,000 lines whole: 4 MiB of resident memory
/// for a server that logs a few lines a minute.)
const LOG_QUEUE_LINES: usize = 4_096;

/// How long the end of the process waits for queued log lines to be written.
const LOG_FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The log writer, kept where a forced exit can reach it: `process::exit` (a second signal)
/// runs no destructors, and the lines still queued, the reason for the exit among them, would
/// be lost.
static LOG_WRITER: std::sync::OnceLock<LogWriter> = std::sync::OnceLock::new();

/// Flushes the queued log lines when dropped (at the end of `main`).
pub(crate) struct FlushLogs;

impl Drop for FlushLogs {
    fn drop(&mut self) {
        flush_logs();
    }
}

/// Writes out the queued log lines and stops the writer (waiting up to a second); later lines
/// are dropped. For the end of the process.
pub(crate) fn flush_logs() {
    if let Some(writer) = LOG_WRITER.get() {
        writer.close(LOG_FLUSH_WAIT);
    }
}

/// Logs go to stderr through a non-blocking writer (`log_writer`): a worker never waits on a
/// slow terminal or pipe; past `LOG_QUEUE_LINES` queued lines new ones are dropped. The
/// returned `FlushLogs` writes out the queue when dropped at exit.
pub(crate) fn init_logging(
    config: &Config,
    flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> (FlushLogs, LogWriter) {
    let directives = flag
        .map(str::to_owned)
        .or_else(|| env("NUCLEUS_LOG"))
        .or_else(|| env("RUST_LOG"))
        .unwrap_or_else(|| config.log_level.clone());
    let filter = EnvFilter::builder()
        .parse(with_quiet_dependencies(&directives))
        .unwrap_or_else(|_| EnvFilter::new(with_quiet_dependencies("info")));
    let writer = LOG_WRITER
        .get_or_init(|| LogWriter::stderr(LOG_QUEUE_LINES))
        .clone();
    let dropped = writer.clone();
    let json = match config.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if json {
        builder.json().with_current_span(false).init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
    (FlushLogs, dropped)
}

#[cfg(test)]
mod quiet_dependency_tests {
    use super::with_quiet_dependencies;

    #[test]
    fn noisy_dependencies_are_quiet_unless_the_directives_name_them() {
        assert_eq!(
            with_quiet_dependencies("info"),
            "info,rustls=error,h2=error"
        );
        assert_eq!(with_quiet_dependencies(""), "rustls=error,h2=error");
        assert_eq!(
            with_quiet_dependencies("debug,nucleus=trace"),
            "debug,nucleus=trace,rustls=error,h2=error"
        );
        assert_eq!(
            with_quiet_dependencies("warn,rustls=debug"),
            "warn,rustls=debug,h2=error"
        );
        assert_eq!(
            with_quiet_dependencies("rustls::msgs=warn,h2"),
            "rustls::msgs=warn,h2"
        );
        // The engine's own HTTP/2 module is not the h2 crate.
        assert_eq!(
            with_quiet_dependencies("nucleus_http::h2=debug,rustls_pemfile=info"),
            "nucleus_http::h2=debug,rustls_pemfile=info,rustls=error,h2=error"
        );
    }
}
