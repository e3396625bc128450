//! The housekeeping of a server with one worker, done on the worker itself: the connections'
//! clock (timeouts, idle shrinking), the published second of the `Date` header, and a look at
//! the watched certificate files.
//!
//! Elsewhere helper threads do this (the sweeper in `lifecycle`, the clock in `date`, the
//! certificate watcher in `watch`).
//! With one worker they would be the only other threads of the process, and Linux makes every
//! system call on a file descriptor of a multi-threaded process take and drop a reference to
//! the file (the single-threaded fast path of `fdget` skips it): about 30 ns for each `recv`,
//! `send` and `epoll_wait`, 1 % of a keep-alive request (docs/PERFORMANCE.md, tenth session).
//!
//! The tick comes from a `timerfd` in the worker's epoll set rather than a tokio timer: a
//! pending tokio timer makes every park of the runtime walk its timer wheel, about 200
//! instructions per request with one connection, while the `timerfd` costs nothing between
//! its four wake-ups a second.

use std::io;
use std::sync::Arc;

use super::cert_watch::Watches;
use super::lifecycle::Registry;

/// Housekeeping for one worker's registry, on that worker.
#[derive(Debug)]
pub(super) struct Housekeeping {
    #[cfg(target_os = "linux")]
    timer: linux::Timer,
    /// Publishing from the start, before the first request needs a `Date`: otherwise that
    /// request would find no second and start the clock thread.
    #[cfg(target_os = "linux")]
    clock: crate::date::SecondPublisher,
}

impl Housekeeping {
    /// The timer, or an error where there is none (not Linux, or `timerfd_create` failed):
    /// the caller then leaves the work to the helper threads.
    pub(super) fn new() -> io::Result<Housekeeping> {
        #[cfg(target_os = "linux")]
        {
            Ok(Housekeeping {
                timer: linux::Timer::new()?,
                clock: crate::date::SecondPublisher::new(),
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(io::ErrorKind::Unsupported.into())
        }
    }

    /// Ticks `registry`, publishes the second and looks at the watched certificate files,
    /// until dropped (when the worker's runtime ends).
    pub(super) async fn run(self, registry: Arc<Registry>, watches: Watches) {
        #[cfg(target_os = "linux")]
        {
            self.timer.run(&registry, &self.clock, &watches).await;
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (registry, watches);
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::OwnedFd;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use rustix::time::{
        timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags,
        TimerfdTimerFlags, Timespec,
    };
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    use super::super::cert_watch::Watches;
    use super::super::lifecycle::{Registry, TICK};
    use crate::date::SecondPublisher;

    /// At most this many ticks are made up at once after the worker was held up, so that a
    /// stalled worker does not spend its first moments walking its registry over and over;
    /// the deadlines it missed still pass on the first.
    const MAX_CATCH_UP: u32 = 8;

    /// Wakes the worker a moment after each quarter of a wall-clock second.
    #[derive(Debug)]
    pub(super) struct Timer {
        fd: AsyncFd<OwnedFd>,
    }

    /// The timer in the worker's reactor.
    #[allow(unsafe_code)]
    fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
        // SAFETY: `register_with_interest` needs the descriptor to stay open, and to stay the
        // same, for as long as the `AsyncFd` lives. The `OwnedFd` is moved into it: nothing else
        // can close it, it closes only when the `AsyncFd` drops it, and its `as_raw_fd` never
        // changes. (tests/lifecycle.rs exercises this timer: a one-worker server's timeouts.)
        // Readable only: a timerfd never becomes writable.
        unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(io::Error::from)
    }

    impl Timer {
        pub(super) fn new() -> io::Result<Timer> {
            let fd = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )?;
            let timer = Timer { fd: register(fd)? };
            timer.arm()?;
            Ok(timer)
        }

        /// One shot, re-armed after each wake-up from the wall clock: a monotonic timer keeps
        /// ticking when the wall clock is set back, and re-arming keeps the ticks on the
        /// second's boundaries, where `Date` changes.
        fn arm(&self) -> io::Result<()> {
            let since_epoch = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let tick = TICK.as_nanos();
            let into_tick = since_epoch.as_nanos() % tick;
            // A millisecond past the boundary, so that the clock reads the new second.
            let wait =
                Duration::from_nanos(u64::try_from(tick - into_tick).unwrap_or(0) + 1_000_000);
            let spec = Itimerspec {
                it_interval: Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: Timespec {
                    tv_sec: i64::try_from(wait.as_secs()).unwrap_or(0),
                    tv_nsec: i64::from(wait.subsec_nanos()),
                },
            };
            timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
            Ok(())
        }

        pub(super) async fn run(
            &self,
            registry: &Registry,
            clock: &SecondPublisher,
            watches: &Watches,
        ) {
            let mut last = Instant::now();
            loop {
                let Ok(mut ready) = self.fd.readable().await else {
                    break;
                };
                let mut expirations = [0u8; 8];
                match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut expirations)?)) {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => {
                        tracing::error!(error = %err, "housekeeping timer failed; timeouts are off");
                        break;
                    }
                    // Spurious readiness: wait again.
                    Err(_would_block) => continue,
                }
                clock.publish();
                let now = Instant::now();
                let elapsed = now.duration_since(last);
                let ticks = (elapsed.as_nanos() / TICK.as_nanos()).max(1);
                let ticks = u32::try_from(ticks).unwrap_or(u32::MAX).min(MAX_CATCH_UP);
                // What was not made up is dropped, not carried: the clock runs late instead.
                last = now;
                for _ in 0..ticks {
                    registry.tick();
                }
                watches.look_from_worker();
                if let Err(err) = self.arm() {
                    tracing::error!(error = %err, "housekeeping timer failed; timeouts are off");
                    break;
                }
            }
        }
    }
}
