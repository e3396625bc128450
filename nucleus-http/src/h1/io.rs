//! The connection's outgoing byte queue.
//!
//! Small pieces (heads, small bodies, chunk framing) are copied into one contiguous `tail`,
//! so a typical response — and a batch of pipelined ones — leaves in a single `write`.
//! Large body chunks are queued as they are and go out with a vectored write, uncopied.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::AsyncWrite;

/// At most this many slices per `writev`; Linux allows 1024, 64 covers any real queue.
const MAX_IOVECS: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct WriteBuf {
    /// Whole pieces, in order, before `tail`.
    queue: VecDeque<Bytes>,
    /// The newest bytes; reused across requests so steady state allocates nothing.
    tail: Vec<u8>,
    /// How much of `tail` is already written.
    tail_written: usize,
    /// Bytes not yet written, for watermark checks.
    pending: usize,
    /// Bytes written since the connection opened, for rate checks.
    written: usize,
}

impl WriteBuf {
    pub(crate) fn with_capacity(capacity: usize) -> WriteBuf {
        WriteBuf {
            tail: Vec::with_capacity(capacity),
            ..WriteBuf::default()
        }
    }

    /// Frees the buffers of an empty queue (an idle connection); counters are kept.
    pub(crate) fn shrink(&mut self) {
        if self.is_empty() {
            self.tail = Vec::new();
            self.tail_written = 0;
            self.queue = VecDeque::new();
        }
    }

    /// Makes room for `additional` bytes in the tail.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.tail.reserve(additional);
    }

    /// Where small pieces are appended; call [`WriteBuf::commit`] after writing into it.
    pub(crate) fn tail(&mut self) -> &mut Vec<u8> {
        &mut self.tail
    }

    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.pending += bytes.len();
    }

    /// Recounts after direct writes into [`WriteBuf::tail`].
    pub(crate) fn commit(&mut self) {
        self.pending =
            self.queue.iter().map(Bytes::len).sum::<usize>() + self.tail.len() - self.tail_written;
    }

    /// Appends a body chunk: copied when small, queued whole when at least `copy_threshold`.
    pub(crate) fn push(&mut self, chunk: Bytes, copy_threshold: usize) {
        if chunk.len() < copy_threshold {
            self.extend(&chunk);
            return;
        }
        self.seal_tail();
        self.pending += chunk.len();
        self.queue.push_back(chunk);
    }

    pub(crate) fn written(&self) -> usize {
        self.written
    }

    pub(crate) fn len(&self) -> usize {
        self.pending
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Moves the unwritten part of `tail` into the queue so later bytes go after it.
    fn seal_tail(&mut self) {
        if self.tail.len() > self.tail_written {
            let mut sealed = Bytes::from(std::mem::take(&mut self.tail));
            sealed.advance(self.tail_written);
            self.queue.push_back(sealed);
        } else {
            self.tail.clear();
        }
        self.tail_written = 0;
    }

    /// Writes until empty or the socket would block.
    pub(crate) fn poll_flush<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.pending > 0 {
            let n = if self.queue.is_empty() {
                let rest = self.tail.get(self.tail_written..).unwrap_or_default();
                ready!(Pin::new(&mut *io).poll_write(cx, rest))?
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let mut count = 0;
                for (slot, part) in slices.iter_mut().zip(self.queue.iter()) {
                    *slot = IoSlice::new(part);
                    count += 1;
                }
                if count < MAX_IOVECS {
                    if let (Some(slot), Some(rest)) =
                        (slices.get_mut(count), self.tail.get(self.tail_written..))
                    {
                        *slot = IoSlice::new(rest);
                        count += 1;
                    }
                }
                ready!(Pin::new(&mut *io)
                    .poll_write_vectored(cx, slices.get(..count).unwrap_or_default()))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.consume(n);
        }
        self.tail.clear();
        self.tail_written = 0;
        Pin::new(io).poll_flush(cx)
    }

    fn consume(&mut self, mut n: usize) {
        self.pending -= n;
        self.written = self.written.wrapping_add(n);
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                self.tail_written += n;
                return;
            };
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.queue.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn keeps_order_across_copied_and_queued_pieces() {
        let mut buf = WriteBuf::with_capacity(16);
        buf.extend(b"head;");
        buf.push(Bytes::from(vec![b'x'; 32]), 16);
        buf.push(Bytes::from_static(b";small"), 16);
        let mut out: Vec<u8> = Vec::new();
        std::future::poll_fn(|cx| buf.poll_flush(&mut out, cx))
            .await
            .unwrap();
        let expected = [&b"head;"[..], &[b'x'; 32], b";small"].concat();
        assert_eq!(out, expected);
        assert!(buf.is_empty());
    }
}
