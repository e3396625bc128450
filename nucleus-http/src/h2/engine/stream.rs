//! One stream's share of the connection state: its two flow-control windows, the request body
//! bytes waiting for the handler, the response bytes waiting for window, and the wakers of
//! the handles that wait on either.

use std::collections::VecDeque;
use std::task::Waker;

use bytes::Bytes;
use http::HeaderMap;

use crate::h2::frame::Reason;

#[derive(Debug)]
pub(super) struct Stream {
    pub(super) id: u32,
    /// Handles of the sending side alive (the responder, then its body sender). A new
    /// stream starts with the responder's, counted before the server takes it.
    pub(super) send_refs: u8,
    /// The request body handle is alive.
    pub(super) recv_ref: bool,
    /// The stream is closed: ended both ways, or reset by either side. A closed stream no
    /// longer counts against `max_concurrent_streams`; its entry stays while handles live.
    pub(super) closed: bool,
    /// Reset by the peer (or gone with the connection): the handles see `Gone`.
    pub(super) reset: Option<Reason>,
    pub(super) reset_waker: Option<Waker>,

    // Receiving: the request body.
    /// `END_STREAM` received.
    pub(super) recv_end: bool,
    pub(super) recv_queue: VecDeque<Bytes>,
    /// Bytes in `recv_queue`, given back to the connection window if nobody reads them.
    pub(super) recv_buffered: usize,
    /// Boxed, as trailers are rare: the entry stays small to move in and out of the slab.
    pub(super) recv_trailers: Option<Box<HeaderMap>>,
    /// What the peer may still send on this stream.
    pub(super) recv_window: i64,
    /// Taken by the handler and not yet announced with `WINDOW_UPDATE`.
    pub(super) recv_released: u32,
    pub(super) recv_waker: Option<Waker>,
    /// The request's `content-length`, which the DATA frames must add up to (RFC 9113 §8.1.1).
    pub(super) declared: Option<u64>,
    pub(super) received: u64,
    /// `Expect: 100-continue` and neither the `100` nor the response has gone out: the
    /// first read of the body that has to wait sends the `100` (as on HTTP/1.1).
    pub(super) expect_continue: bool,

    // Sending: the response.
    /// What we may still send on this stream (the peer's window; may go negative when the
    /// peer shrinks its initial window).
    pub(super) send_window: i64,
    /// `END_STREAM` sent (or queued to be sent once `pending` drains).
    pub(super) send_end: bool,
    /// Body bytes waiting for window, and whether the last of them ends the stream.
    pub(super) pending: VecDeque<(Bytes, bool)>,
    pub(super) pending_len: usize,
    /// Trailers to send once `pending` drains.
    pub(super) pending_trailers: Option<Box<HeaderMap>>,
    pub(super) send_waker: Option<Waker>,
}

impl Stream {
    pub(super) fn new(id: u32, recv_window: u32, send_window: i64, end_stream: bool) -> Stream {
        Stream {
            id,
            send_refs: 1,
            recv_ref: true,
            closed: false,
            reset: None,
            reset_waker: None,
            recv_end: end_stream,
            recv_queue: VecDeque::new(),
            recv_buffered: 0,
            recv_trailers: None,
            recv_window: i64::from(recv_window),
            recv_released: 0,
            recv_waker: None,
            declared: None,
            received: 0,
            expect_continue: false,
            send_window,
            send_end: false,
            pending: VecDeque::new(),
            pending_len: 0,
            pending_trailers: None,
            send_waker: None,
        }
    }

    /// The response went out whole (nothing of it waits for window).
    pub(super) fn sent(&self) -> bool {
        self.send_end && self.pending.is_empty() && self.pending_trailers.is_none()
    }

    /// Both ways done: the request ended and the response went out whole.
    pub(super) fn finished(&self) -> bool {
        self.recv_end && self.sent()
    }

    /// Wakes every handle waiting on this stream (it was reset, or the connection is gone).
    pub(super) fn wake_all(&mut self) {
        for waker in [
            self.reset_waker.take(),
            self.recv_waker.take(),
            self.send_waker.take(),
        ]
        .into_iter()
        .flatten()
        {
            waker.wake();
        }
    }

    pub(super) fn wake_recv(&mut self) {
        if let Some(waker) = self.recv_waker.take() {
            waker.wake();
        }
    }

    pub(super) fn wake_send(&mut self) {
        if let Some(waker) = self.send_waker.take() {
            waker.wake();
        }
    }
}

/// Stores `waker` unless the one already stored would wake the same task.
pub(super) fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}
