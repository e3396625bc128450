//! What the stream and connection drivers need from an HTTP/2 implementation: the few calls
//! that `stream.rs`, `body.rs` and `server.rs` make, so that the same request rules, limits,
//! records and cancellation budget apply whichever engine frames the connection (the `h2`
//! crate, or Nucleus's own in `engine/`).

use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};

use crate::error::Error;

/// The stream or the connection is gone (reset by the client, or closed): nothing more can be
/// sent on it, which the drivers treat as the client's cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gone;

/// Why we reset a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reset {
    /// The client's doing (too slow, over a limit): `CANCEL`.
    Cancel,
    /// The server failed mid-response: `INTERNAL_ERROR`.
    Internal,
}

/// The fields the stream layer adds to every response head, passed beside the handler's
/// map: a framing layer that encodes fields itself appends them to the block, where
/// inserting them would grow a map built for HTTP/1.1 (which writes them straight to the
/// wire) by two reallocations.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    /// Set when the body's size is known; the handler's own is already gone from the map.
    pub(crate) content_length: Option<u64>,
    /// The handler set none: send the current date.
    pub(crate) date: bool,
    pub(crate) request_id: Option<(HeaderName, HeaderValue)>,
}

impl Extra {
    /// Into the map, for a framing layer that takes one map.
    pub(crate) fn insert_into(self, headers: &mut HeaderMap) {
        headers.reserve(3);
        if let Some(len) = self.content_length {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        if self.date {
            headers.insert(http::header::DATE, crate::date::header_value());
        }
        if let Some((name, value)) = self.request_id {
            headers.insert(name, value);
        }
    }
}

/// The answer side of a stream before its head is sent.
pub(crate) trait Respond: Send + 'static {
    type Stream: SendBody;
    /// Queues the response head, `extra` after the map's fields; `end`: the response has no
    /// body.
    fn send_response(
        &mut self,
        head: Response<()>,
        extra: Extra,
        end: bool,
    ) -> Result<Self::Stream, Gone>;
    /// Ready once the client has reset the stream (or the connection is gone).
    fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// The body side of a response whose head is sent.
pub(crate) trait SendBody: Send + 'static {
    /// Queues `data`; `end`: it is the last of the body. The caller hands at most the capacity
    /// it was granted, except for a small body sent whole with its head.
    fn send_data(&mut self, data: Bytes, end: bool) -> Result<(), Gone>;
    /// Queues trailers, which end the stream.
    fn send_trailers(&mut self, trailers: HeaderMap) -> Result<(), Gone>;
    fn send_reset(&mut self, reset: Reset);
    /// Asks for `wanted` bytes of window for the next `send_data`.
    fn reserve_capacity(&mut self, wanted: usize);
    /// Window granted and not yet used.
    fn capacity(&self) -> usize;
    /// Ready with new window, or with `Gone` (or `None`) once the stream cannot send.
    fn poll_capacity(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<usize, Gone>>>;
    fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// A request body as it arrives in DATA frames.
pub(crate) trait RecvData: Send + Unpin + 'static {
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>>;
    /// `len` bytes were taken by the handler: the client may send that much more.
    fn release_capacity(&mut self, len: usize);
    fn poll_trailers(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<HeaderMap>, Error>>;
    fn is_end_stream(&self) -> bool;
}

/// A request stream, as the connection hands it over.
pub(crate) type Accepted<C> = (Request<<C as Connection>::Recv>, <C as Connection>::Respond);

/// One HTTP/2 connection after its handshake.
pub(crate) trait Connection: Send {
    type Recv: RecvData;
    type Respond: Respond;
    /// Drives the connection (reads, writes) and hands over the next new stream; `None` once
    /// the connection has closed cleanly.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Accepted<Self>, Error>>>;
    /// `GOAWAY(NO_ERROR)`: no new streams; open ones finish.
    fn graceful_shutdown(&mut self);
    /// `GOAWAY(ENHANCE_YOUR_CALM)`: the client abuses the connection.
    fn abrupt_shutdown(&mut self);
    /// Ready when a keep-alive `PING` went unanswered (only with `keep_alive_interval` set).
    fn poll_dead(&mut self, cx: &mut Context<'_>) -> Poll<()>;
    /// Frames the streams queued since the last `poll_accept` wait to be written: poll again.
    fn wants_write(&self) -> bool;
    /// The connection's task is about to return `Pending`: from now on, frames queued by a
    /// stream must wake it.
    fn end_pass(&mut self) {}
    /// The connection has been idle a while: free what buffers it can until bytes arrive.
    fn shrink(&mut self) {}
}
