//! Where lines go: a buffer per worker thread, drained by one writer thread.
//!
//! A worker appends a line to its own buffer under a lock nobody else takes except the
//! writer thread, for the instant of a swap, every [`FLUSH_INTERVAL`]. (Threads beyond
//! [`BUFFERS`] share buffers, which the lock makes safe.) A full buffer drops the
//! line and counts it: a slow disk or a blocked stdout pipe costs lines, never a stalled
//! request. The writer thread owns the file, so reopening it (logrotate's `SIGUSR1`) needs no
//! coordination with the workers.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::Duration;

use super::format::LineCache;

/// How long a line may wait in a worker's buffer before the writer thread takes it.
pub(super) const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// A drained buffer larger than this that was less than a quarter full is halved.
const SHRINK_ABOVE: usize = 64 * 1024;

/// Where the access log is written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// Standard output (the default, as for a container's log collector).
    Stdout,
    /// Standard error.
    Stderr,
    /// A file, opened for appending and reopened on [`AccessLog::reopen`](super::AccessLog::reopen).
    File(PathBuf),
}

/// How many buffers the worker threads spread over.
const BUFFERS: usize = 64;

/// One worker's lines waiting for the writer thread, and what its next line can reuse of the
/// last one.
pub(super) struct Lines {
    pub(super) bytes: Vec<u8>,
    pub(super) cache: LineCache,
}

/// A buffer on cache lines of its own, so that two workers appending never contend for one.
/// `parking_lot`'s lock: the standard one checks for a panic in progress at both ends, twice
/// a line for bytes that stay usable after a panic anyway.
#[repr(align(128))]
struct Buffer(parking_lot::Mutex<Lines>);

pub(super) struct Shared {
    buffers: Box<[Buffer]>,
    /// The bytes each buffer gets back at the next drain, same order as `buffers`.
    spares: Mutex<Vec<Vec<u8>>>,
    /// Most bytes one worker's buffer holds between two drains.
    limit: usize,
    dropped: AtomicU64,
    reopen: AtomicBool,
    /// Serialises drains (the writer thread's and an explicit flush) and owns the output.
    output: Mutex<Output>,
    wake: Condvar,
    woken: Mutex<bool>,
}

pub(super) enum Output {
    Stdout,
    Stderr,
    File { path: PathBuf, file: Option<File> },
}

impl Shared {
    pub(super) fn start(target: Target, limit: usize) -> io::Result<Arc<Shared>> {
        let output = match target {
            Target::Stdout => Output::Stdout,
            Target::Stderr => Output::Stderr,
            Target::File(path) => {
                let file = open(&path)?;
                Output::File {
                    path,
                    file: Some(file),
                }
            }
        };
        let shared = Arc::new(Shared {
            buffers: (0..BUFFERS)
                .map(|_| {
                    Buffer(parking_lot::Mutex::new(Lines {
                        bytes: Vec::new(),
                        cache: LineCache::new(),
                    }))
                })
                .collect(),
            spares: Mutex::new((0..BUFFERS).map(|_| Vec::new()).collect()),
            limit,
            dropped: AtomicU64::new(0),
            reopen: AtomicBool::new(false),
            output: Mutex::new(output),
            wake: Condvar::new(),
            woken: Mutex::new(false),
        });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("nucleus-access-log".into())
            .spawn(move || writer(&weak))?;
        Ok(shared)
    }

    /// Appends one line produced by `write` to this thread's buffer, or drops it when the
    /// buffer is full.
    pub(super) fn append(&self, write: impl FnOnce(&mut Vec<u8>, &mut LineCache)) {
        // This thread's buffer, the same in every access log.
        let index = nucleus_http::internal::thread_number() % BUFFERS;
        let Some(Buffer(buffer)) = self.buffers.get(index) else {
            return;
        };
        let mut lines = buffer.lock();
        let Lines { bytes, cache } = &mut *lines;
        let before = bytes.len();
        write(bytes, cache);
        if bytes.len() > self.limit {
            bytes.truncate(before);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(super) fn request_reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
        *lock(&self.woken) = true;
        self.wake.notify_one();
    }

    /// Writes out everything buffered so far, reopening the file first if asked to.
    pub(super) fn drain(&self) -> io::Result<()> {
        let mut output = lock(&self.output);
        if self.reopen.swap(false, Ordering::Relaxed) {
            if let Output::File { path, file } = &mut *output {
                // Close first: the rotated file must be released even if the new open fails.
                *file = None;
                *file = Some(open(path)?);
            }
        }
        let mut spares = lock(&self.spares);
        for (Buffer(buffer), spare) in self.buffers.iter().zip(spares.iter_mut()) {
            // The worker gets back the bytes drained last time, with their capacity: a fresh
            // buffer would regrow from nothing (and copy itself at every doubling) each interval.
            {
                let mut lines = buffer.lock();
                if lines.bytes.is_empty() {
                    continue;
                }
                std::mem::swap(&mut lines.bytes, spare);
            }
            let written = output.write_all(spare);
            let used = spare.len();
            // Written or not, these lines are done: a worker must not get them back.
            spare.clear();
            // After a burst, give back what a quieter interval does not use.
            if spare.capacity() > SHRINK_ABOVE && used < spare.capacity() / 4 {
                spare.shrink_to(spare.capacity() / 2);
            }
            written?;
        }
        output.flush()
    }
}

impl Output {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout => io::stdout().lock().write_all(bytes),
            Output::Stderr => io::stderr().lock().write_all(bytes),
            Output::File { file: Some(f), .. } => f.write_all(bytes),
            Output::File { file: None, .. } => Ok(()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout => io::stdout().lock().flush(),
            Output::Stderr => io::stderr().lock().flush(),
            Output::File { file: Some(f), .. } => f.flush(),
            Output::File { file: None, .. } => Ok(()),
        }
    }
}

fn open(path: &PathBuf) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these leaves plain bytes behind: still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writer thread: drains every interval (or when woken), until the log is dropped.
fn writer(shared: &Weak<Shared>) {
    let mut reported_drops = 0;
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Err(err) = shared.drain() {
            tracing::warn!(error = %err, "access log write failed; lines may be lost");
        }
        let dropped = shared.dropped();
        if dropped > reported_drops {
            tracing::warn!(
                dropped = dropped - reported_drops,
                "access log lines dropped: the output could not keep up"
            );
            reported_drops = dropped;
        }
        let woken = lock(&shared.woken);
        let (mut woken, _) = shared
            .wake
            .wait_timeout_while(woken, FLUSH_INTERVAL, |w| !*w)
            .unwrap_or_else(PoisonError::into_inner);
        *woken = false;
    }
}
