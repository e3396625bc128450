//! A request body arriving on an HTTP/2 stream.

use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};

use super::backend::RecvData;
use crate::error::{Error, Kind, Timeout};
use crate::observe::{Event, TimeoutKind};
use crate::timer::{Deadline, RateGuard};
use crate::{stats, MinRate};

/// Streams DATA frames to the handler and gives their bytes back to the peer's flow-control
/// window only as the handler takes them: a handler that stops reading stops the upload
/// once the window (`initial_stream_window`) is full, the HTTP/2 form of backpressure.
pub(super) struct RecvBody<Q> {
    recv: Q,
    received: u64,
    limit: u64,
    /// `body_min_rate`, over the time the handler waits for bytes.
    rate: Option<RateGuard>,
    deadline: Deadline,
    /// The declared `content-length`, for the size hint.
    declared: Option<u64>,
    state: State,
    broken: Arc<Broken>,
}

/// The limit a request body broke, for its stream to report: the body is the handler's and
/// lives apart from the stream's record, so the event is handed over here.
#[derive(Debug, Default)]
pub(super) struct Broken(AtomicU8);

impl Broken {
    const NONE: u8 = 0;
    const TOO_LARGE: u8 = 1;
    const TOO_SLOW: u8 = 2;

    fn set(&self, what: u8) {
        self.0.store(what, Ordering::Relaxed);
    }

    /// The event for the broken limit, once.
    pub(super) fn take_event(&self) -> Option<Event<'static>> {
        match self.0.swap(Broken::NONE, Ordering::Relaxed) {
            Broken::TOO_LARGE => Some(Event::Limit {
                limit: "max_body_size",
            }),
            Broken::TOO_SLOW => Some(Event::Timeout {
                kind: TimeoutKind::BodyRate,
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    Trailers,
    Done,
}

impl<Q: RecvData> RecvBody<Q> {
    pub(super) fn new(
        recv: Q,
        limit: u64,
        declared: Option<u64>,
        rate: Option<MinRate>,
        broken: Arc<Broken>,
    ) -> RecvBody<Q> {
        RecvBody {
            recv,
            received: 0,
            limit,
            rate: rate.map(RateGuard::new),
            deadline: Deadline::default(),
            declared,
            state: State::Data,
            broken,
        }
    }

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let polled = self.recv.poll_data(cx);
        let too_slow = match (&polled, self.rate.as_mut()) {
            (_, None) => false,
            (Poll::Ready(Some(Ok(data))), Some(rate)) => rate
                .progress(data.len() as u64, &mut self.deadline)
                .is_err(),
            (Poll::Ready(_), Some(_)) => false,
            // A window that closes with enough bytes opens the next one at once.
            (Poll::Pending, Some(rate)) => loop {
                rate.start_waiting(&mut self.deadline);
                if !self.deadline.poll_expired(cx) {
                    break false;
                }
                if rate.expired(&mut self.deadline).is_err() {
                    break true;
                }
            },
        };
        if too_slow {
            stats::count(&stats::BODY_RATE_TIMEOUTS);
            self.broken.set(Broken::TOO_SLOW);
            self.state = State::Done;
            return Poll::Ready(Some(Err(Error::new(Kind::Timeout(Timeout::BodyRate)))));
        }
        let Some(data) = ready!(polled) else {
            self.state = State::Trailers;
            return Poll::Ready(None);
        };
        let data = match data {
            Ok(data) => data,
            Err(err) => {
                self.state = State::Done;
                return Poll::Ready(Some(Err(err)));
            }
        };
        // Release at once: the handler has the bytes, so the peer may send more.
        self.recv.release_capacity(data.len());
        self.received += data.len() as u64;
        if self.received > self.limit {
            self.broken.set(Broken::TOO_LARGE);
            self.state = State::Done;
            return Poll::Ready(Some(Err(Error::new(Kind::BodyTooLarge(self.limit)))));
        }
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn poll_trailers(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<HeaderMap, Error>>> {
        let trailers = ready!(self.recv.poll_trailers(cx));
        self.state = State::Done;
        Poll::Ready(trailers.transpose())
    }
}

impl<Q: RecvData> http_body::Body for RecvBody<Q> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        loop {
            match self.state {
                State::Data => {
                    if let Some(frame) = ready!(self.poll_data(cx)) {
                        return Poll::Ready(Some(frame));
                    }
                }
                State::Trailers => {
                    let trailers = ready!(self.poll_trailers(cx));
                    return Poll::Ready(trailers.map(|t| t.map(Frame::trailers)));
                }
                State::Done => return Poll::Ready(None),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done || self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.declared {
            Some(len) => SizeHint::with_exact(len.saturating_sub(self.received)),
            None => SizeHint::default(),
        }
    }
}
