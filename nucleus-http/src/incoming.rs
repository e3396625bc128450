//! The request body channel between a connection task and whoever consumes the body.
//!
//! One slot, no queue: the connection reads from the socket only after the consumer has
//! polled and found the slot empty ("want"). That is the whole backpressure mechanism: a
//! handler that never reads its body never causes a read beyond what the head arrived with.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};

use crate::error::{Error, Kind};

/// Creates a connected pair. `len` is the declared length, when the framing says it.
pub(crate) fn channel(len: Option<u64>) -> (Sender, Incoming) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
    });
    (
        Sender {
            shared: shared.clone(),
            done: false,
        },
        Incoming {
            shared,
            remaining: len,
        },
    )
}

struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    slot: Option<Result<Frame<Bytes>, Error>>,
    finished: bool,
    wanted: bool,
    receiver_gone: bool,
    receiver: Option<Waker>,
    sender: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The critical sections cannot panic, so poisoning carries no information here.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The connection's end.
pub(crate) struct Sender {
    shared: Arc<Shared>,
    done: bool,
}

impl Sender {
    /// Whether the consumer's end is gone, so that [`Sender::reuse`] will succeed. Once true
    /// it stays true: this end then holds the only reference, and nobody can clone it.
    pub(crate) fn reusable(&self) -> bool {
        Arc::strong_count(&self.shared) == 1
    }

    /// A fresh channel on this sender's allocation, when the consumer's end of the old one is
    /// gone (nobody else holds the shared state): the body of the connection's next request
    /// then costs no allocation. `None` while the old body is still held somewhere.
    pub(crate) fn reuse(&mut self, len: Option<u64>) -> Option<Incoming> {
        let state = Arc::get_mut(&mut self.shared)?
            .state
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        *state = State::default();
        self.done = false;
        Some(Incoming {
            shared: self.shared.clone(),
            remaining: len,
        })
    }

    /// Whether the consumer is waiting for data. Registers the connection's waker otherwise.
    pub(crate) fn poll_want(&mut self, cx: &mut Context<'_>) -> Want {
        let mut state = self.shared.lock();
        if state.receiver_gone {
            return Want::Gone;
        }
        if state.wanted && state.slot.is_none() {
            return Want::Yes;
        }
        match &state.sender {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.sender = Some(cx.waker().clone()),
        }
        Want::No
    }

    /// Whether the consumer has asked for data at least once (for `Expect: 100-continue`).
    pub(crate) fn is_wanted(&self) -> bool {
        let state = self.shared.lock();
        state.wanted || state.receiver_gone
    }

    pub(crate) fn send_data(&mut self, data: Bytes, cx: &Context<'_>) {
        self.put(Ok(Frame::data(data)), false, cx);
    }

    /// The last bytes of the body and its end, in one step.
    pub(crate) fn send_last_data(&mut self, data: Bytes, cx: &Context<'_>) {
        self.put(Ok(Frame::data(data)), true, cx);
    }

    pub(crate) fn send_trailers(&mut self, trailers: HeaderMap, cx: &Context<'_>) {
        self.put(Ok(Frame::trailers(trailers)), true, cx);
    }

    pub(crate) fn send_error(&mut self, err: Error, cx: &Context<'_>) {
        self.put(Err(err), true, cx);
    }

    pub(crate) fn finish(&mut self, cx: &Context<'_>) {
        let mut state = self.shared.lock();
        state.finished = true;
        self.done = true;
        wake_other(&mut state.receiver, cx);
    }

    /// Whether the consumer has asked for bytes that have not come yet.
    pub(crate) fn wants(&self) -> bool {
        let state = self.shared.lock();
        state.wanted && state.slot.is_none() && !state.receiver_gone
    }

    /// Called from the connection's task, polled with `cx`.
    fn put(&mut self, item: Result<Frame<Bytes>, Error>, last: bool, cx: &Context<'_>) {
        let mut state = self.shared.lock();
        state.slot = Some(item);
        state.wanted = false;
        if last {
            state.finished = true;
            self.done = true;
        }
        wake_other(&mut state.receiver, cx);
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if !self.done {
            let mut state = self.shared.lock();
            if state.slot.is_none() {
                state.slot = Some(Err(Error::new(Kind::Incomplete)));
            }
            state.finished = true;
            wake(&mut state.receiver);
        }
    }
}

pub(crate) enum Want {
    Yes,
    No,
    Gone,
}

/// The consumer's end, inside [`crate::Body`].
pub(crate) struct Incoming {
    shared: Arc<Shared>,
    remaining: Option<u64>,
}

impl Incoming {
    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let mut state = self.shared.lock();
        if let Some(item) = state.slot.take() {
            if let (Ok(frame), Some(rem)) = (&item, self.remaining.as_mut()) {
                if let Some(data) = frame.data_ref() {
                    *rem = rem.saturating_sub(data.len() as u64);
                }
            }
            return Poll::Ready(Some(item));
        }
        if state.finished {
            return Poll::Ready(None);
        }
        state.wanted = true;
        match &state.receiver {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.receiver = Some(cx.waker().clone()),
        }
        wake_other(&mut state.sender, cx);
        Poll::Pending
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.remaining == Some(0) && {
            let state = self.shared.lock();
            state.slot.is_none()
        }
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        // A finished sender has nothing left to discard: no need to wake it.
        if !state.finished {
            wake(&mut state.sender);
        }
    }
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(w) = waker.take() {
        w.wake();
    }
}

/// Wakes `waker` unless it is the task polled with `cx`, which is running and acts on the
/// change itself. Both ends usually live in the connection's task (a handler reading its
/// body, or a body streamed back as the response): the engine feeds and polls them in turn,
/// and a self-wake would only poll the whole connection once more for nothing (about 700
/// instructions of a 4 KiB echo).
fn wake_other(waker: &mut Option<Waker>, cx: &Context<'_>) {
    if let Some(w) = waker.take() {
        if !w.will_wake(cx.waker()) {
            w.wake();
        }
    }
}
