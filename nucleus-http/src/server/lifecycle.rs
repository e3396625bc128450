//! State shared by the server, its workers and every connection: readiness, draining, and a
//! per-worker registry through which coarse timeouts, shutdown and connection pressure reach
//! connections that are waiting on the socket.
//!
//! Why a registry rather than a tokio `Sleep` and a `Notify` per connection: re-arming a timer
//! and registering with a `Notify` on every keep-alive request cost ~1,400 instructions per
//! request (a third of the whole request) in callgrind. Here a waiting connection stores a
//! deadline in an atomic and registers its waker; a sweep four times a second wakes those whose
//! deadline passed (the shared sweeper thread, or a one-worker server's own housekeeping:
//! `housekeeping.rs`). Timeouts are therefore accurate to about a quarter of a second.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError, Weak};
use std::task::Context;
use std::time::Duration;

use futures_util::task::AtomicWaker;

/// How often the sweep runs; the resolution of header, idle and drain timeouts.
pub(crate) const TICK: Duration = Duration::from_millis(250);

/// Server-wide flags.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    ready: AtomicBool,
    draining: AtomicBool,
    /// Accept loops waiting for a connection slot: idle connections should make room.
    pressure: AtomicUsize,
    /// Every worker's registry, so pressure on one worker can free a slot held by another.
    registries: Mutex<Vec<Arc<Registry>>>,
}

impl Lifecycle {
    pub(crate) fn new(ready: bool) -> Arc<Lifecycle> {
        Arc::new(Lifecycle {
            ready: AtomicBool::new(ready),
            draining: AtomicBool::new(false),
            pressure: AtomicUsize::new(0),
            registries: Mutex::new(Vec::new()),
        })
    }

    /// A new worker registry, known to the server for pressure relief, ticked by the shared
    /// sweeper thread.
    pub(crate) fn add_registry(&self) -> Arc<Registry> {
        self.known(Registry::new())
    }

    /// As [`Lifecycle::add_registry`], for a worker that calls [`Registry::tick`] itself.
    pub(crate) fn add_own_registry(&self) -> Arc<Registry> {
        self.known(Arc::default())
    }

    fn known(&self, registry: Arc<Registry>) -> Arc<Registry> {
        self.registries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(registry.clone());
        registry
    }

    /// Whether an accept loop is waiting for a slot.
    pub(crate) fn under_pressure(&self) -> bool {
        self.pressure.load(Ordering::Relaxed) > 0
    }

    /// Marks an accept loop as waiting for a slot (until the guard drops) and asks the
    /// longest-idle connection of any worker to close.
    pub(crate) fn press(self: &Arc<Self>) -> PressureGuard {
        self.pressure.fetch_add(1, Ordering::AcqRel);
        self.release_oldest_idle();
        PressureGuard {
            lifecycle: self.clone(),
        }
    }

    /// Asks the longest-idle connection of any worker to close, if one is idle.
    pub(crate) fn release_oldest_idle(&self) {
        let registries = self
            .registries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let oldest = registries
            .iter()
            .filter_map(|r| r.oldest_idle())
            .min_by_key(|(since, _)| *since);
        if let Some((_, signal)) = oldest {
            signal.release();
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.is_draining()
    }

    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub(crate) fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }
}

/// Ends one accept loop's wait for a slot.
#[derive(Debug)]
pub(crate) struct PressureGuard {
    lifecycle: Arc<Lifecycle>,
}

impl Drop for PressureGuard {
    fn drop(&mut self) {
        self.lifecycle.pressure.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a connection needs from the worker that runs it.
#[derive(Debug, Clone)]
pub(crate) struct ConnContext {
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) registry: Arc<Registry>,
}

impl ConnContext {
    /// A context for a connection served outside a [`crate::Server`]: always ready, never
    /// drains, with a registry of its own on the sweeper thread.
    pub(crate) fn standalone() -> ConnContext {
        ConnContext {
            lifecycle: Lifecycle::new(true),
            registry: Registry::new(),
        }
    }
}

/// Deadline value meaning "the sweep found it passed".
const EXPIRED: u64 = u64::MAX;
/// Deadline value meaning "none".
const NONE: u64 = 0;

/// The connections of one worker.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Ticks of [`TICK`] since the registry started; the connections' clock.
    now: AtomicU64,
    connections: Mutex<Vec<Weak<ConnSignal>>>,
}

/// What the sweep or the server has to say to a waiting connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Its deadline passed.
    Expired,
    /// Shutdown or connection pressure: an idle connection should close.
    Released,
    /// Idle for [`SHRINK_AFTER`]: it should give its buffers back until bytes arrive.
    Shrink,
}

