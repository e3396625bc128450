//! Deadlines and minimum-rate guards for one connection.
//!
//! One `Sleep` per purpose, allocated once per connection and re-armed with `reset`: pushing a
//! deadline later only updates the timer entry, so re-arming per request costs a clock read,
//! not a timer-wheel insertion.

use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::MinRate;

/// A re-armable deadline.
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl Deadline {
    pub(crate) fn arm(&mut self, at: Instant) {
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
        }
        self.armed = true;
    }

    pub(crate) fn disarm(&mut self) {
        // The timer entry stays registered until it fires; a spurious wake-up is cheaper than
        // deregistering and registering again on every request.
        self.armed = false;
    }

    /// Whether the armed deadline has passed; registers the waker otherwise.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        match (&mut self.sleep, self.armed) {
            (Some(sleep), true) => sleep.as_mut().poll(cx).is_ready(),
            _ => false,
        }
    }
}

use std::future::Future as _;

/// Enforces a [`MinRate`] over the time spent waiting on the peer. Time spent elsewhere (the
/// handler thinking, the body not being wanted) does not count against the peer.
#[derive(Debug)]
pub(crate) struct RateGuard {
    rate: MinRate,
    /// Waiting time accumulated in the current window.
    waited: Duration,
    /// Bytes moved in the current window.
    bytes: u64,
    waiting_since: Option<Instant>,
}

/// The peer moved fewer bytes than the minimum rate allows.
#[derive(Debug)]
pub(crate) struct TooSlow;

impl RateGuard {
    pub(crate) fn new(rate: MinRate) -> RateGuard {
        RateGuard {
            rate,
            waited: Duration::ZERO,
            bytes: 0,
            waiting_since: None,
        }
    }

    /// No window is open: nothing to account for (the hot path, where the peer keeps up).
    pub(crate) fn is_quiet(&self) -> bool {
        self.waiting_since.is_none() && self.waited.is_zero()
    }

    /// The engine starts waiting on the peer; arms `deadline` for the end of the window.
    pub(crate) fn start_waiting(&mut self, deadline: &mut Deadline) {
        if self.waiting_since.is_none() {
            let now = Instant::now();
            self.waiting_since = Some(now);
            deadline.arm(now + self.rate.window.saturating_sub(self.waited));
        }
    }

    /// Bytes moved; ends the wait and judges the window if it is over.
    pub(crate) fn progress(&mut self, bytes: u64, deadline: &mut Deadline) -> Result<(), TooSlow> {
        self.bytes += bytes;
        self.stop_waiting(deadline)
    }

    /// The deadline fired: the window is over.
    pub(crate) fn expired(&mut self, deadline: &mut Deadline) -> Result<(), TooSlow> {
        self.stop_waiting(deadline)
    }

    fn stop_waiting(&mut self, deadline: &mut Deadline) -> Result<(), TooSlow> {
        if let Some(since) = self.waiting_since.take() {
            self.waited += since.elapsed();
            deadline.disarm();
        }
        if self.waited >= self.rate.window {
            if self.bytes < self.rate.bytes_per_window() {
                return Err(TooSlow);
            }
            self.waited = Duration::ZERO;
            self.bytes = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate() -> MinRate {
        MinRate {
            bytes_per_second: 100,
            window: Duration::from_millis(50),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_without_enough_bytes_is_too_slow() {
        let mut guard = RateGuard::new(rate());
        let mut deadline = Deadline::default();
        guard.start_waiting(&mut deadline);
        tokio::time::advance(Duration::from_millis(60)).await;
        assert!(guard.progress(1, &mut deadline).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn enough_bytes_open_a_new_window() {
        let mut guard = RateGuard::new(rate());
        let mut deadline = Deadline::default();
        guard.start_waiting(&mut deadline);
        tokio::time::advance(Duration::from_millis(60)).await;
        assert!(guard.progress(10, &mut deadline).is_ok());
        guard.start_waiting(&mut deadline);
        tokio::time::advance(Duration::from_millis(60)).await;
        assert!(
            guard.expired(&mut deadline).is_err(),
            "the new window got no bytes"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn time_not_spent_waiting_is_not_counted() {
        let mut guard = RateGuard::new(rate());
        let mut deadline = Deadline::default();
        guard.start_waiting(&mut deadline);
        tokio::time::advance(Duration::from_millis(30)).await;
        assert!(guard.progress(0, &mut deadline).is_ok());
        // The handler is busy for a long time: not the peer's fault.
        tokio::time::advance(Duration::from_secs(5)).await;
        guard.start_waiting(&mut deadline);
        tokio::time::advance(Duration::from_millis(10)).await;
        assert!(
            guard.progress(0, &mut deadline).is_ok(),
            "only 40 ms of waiting so far"
        );
    }
}
