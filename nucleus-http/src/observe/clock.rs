//! The clock request durations are read from.
//!
//! `quanta`'s global `Instant::now` checks a thread-local test override and scales the
//! time-stamp counter to nanoseconds at every reading: about 45 instructions, twice a request.
//! A [`Stamp`] is the raw counter (one `rdtsc` where the TSC is invariant, the OS monotonic
//! clock otherwise), scaled only when a duration is taken.

use std::sync::OnceLock;
use std::time::Duration;

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Calibrates the clock (a few milliseconds, once), so that the first request does not.
pub(crate) fn start() {
    let _ = clock();
}

/// The calibrated clock, fetched once (per connection, say) so that each reading skips the
/// check that it was set up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(&'static quanta::Clock);

impl Clock {
    pub(crate) fn get() -> Clock {
        Clock(clock())
    }

    pub(crate) fn now(self) -> Stamp {
        Stamp(self.0.raw())
    }

    /// The time from `earlier` to `later`; zero if `later` is not after it.
    pub(crate) fn between(self, earlier: Stamp, later: Stamp) -> Duration {
        self.0.delta(earlier.0, later.0)
    }
}

/// A reading of the request clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp(u64);

impl Stamp {
    pub(crate) fn now() -> Stamp {
        Clock::get().now()
    }

    /// The time from this reading to `later`; zero if `later` is not after it (readings on
    /// two cores whose counters disagree).
    pub(crate) fn until(self, later: Stamp) -> Duration {
        Clock::get().between(self, later)
    }

    pub(crate) fn elapsed(self) -> Duration {
        self.until(Stamp::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_the_wall_clock() {
        let start = Stamp::now();
        std::thread::sleep(Duration::from_millis(20));
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(15), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        assert_eq!(Stamp::now().until(start), Duration::ZERO);
        let clock = Clock::get();
        let (a, b) = (clock.now(), clock.now());
        assert_eq!(clock.between(b, a), Duration::ZERO);
        assert!(clock.between(start, b) >= elapsed);
    }
}
