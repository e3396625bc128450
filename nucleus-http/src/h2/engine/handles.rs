//! The server's side of a stream: the responder, the response body sender and the request
//! body, each a key into the connection's state behind its lock.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Response};

use super::state::State;
use super::stream::register;
use crate::error::{Error, Kind};
use crate::h2::backend::{Extra, Gone, RecvData, Reset, Respond, SendBody};
use crate::h2::frame::Reason;

pub(super) type Shared = Arc<Mutex<State>>;

pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic while the lock was held (a bug) leaves the state as it was at that point; the
    // connection is better served on than taken down with every stream on it.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Which stream: the slab key, and the id that guards against a reused key.
struct Link {
    shared: Shared,
    key: usize,
    id: u32,
}

pub(crate) struct Responder(Link);
pub(crate) struct BodySender(Link);
pub(crate) struct RequestBody(Link);

pub(super) fn handles(shared: &Shared, key: usize, id: u32) -> (Responder, RequestBody) {
    let link = |shared: &Shared| Link {
        shared: shared.clone(),
        key,
        id,
    };
    (Responder(link(shared)), RequestBody(link(shared)))
}

fn poll_reset(link: &Link, cx: &mut Context<'_>) -> Poll<()> {
    let mut state = lock(&link.shared);
    match state.stream_mut(link.key, link.id) {
        Some(stream) if stream.reset.is_none() => {
            register(&mut stream.reset_waker, cx.waker());
            Poll::Pending
        }
        _ => Poll::Ready(()),
    }
}

impl Respond for Responder {
    type Stream = BodySender;

    fn send_response(
        &mut self,
        head: Response<()>,
        extra: Extra,
        end: bool,
    ) -> Result<BodySender, Gone> {
        let link = &self.0;
        let mut state = lock(&link.shared);
        state
            .send_head(link.key, link.id, &head, &extra, end)
            .map_err(|()| Gone)?;
        state.add_sender(link.key, link.id);
        drop(state);
        Ok(BodySender(Link {
            shared: link.shared.clone(),
            key: link.key,
            id: link.id,
        }))
    }

    fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        poll_reset(&self.0, cx)
    }
}

impl SendBody for BodySender {
    fn send_data(&mut self, data: Bytes, end: bool) -> Result<(), Gone> {
        let link = &self.0;
        lock(&link.shared)
            .send_data(link.key, link.id, data, end)
            .map_err(|()| Gone)
    }

    fn send_trailers(&mut self, trailers: HeaderMap) -> Result<(), Gone> {
        let link = &self.0;
        lock(&link.shared)
            .send_trailers(link.key, link.id, trailers)
            .map_err(|()| Gone)
    }

    fn send_reset(&mut self, reset: Reset) {
        let reason = match reset {
            Reset::Cancel => Reason::CANCEL,
            Reset::Internal => Reason::INTERNAL_ERROR,
        };
        let link = &self.0;
        let mut state = lock(&link.shared);
        if state
            .stream(link.key, link.id)
            .is_some_and(|s| s.reset.is_none())
        {
            state.reset_stream(link.id, reason);
        }
    }

    fn reserve_capacity(&mut self, _wanted: usize) {
        // Window is granted as the peer opens it, to every stream alike.
    }

    fn capacity(&self) -> usize {
        let link = &self.0;
        let state = lock(&link.shared);
        state
            .stream(link.key, link.id)
            .map_or(0, |stream| state.capacity(stream))
    }

    fn poll_capacity(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<usize, Gone>>> {
        let link = &self.0;
        let mut state = lock(&link.shared);
        let capacity = match state.stream(link.key, link.id) {
            Some(stream) if stream.reset.is_none() => state.capacity(stream),
            _ => return Poll::Ready(Some(Err(Gone))),
        };
        if capacity > 0 {
            return Poll::Ready(Some(Ok(capacity)));
        }
        state.wait_capacity(link.key);
        if let Some(stream) = state.stream_mut(link.key, link.id) {
            register(&mut stream.send_waker, cx.waker());
        }
        Poll::Pending
    }

    fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        poll_reset(&self.0, cx)
    }
}

/// Why a request body stopped: the client reset its stream, or the connection went.
#[derive(Debug)]
struct BodyReset(Reason);

impl std::fmt::Display for BodyReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stream reset by the client ({})", self.0)
    }
}

impl std::error::Error for BodyReset {}

impl RecvData for RequestBody {
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        let link = &self.0;
        let mut state = lock(&link.shared);
        let Some(stream) = state.stream_mut(link.key, link.id) else {
            return Poll::Ready(Some(Err(Error::new(Kind::Io))));
        };
        if let Some(data) = stream.recv_queue.pop_front() {
            return Poll::Ready(Some(Ok(data)));
        }
        if let Some(reason) = stream.reset.filter(|r| *r != Reason::NO_ERROR) {
            return Poll::Ready(Some(
                Err(Error::new(Kind::Protocol).with(BodyReset(reason))),
            ));
        }
        if stream.recv_end {
            return Poll::Ready(None);
        }
        register(&mut stream.recv_waker, cx.waker());
        if std::mem::take(&mut stream.expect_continue) {
            state.send_continue(link.id);
        }
        Poll::Pending
    }

    fn release_capacity(&mut self, len: usize) {
        let link = &self.0;
        lock(&link.shared).release_stream(link.key, link.id, len);
    }

    fn poll_trailers(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<HeaderMap>, Error>> {
        let link = &self.0;
        let mut state = lock(&link.shared);
        let Some(stream) = state.stream_mut(link.key, link.id) else {
            return Poll::Ready(Ok(None));
        };
        if let Some(trailers) = stream.recv_trailers.take() {
            return Poll::Ready(Ok(Some(*trailers)));
        }
        if stream.recv_end {
            return Poll::Ready(Ok(None));
        }
        register(&mut stream.recv_waker, cx.waker());
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let link = &self.0;
        let state = lock(&link.shared);
        state.stream(link.key, link.id).is_none_or(|stream| {
            stream.recv_end && stream.recv_queue.is_empty() && stream.recv_trailers.is_none()
        })
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let link = &self.0;
        lock(&link.shared).drop_sender(link.key, link.id);
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        let link = &self.0;
        lock(&link.shared).drop_sender(link.key, link.id);
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        let link = &self.0;
        lock(&link.shared).drop_receiver(link.key, link.id);
    }
}
