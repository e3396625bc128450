//! The server log's writer: the threads that log queue their lines, and a thread of the
//! writer's own writes them to stderr, so that a slow reader of stderr never holds a worker up.
//!
//! It replaces tracing-appender's non-blocking writer for one reason: that writer's thread
//! lives as long as the process. This one starts with the first queued line and ends after a
//! second without one, so a one-worker server that logs nothing while it serves has a single
//! thread, and Linux makes its system calls cheaper for it (`nucleus-http`'s
//! `server/housekeeping.rs`). Like tracing-appender's, it drops lines (and counts them) when
//! its queue is full rather than wait.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Where lines go, one call per line, on the writer thread.
type Output = dyn Fn(&[u8]) + Send + Sync;

/// A handle on the queue; clones share it.
#[derive(Clone)]
pub(crate) struct LogWriter {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a line is queued or the writer closes.
    queued: Condvar,
    /// Signalled when the queue empties or the thread ends.
    drained: Condvar,
    dropped: AtomicU64,
    capacity: usize,
    idle: Duration,
    output: Box<Output>,
}

#[derive(Default)]
struct State {
    lines: VecDeque<Vec<u8>>,
    thread_runs: bool,
    closed: bool,
}

impl LogWriter {
    /// A writer to stderr holding at most `capacity` lines.
    pub(crate) fn stderr(capacity: usize) -> LogWriter {
        LogWriter::new(capacity, Duration::from_secs(1), |line| {
            // Nowhere to report a failed write to the log.
            let _ = io::stderr().lock().write_all(line);
        })
    }

    /// A writer whose thread hands each line to `output`, and ends after `idle` without one.
    fn new(
        capacity: usize,
        idle: Duration,
        output: impl Fn(&[u8]) + Send + Sync + 'static,
    ) -> LogWriter {
        LogWriter {
            shared: Arc::new(Shared {
                state: Mutex::default(),
                queued: Condvar::new(),
                drained: Condvar::new(),
                dropped: AtomicU64::new(0),
                capacity,
                idle,
                output: Box::new(output),
            }),
        }
    }

    /// Lines dropped because the queue was full (or the writer closed).
    pub(crate) fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    fn push(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        if state.closed || state.lines.len() >= self.shared.capacity {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.lines.push_back(line.to_vec());
        if state.thread_runs {
            self.shared.queued.notify_one();
            return;
        }
        state.thread_runs = true;
        drop(state);
        let shared = self.shared.clone();
        let started = std::thread::Builder::new()
            .name("nucleus-log".into())
            .spawn(move || shared.write_out());
        if started.is_err() {
            // The line stays queued for the next start, or for `close`.
            self.shared.lock().thread_runs = false;
        }
    }

    /// Writes out what is queued (waiting up to `wait` for the thread) and drops later lines.
    /// For the end of the process.
    pub(crate) fn close(&self, wait: Duration) {
        let deadline = Instant::now() + wait;
        let mut state = self.shared.lock();
        state.closed = true;
        self.shared.queued.notify_all();
        while state.thread_runs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .shared
                .drained
                .wait_timeout(state, left)
                .map_or_else(|e| e.into_inner().0, |(state, _)| state);
        }
        // No thread (it could not start): the process is ending, so write them here.
        let lines: Vec<Vec<u8>> = state.lines.drain(..).collect();
        drop(state);
        for line in lines {
            (self.shared.output)(&line);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer thread: writes batches until the queue stays empty for `idle`.
    fn write_out(&self) {
        let mut batch = Vec::new();
        loop {
            {
                let mut state = self.lock();
                if state.lines.is_empty() && !state.closed {
                    state = self
                        .queued
                        .wait_timeout(state, self.idle)
                        .map_or_else(|e| e.into_inner().0, |(state, _)| state);
                }
                if state.lines.is_empty() {
                    state.thread_runs = false;
                    self.drained.notify_all();
                    return;
                }
                batch.extend(state.lines.drain(..));
            }
            for line in batch.drain(..) {
                (self.output)(&line);
            }
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter(self)
    }
}

/// One event's writer: tracing-subscriber formats an event whole and writes it in one call.
pub(crate) struct LineWriter<'a>(&'a LogWriter);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collecting(capacity: usize, idle: Duration) -> (LogWriter, Arc<Mutex<Vec<u8>>>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let writer = LogWriter::new(capacity, idle, move |line| {
            sink.lock().unwrap().extend_from_slice(line);
        });
        (writer, out)
    }

    fn thread_runs(writer: &LogWriter) -> bool {
        writer.shared.lock().thread_runs
    }

    #[test]
    fn writes_lines_in_order_and_its_thread_ends_when_idle() {
        let (writer, out) = collecting(16, Duration::from_millis(50));
        assert!(!thread_runs(&writer), "no line, no thread");
        for i in 0..5 {
            LineWriter(&writer)
                .write_all(format!("line {i}\n").as_bytes())
                .unwrap();
        }
        assert!(thread_runs(&writer));
        let deadline = Instant::now() + Duration::from_secs(5);
        while thread_runs(&writer) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!thread_runs(&writer), "the thread should end once idle");
        assert_eq!(
            String::from_utf8(out.lock().unwrap().clone()).unwrap(),
            "line 0\nline 1\nline 2\nline 3\nline 4\n"
        );
        // And a later line starts it again.
        LineWriter(&writer).write_all(b"again\n").unwrap();
        writer.close(Duration::from_secs(5));
        assert!(out.lock().unwrap().ends_with(b"line 4\nagain\n"));
        assert_eq!(writer.dropped(), 0);
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let blocker = gate.clone();
        // The output blocks until the gate opens, so lines pile up behind the first.
        let writer = LogWriter::new(2, Duration::from_secs(5), move |_| {
            drop(blocker.lock().unwrap());
        });
        for _ in 0..10 {
            LineWriter(&writer).write_all(b"x\n").unwrap();
        }
        // Two queued, and up to two more taken by the thread before its output blocks.
        assert!((6..=8).contains(&writer.dropped()), "{}", writer.dropped());
        drop(held);
        writer.close(Duration::from_secs(5));
        assert!(!thread_runs(&writer));
    }

    #[test]
    fn close_writes_what_is_queued_and_drops_later_lines() {
        let (writer, out) = collecting(16, Duration::from_secs(5));
        LineWriter(&writer).write_all(b"before\n").unwrap();
        writer.close(Duration::from_secs(5));
        assert_eq!(out.lock().unwrap().as_slice(), b"before\n");
        LineWriter(&writer).write_all(b"after\n").unwrap();
        assert_eq!(writer.dropped(), 1);
        assert_eq!(out.lock().unwrap().as_slice(), b"before\n");
    }
}