/// How long a connection idles before it is asked to free its buffers, in ticks (1 s).
/// Long enough that a busy keep-alive connection never pays to reallocate them; short
/// enough that 10,000 idle ones cost little more than their sockets.
const SHRINK_AFTER: u64 = 4;

/// Ticks a connection that has not sent a byte is spared by connection pressure (1 s).
const FRESH_GRACE: u64 = 4;

/// `ConnSignal::shrink` states.
const SHRINK_NO: u8 = 0;
const SHRINK_ASKED: u8 = 1;
const SHRINK_DONE: u8 = 2;

impl Registry {
    /// Adds a connection; it leaves the registry when its signal is dropped.
    pub(crate) fn register(&self) -> Arc<ConnSignal> {
        let signal = Arc::new(ConnSignal {
            waker: AtomicWaker::new(),
            deadline: AtomicU64::new(NONE),
            idle_since: AtomicU64::new(NONE),
            release: AtomicBool::new(false),
            shrink: AtomicU8::new(SHRINK_NO),
        });
        self.lock().push(Arc::downgrade(&signal));
        signal
    }

    /// The deadline `timeout` from now, in ticks, rounded up.
    pub(crate) fn deadline_after(&self, timeout: Duration) -> u64 {
        let ticks = timeout.as_nanos().div_ceil(TICK.as_nanos()).max(1);
        let ticks = u64::try_from(ticks).unwrap_or(u64::MAX / 2);
        self.now
            .load(Ordering::Relaxed)
            .saturating_add(ticks)
            .saturating_add(1)
            .min(EXPIRED - 1)
    }

    /// Advances the connections' clock by one [`TICK`], wakes every connection whose deadline
    /// has passed, and forgets closed ones.
    pub(crate) fn tick(&self) {
        let now = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().retain(|weak| {
            let Some(signal) = weak.upgrade() else {
                return false;
            };
            let deadline = signal.deadline.load(Ordering::Acquire);
            if deadline != NONE
                && deadline != EXPIRED
                && deadline <= now
                && signal
                    .deadline
                    .compare_exchange(deadline, EXPIRED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                signal.waker.wake();
            }
            let since = signal.idle_since.load(Ordering::Acquire);
            if since != NONE
                && now.saturating_sub(since) >= SHRINK_AFTER
                && signal
                    .shrink
                    .compare_exchange(SHRINK_NO, SHRINK_ASKED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                signal.waker.wake();
            }
            true
        });
    }

    /// Asks every idle connection to close now, and every other one to close when idle.
    pub(crate) fn release_all(&self) {
        for signal in self.lock().iter().filter_map(Weak::upgrade) {
            signal.release();
        }
    }

    /// The longest-idle connection and when it went idle, if any is idle. A connection whose
    /// idle mark lies in the future (one that has not sent a byte yet, within its grace, see
    /// `fresh_since`) is not taken.
    fn oldest_idle(&self) -> Option<(u64, Arc<ConnSignal>)> {
        let now = self.now();
        self.lock()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|s| !s.is_released())
            .filter_map(|s| {
                let since = s.idle_since.load(Ordering::Acquire);
                (since != NONE && since <= now).then_some((since, s))
            })
            .min_by_key(|(since, _)| *since)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<ConnSignal>>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Every live registry, for the sweeper thread.
static REGISTRIES: Mutex<Vec<Weak<Registry>>> = Mutex::new(Vec::new());
static SWEEPER: Once = Once::new();

impl Registry {
    /// A registry whose clock the shared sweeper thread runs until the registry is dropped.
    ///
    /// A plain thread rather than a tokio interval in each worker: a pending tokio timer makes
    /// every runtime park walk the timer wheel (~200 instructions per request in callgrind),
    /// while this thread costs the workers nothing until a deadline actually passes.
    pub(crate) fn new() -> Arc<Registry> {
        let registry = Arc::new(Registry::default());
        REGISTRIES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&registry));
        SWEEPER.call_once(|| {
            let spawned = std::thread::Builder::new().name("nucleus-timer".into()).spawn(sweep_forever);
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start the timer thread; coarse timeouts are off");
            }
        });
        registry
    }
}

fn sweep_forever() {
    loop {
        std::thread::sleep(TICK);
        let live: Vec<Arc<Registry>> = {
            let mut registries = REGISTRIES.lock().unwrap_or_else(PoisonError::into_inner);
            registries.retain(|r| r.strong_count() > 0);
            registries.iter().filter_map(Weak::upgrade).collect()
        };
        for registry in live {
            registry.tick();
        }
    }
}

/// One connection's mailbox.
#[derive(Debug)]
pub(crate) struct ConnSignal {
    waker: AtomicWaker,
    deadline: AtomicU64,
    /// The tick the connection went idle, or 0 while busy.
    idle_since: AtomicU64,
    release: AtomicBool,
    /// `SHRINK_NO`, `SHRINK_ASKED` by the sweep, `SHRINK_DONE` once the buffers are gone.
    shrink: AtomicU8,
}

