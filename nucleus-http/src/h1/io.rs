//! The connection's outgoing byte queue.
//!
//! Small pieces (heads, small bodies, chunk framing) are copied into one contiguous `tail`,
//! so a typical response — and a batch of pipelined ones — leaves in a single `write`.
//! Large body chunks are queued as they are and go out with a vectored write, uncopied,
//! between the part of `tail` written before them and the part written after.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::AsyncWrite;

/// At most this many slices per `writev` (Linux allows 1024). Each call fills an array of
/// this many, so it is kept small: 64 cost ~130 instructions per vectored write.
const MAX_IOVECS: usize = 16;

/// A position in a [`WriteBuf`] (see [`WriteBuf::mark`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    written: usize,
    queued: usize,
    tail: usize,
}

#[derive(Debug, Default)]
pub(crate) struct WriteBuf {
    /// Whole pieces, in order, after `tail[..tail_before]` and before the rest of `tail`.
    queue: VecDeque<Bytes>,
    /// The small pieces; reused across requests so steady state allocates nothing. A
    /// response head stays here when its body is queued: giving the buffer away to the
    /// queue (as `Bytes`) cost an allocation and a free per response.
    tail: Vec<u8>,
    /// How much of `tail` is already written.
    tail_written: usize,
    /// With a non-empty queue: how many bytes of `tail` go out before it.
    tail_before: usize,
    /// Bytes not yet written, for watermark checks.
    pending: usize,
    /// Bytes written since the connection opened, for rate checks.
    written: usize,
    /// Everything was handed to the connection, but its last flush did not finish: a writer
    /// that gathers (TLS records) still holds some of it.
    unflushed: bool,
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
            self.tail_before = 0;
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
        if self.queue.is_empty() {
            // The usual case: the head so far stays in the tail, ahead of the chunk.
            self.tail_before = self.tail.len();
        } else if let Some(after) = self.tail.get(self.tail_before..).filter(|b| !b.is_empty()) {
            // Small pieces between two queued chunks (chunked framing): copied out so that
            // they keep their place in line.
            let after = Bytes::copy_from_slice(after);
            self.tail.truncate(self.tail_before);
            self.queue.push_back(after);
        }
        self.pending += chunk.len();
        self.queue.push_back(chunk);
    }

    pub(crate) fn written(&self) -> usize {
        self.written
    }

    /// Where the buffer stands now, to [`WriteBuf::rollback`] to.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            written: self.written,
            queued: self.queue.len(),
            tail: self.tail.len(),
        }
    }

    /// Drops what was added since `mark`, if none of it has been written or queued (only the
    /// tail grew): `false`, and nothing changes, otherwise.
    pub(crate) fn rollback(&mut self, mark: &Mark) -> bool {
        if self.written != mark.written
            || self.queue.len() != mark.queued
            || self.tail.len() < mark.tail
            || mark.tail < self.tail_written
        {
            return false;
        }
        self.tail.truncate(mark.tail);
        self.commit();
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.pending
    }

    /// Nothing left to send: none queued here, and the connection's last flush finished.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending == 0 && !self.unflushed
    }

    /// Writes until empty or the socket would block, then flushes `io`.
    pub(crate) fn poll_flush<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(io, cx))?;
        let flushed = Pin::new(io).poll_flush(cx);
        self.unflushed = flushed.is_pending();
        flushed
    }

    /// Writes until empty, then shuts `io` down, which flushes it: a writer that gathers
    /// (TLS records) sends the last of the data and its close in one write. An error of the
    /// shutdown itself is ignored, as the connection ends either way.
    pub(crate) fn poll_shutdown<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(io, cx))?;
        let shut = Pin::new(io).poll_shutdown(cx);
        self.unflushed = shut.is_pending();
        let _ = ready!(shut);
        Poll::Ready(Ok(()))
    }

    /// Writes until empty or the socket would block.
    fn poll_drain<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.pending > 0 {
            let n = if self.queue.is_empty() {
                let rest = self.tail.get(self.tail_written..).unwrap_or_default();
                ready!(Pin::new(&mut *io).poll_write(cx, rest))?
            } else {
                // The tail's bytes before the queue, and after it.
                let before = self.tail.get(self.tail_written..self.tail_before);
                let after = self.tail.get(self.tail_before..);
                match (self.queue.len(), self.queue.front()) {
                    // One queued chunk, the usual case (a head, a large body, maybe a chunk
                    // trailer): three slices, empty ones included, without the general
                    // path's array to fill.
                    (1, Some(chunk)) => {
                        let slices = [
                            IoSlice::new(before.unwrap_or_default()),
                            IoSlice::new(chunk),
                            IoSlice::new(after.unwrap_or_default()),
                        ];
                        ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices))?
                    }
                    _ => {
                        let pieces = before
                            .into_iter()
                            .chain(self.queue.iter().map(Bytes::as_ref))
                            .chain(after)
                            .filter(|piece| !piece.is_empty());
                        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                        let mut count = 0;
                        for (slot, piece) in slices.iter_mut().zip(pieces) {
                            *slot = IoSlice::new(piece);
                            count += 1;
                        }
                        ready!(Pin::new(&mut *io)
                            .poll_write_vectored(cx, slices.get(..count).unwrap_or_default()))?
                    }
                }
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.consume(n);
        }
        self.tail.clear();
        self.tail_written = 0;
        self.tail_before = 0;
        Poll::Ready(Ok(()))
    }

    fn consume(&mut self, mut n: usize) {
        self.pending -= n;
        self.written = self.written.wrapping_add(n);
        if !self.queue.is_empty() {
            let before = self.tail_before.saturating_sub(self.tail_written).min(n);
            self.tail_written += before;
            n -= before;
        }
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.queue.pop_front();
        }
        // With the queue gone, what remains is the tail after it.
        self.tail_written += n;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_rollback_drops_only_what_was_neither_written_nor_queued() {
        let mut buf = WriteBuf::with_capacity(16);
        buf.extend(b"first;");
        let mark = buf.mark();
        buf.extend(b"head;");
        assert!(buf.rollback(&mark));
        assert_eq!(buf.len(), 6);
        // Queued since the mark: too late.
        let mark = buf.mark();
        buf.push(Bytes::from(vec![b'x'; 32]), 16);
        assert!(!buf.rollback(&mark));
        let mut out: Vec<u8> = Vec::new();
        std::future::poll_fn(|cx| buf.poll_flush(&mut out, cx))
            .await
            .unwrap();
        assert_eq!(out.len(), 6 + 32);
        // Written since the mark: too late.
        let mark = buf.mark();
        buf.extend(b"more");
        std::future::poll_fn(|cx| buf.poll_flush(&mut out, cx))
            .await
            .unwrap();
        assert!(!buf.rollback(&mark));
    }

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

    /// Accepts at most `limit` bytes per write, vectored or not.
    struct Trickle {
        out: Vec<u8>,
        limit: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.limit);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut left = self.limit;
            for buf in bufs {
                let n = buf.len().min(left);
                self.out.extend_from_slice(&buf[..n]);
                left -= n;
            }
            Poll::Ready(Ok(self.limit - left))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn queued_chunks_keep_their_place_between_small_pieces_whatever_the_write_sizes() {
        for limit in [1, 3, 7, 16, 33, 1000] {
            let mut buf = WriteBuf::with_capacity(8);
            let mut io = Trickle {
                out: Vec::new(),
                limit,
            };
            let mut expected = Vec::new();
            // Two responses: a head and a queued body, then chunked framing around two
            // queued chunks; flushed once in the middle and once at the end.
            for round in 0..2u8 {
                buf.extend(b"HEAD\r\n\r\n");
                let body = Bytes::from(vec![b'a' + round; 20]);
                buf.push(body.clone(), 16);
                buf.extend(b"\r\n14\r\n");
                buf.push(Bytes::from(vec![b'x'; 20]), 16);
                buf.extend(b"\r\n");
                buf.push(Bytes::from(vec![b'y'; 17]), 16);
                buf.extend(b"0\r\n\r\n");
                expected.extend_from_slice(b"HEAD\r\n\r\n");
                expected.extend_from_slice(&body);
                expected.extend_from_slice(b"\r\n14\r\n");
                expected.extend_from_slice(&[b'x'; 20]);
                expected.extend_from_slice(b"\r\n");
                expected.extend_from_slice(&[b'y'; 17]);
                expected.extend_from_slice(b"0\r\n\r\n");
                assert_eq!(buf.len(), expected.len() - io.out.len());
                std::future::poll_fn(|cx| buf.poll_flush(&mut io, cx))
                    .await
                    .unwrap();
                assert_eq!(io.out, expected, "write size {limit}");
                assert!(buf.is_empty());
            }
            assert_eq!(buf.written(), expected.len());
        }
    }

    /// What a test does to the buffer: copy small bytes in, queue a chunk, or flush.
    #[derive(Debug, Clone)]
    enum Step {
        Extend(Vec<u8>),
        Push(Vec<u8>),
        Flush,
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(Step::Extend),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Step::Push),
            Just(Step::Flush),
        ]
    }

    proptest::proptest! {
        #[test]
        fn bytes_leave_in_the_order_they_came_whatever_the_steps_and_write_sizes(
            steps in proptest::collection::vec(step(), 0..24),
            limit in 1usize..50,
            threshold in 1usize..24,
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                let mut buf = WriteBuf::with_capacity(4);
                let mut io = Trickle { out: Vec::new(), limit };
                let mut expected = Vec::new();
                for step in &steps {
                    match step {
                        Step::Extend(bytes) => {
                            buf.extend(bytes);
                            expected.extend_from_slice(bytes);
                        }
                        Step::Push(bytes) => {
                            buf.push(Bytes::from(bytes.clone()), threshold);
                            expected.extend_from_slice(bytes);
                        }
                        Step::Flush => {
                            std::future::poll_fn(|cx| buf.poll_flush(&mut io, cx)).await.unwrap();
                            assert!(buf.is_empty());
                        }
                    }
                    assert_eq!(buf.len() + io.out.len(), expected.len());
                }
                std::future::poll_fn(|cx| buf.poll_flush(&mut io, cx)).await.unwrap();
                assert_eq!(io.out, expected);
                assert_eq!(buf.written(), expected.len());
            });
        }
    }
}
