//! Access logs: one line per completed response, in Common, Combined or JSON format.
//!
//! [`AccessLog`] is an engine observer ([`nucleus_http::observe::Observe`]). Workers format
//! each line into their own buffer; a writer thread drains the buffers every 100 ms to stdout,
//! stderr or a file. A worker never waits for the output: when a buffer is full the line is
//! dropped and counted ([`AccessLog::dropped`]).
//!
//! | format | line |
//! | --- | --- |
//! | [`Format::Common`] | `127.0.0.1 - - [27/Nov/2026:05:01:43 +0000] "GET / HTTP/1.1" 200 13` |
//! | [`Format::Combined`] | `127.0.0.1 - - [27/Nov/2026:05:01:43 +0000] "GET / HTTP/1.1" 200 13 "-" "curl/7.88.1"` |
//! | [`Format::Json`] | `{"time":"2026-11-27T05:01:43Z","remote_addr":"127.0.0.1","request_id":"…","method":"GET","route":"/","target":"/","protocol":"HTTP/1.1","status":200,"body_bytes_sent":13,"duration_ms":0.052,"referer":null,"user_agent":"curl/7.88.1"}` |
//!
//! ```no_run
//! use std::sync::Arc;
//! use nucleus::access_log::{AccessLog, Format, Target};
//!
//! let log = Arc::new(AccessLog::new(Format::Combined, Target::Stdout)?);
//! let mut config = nucleus::Config::default();
//! config.observer = Some(log.clone());
//! // ... run the server, then before exiting:
//! log.flush()?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod format;
mod sink;

use std::fmt;
use std::io;
use std::sync::Arc;

use nucleus_http::observe::{Completed, Observe};

pub use format::Format;
pub use sink::Target;

/// Default bytes a worker may buffer between two drains (100 ms): about 5,000 combined lines,
/// 50,000 lines a second per worker, before lines are dropped.
pub const DEFAULT_BUFFER_LIMIT: usize = 1024 * 1024;

/// An access log observer. See the [module docs](self).
pub struct AccessLog {
    format: Format,
    shared: Arc<sink::Shared>,
}

impl AccessLog {
    /// Starts an access log writing `format` lines to `target`.
    ///
    /// # Errors
    ///
    /// The file cannot be opened for appending, or the writer thread cannot start.
    pub fn new(format: Format, target: Target) -> io::Result<AccessLog> {
        AccessLog::with_buffer_limit(format, target, DEFAULT_BUFFER_LIMIT)
    }

    /// [`AccessLog::new`] with a per-worker buffer of `limit` bytes instead of
    /// [`DEFAULT_BUFFER_LIMIT`].
    ///
    /// # Errors
    ///
    /// As [`AccessLog::new`].
    pub fn with_buffer_limit(
        format: Format,
        target: Target,
        limit: usize,
    ) -> io::Result<AccessLog> {
        Ok(AccessLog {
            format,
            shared: sink::Shared::start(target, limit)?,
        })
    }

    /// Closes and reopens the file on the writer thread (for logrotate; the `nucleus` binary
    /// calls it on `SIGUSR1`). No effect for stdout or stderr.
    pub fn reopen(&self) {
        self.shared.request_reopen();
    }

    /// Writes out every buffered line now; call it before the process exits.
    ///
    /// # Errors
    ///
    /// Writing or reopening the output failed.
    pub fn flush(&self) -> io::Result<()> {
        self.shared.drain()
    }

    /// Lines dropped because a worker's buffer was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped()
    }

    /// The format written.
    pub fn format(&self) -> Format {
        self.format
    }
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog")
            .field("format", &self.format)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Observe for AccessLog {
    fn wants_details(&self) -> bool {
        true
    }

    fn request_completed(&self, done: &Completed) {
        self.shared
            .append(|out, cache| format::write_line(out, cache, self.format, done));
    }
}