impl ConnSignal {
    /// Sets (or clears) the deadline, in registry ticks; forgets an earlier expiry.
    pub(crate) fn set_deadline(&self, deadline: Option<u64>) {
        self.deadline
            .store(deadline.unwrap_or(NONE), Ordering::Release);
    }

    pub(crate) fn set_idle(&self, since: Option<u64>) {
        self.idle_since
            .store(since.unwrap_or(NONE), Ordering::Release);
    }

    fn release(&self) {
        self.release.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Whether the server asked this connection to close when idle.
    pub(crate) fn is_released(&self) -> bool {
        self.release.load(Ordering::Acquire)
    }

    /// A signal, if one arrived; registers the waker otherwise.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Option<Signal> {
        self.waker.register(cx.waker());
        if self.deadline.load(Ordering::Acquire) == EXPIRED {
            return Some(Signal::Expired);
        }
        if self.release.load(Ordering::Acquire) {
            return Some(Signal::Released);
        }
        if self.shrink.load(Ordering::Acquire) == SHRINK_ASKED {
            return Some(Signal::Shrink);
        }
        None
    }

    /// The connection freed its buffers; it is not asked again until it grows them back.
    pub(crate) fn set_shrunk(&self, shrunk: bool) {
        let state = if shrunk { SHRINK_DONE } else { SHRINK_NO };
        self.shrink.store(state, Ordering::Release);
    }
}

impl Registry {
    /// The current tick (for `idle_since`).
    pub(crate) fn now(&self) -> u64 {
        self.now.load(Ordering::Relaxed).max(1)
    }

    /// The idle mark of a connection that has not sent a byte yet: pressure may take it back
    /// only after `FRESH_GRACE`, since its client has only just connected and its first
    /// request is likely on the way; a drain takes it at once.
    pub(crate) fn fresh_since(&self) -> u64 {
        self.now().saturating_add(FRESH_GRACE)
    }
}

/// The built-in liveness and readiness answers, which never reach the service; the same for
/// every protocol.
pub(crate) fn health_answer(
    config: &crate::Config,
    lifecycle: &Lifecycle,
    method: &http::Method,
    path: &str,
) -> Option<(http::StatusCode, &'static str)> {
    use http::{Method, StatusCode};
    // The path first: it rules out almost every request in a length compare.
    let answer = if config.liveness_path.as_deref() == Some(path) {
        (StatusCode::OK, "ok\n")
    } else if config.readiness_path.as_deref() == Some(path) {
        if lifecycle.is_ready() {
            (StatusCode::OK, "ready\n")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        }
    } else {
        return None;
    };
    (method == Method::GET || method == Method::HEAD).then_some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_deadline_expires_once_and_a_new_one_replaces_it() {
        let registry = Registry::default();
        let signal = registry.register();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        signal.set_deadline(Some(registry.deadline_after(TICK)));
        assert_eq!(signal.poll(&mut cx), None);
        registry.tick();
        assert_eq!(signal.poll(&mut cx), None, "rounded up: not yet");
        registry.tick();
        assert_eq!(signal.poll(&mut cx), Some(Signal::Expired));
        signal.set_deadline(Some(registry.deadline_after(Duration::from_secs(10))));
        assert_eq!(signal.poll(&mut cx), None);
    }

    #[test]
    fn pressure_releases_the_longest_idle_connection_of_any_worker() {
        let lifecycle = Lifecycle::new(true);
        let (one, two) = (lifecycle.add_registry(), lifecycle.add_registry());
        let (a, b, busy) = (one.register(), two.register(), two.register());
        for _ in 0..6 {
            one.tick();
            two.tick();
        }
        // Silent since it connected, and within its grace: not taken.
        let fresh = one.register();
        fresh.set_idle(Some(one.fresh_since()));
        a.set_idle(Some(5));
        b.set_idle(Some(3));
        let guard = lifecycle.press();
        assert!(lifecycle.under_pressure());
        assert!(b.is_released() && !a.is_released() && !busy.is_released());
        assert!(!fresh.is_released());
        // Past its grace, a connection that never spoke is taken like an idle one.
        for _ in 0..super::FRESH_GRACE {
            one.tick();
        }
        lifecycle.release_oldest_idle();
        assert!(a.is_released() && !fresh.is_released(), "a went idle first");
        lifecycle.release_oldest_idle();
        assert!(fresh.is_released());
        drop(guard);
        assert!(!lifecycle.under_pressure());
        drop((a, b, fresh));
        two.tick();
        assert_eq!(two.lock().len(), 1, "closed connections are forgotten");
    }
}
