//! What the connection sends: window updates as bodies are read, and the responses the
//! handlers give, as far as the peer's windows and the write queue's limit allow.

use bytes::Bytes;
use http::{header, HeaderMap, Response, StatusCode};

use super::{State, COPY_THRESHOLD, DEFAULT_WINDOW, RECENT_RESETS};
use crate::h2::backend::Extra;
use crate::h2::engine::stream::Stream;
use crate::h2::frame::{self, Reason};

impl State {
    /// Bytes of the connection window given back: announced once half the window is due,
    /// so a steady upload costs one WINDOW_UPDATE per half window, not one per frame.
    pub(in crate::h2::engine) fn release_connection(&mut self, len: u32) {
        if len == 0 {
            return;
        }
        self.recv_released = self.recv_released.saturating_add(len);
        if self.recv_released >= self.limits.connection_window.max(DEFAULT_WINDOW) / 2 {
            let increment = std::mem::take(&mut self.recv_released);
            self.recv_window += i64::from(increment);
            frame::put_window_update(self.out.tail(), 0, increment);
            self.out.commit();
            self.wake_conn();
        }
    }

    /// The handler took `len` bytes of a stream's body.
    pub(in crate::h2::engine) fn release_stream(&mut self, key: usize, id: u32, len: usize) {
        let len32 = u32::try_from(len).unwrap_or(u32::MAX);
        if let Some(stream) = self.stream_mut(key, id) {
            stream.recv_buffered = stream.recv_buffered.saturating_sub(len);
        }
        self.credit_stream(key, len32);
        self.release_connection(len32);
    }

    /// Gives `len` bytes back to a stream's window (announced once half the window is due).
    pub(super) fn credit_stream(&mut self, key: usize, len: u32) {
        let half = (self.limits.stream_window / 2).max(1);
        let Some(stream) = self.streams.get_mut(key) else {
            return;
        };
        if stream.recv_end || len == 0 {
            return;
        }
        stream.recv_released = stream.recv_released.saturating_add(len);
        if stream.recv_released >= half {
            let increment = std::mem::take(&mut stream.recv_released);
            stream.recv_window += i64::from(increment);
            frame::put_window_update(self.out.tail(), stream.id, increment);
            self.out.commit();
            self.wake_conn();
        }
    }

    /// Window opened (the connection's, or every stream's initial one), or the write queue
    /// drained below its limit: the streams held back by either go on, and their senders
    /// wake. Every such stream is in `blocked`: `flush_stream` and `wait_capacity` put it
    /// there.
    pub(in crate::h2::engine) fn unblock(&mut self) {
        if self.blocked.is_empty() {
            return;
        }
        for key in std::mem::take(&mut self.blocked) {
            self.flush_stream(key);
            if let Some(stream) = self.streams.get_mut(key) {
                stream.wake_send();
            }
        }
    }

    /// What a stream may send now: its window, the connection's, and room in the queue.
    pub(in crate::h2::engine) fn capacity(&self, stream: &Stream) -> usize {
        if self.out.len() >= self.limits.max_send_buffer {
            return 0;
        }
        let window = stream.send_window.min(self.send_window) - stream.pending_len as i64;
        usize::try_from(window.max(0)).unwrap_or(0)
    }

    /// Parks a stream until window or queue room opens.
    pub(in crate::h2::engine) fn wait_capacity(&mut self, key: usize) {
        if !self.blocked.contains(&key) {
            self.blocked.push(key);
        }
    }

    pub(in crate::h2::engine) fn send_head(
        &mut self,
        key: usize,
        id: u32,
        head: &Response<()>,
        extra: &Extra,
        end: bool,
    ) -> Result<(), ()> {
        match self.stream_mut(key, id) {
            Some(stream) if stream.reset.is_none() && !stream.send_end => {
                // Answered before the body was read: no `100` any more (RFC 9110 §10.1.1).
                stream.expect_continue = false;
            }
            _ => return Err(()),
        }
        self.block.clear();
        self.encoder
            .encode_response(head.status(), head.headers(), &mut self.block);
        let (encoder, block) = (&mut self.encoder, &mut self.block);
        if let Some(len) = extra.content_length {
            let mut digits = itoa::Buffer::new();
            encoder.encode_field(
                &header::CONTENT_LENGTH,
                digits.format(len).as_bytes(),
                block,
            );
        }
        if extra.date {
            crate::date::with_date(|date| encoder.encode_field(&header::DATE, date, block));
        }
        if let Some((name, value)) = &extra.request_id {
            encoder.encode_field(name, value.as_bytes(), block);
        }
        self.queue_block(id, end);
        if end {
            if let Some(stream) = self.streams.get_mut(key) {
                stream.send_end = true;
            }
            self.after_change(key);
        }
        self.wake_conn();
        Ok(())
    }

    pub(in crate::h2::engine) fn send_data(
        &mut self,
        key: usize,
        id: u32,
        data: Bytes,
        end: bool,
    ) -> Result<(), ()> {
        let stream = self.sendable(key, id).ok_or(())?;
        stream.pending_len += data.len();
        stream.pending.push_back((data, end));
        stream.send_end = end;
        self.queued(key);
        Ok(())
    }

    pub(in crate::h2::engine) fn send_trailers(
        &mut self,
        key: usize,
        id: u32,
        trailers: HeaderMap,
    ) -> Result<(), ()> {
        let stream = self.sendable(key, id).ok_or(())?;
        stream.pending_trailers = Some(Box::new(trailers));
        stream.send_end = true;
        self.queued(key);
        Ok(())
    }

    /// The stream, if its response may still take bytes.
    pub(super) fn sendable(&mut self, key: usize, id: u32) -> Option<&mut Stream> {
        self.stream_mut(key, id)
            .filter(|stream| stream.reset.is_none() && !stream.send_end)
    }

    /// Something was queued on a stream: out with what the windows allow.
    pub(super) fn queued(&mut self, key: usize) {
        self.flush_stream(key);
        self.after_change(key);
        self.wake_conn();
    }

    /// Moves what a stream has pending into the write queue, as far as the windows and the
    /// queue's limit allow; trailers follow the last byte.
    pub(super) fn flush_stream(&mut self, key: usize) {
        let max_frame = self.peer_max_frame_size as usize;
        let Some(stream) = self.streams.get_mut(key) else {
            return;
        };
        let id = stream.id;
        while let Some((chunk, end)) = stream.pending.front_mut() {
            let end = *end;
            if chunk.is_empty() {
                // An empty last frame needs no window.
                if end {
                    frame::put_data_head(self.out.tail(), id, 0, true);
                    self.out.commit();
                }
                stream.pending.pop_front();
                continue;
            }
            // The windows (either may be negative after a SETTINGS change), or nothing while
            // the queue is over its limit.
            let window = if self.out.len() >= self.limits.max_send_buffer {
                0
            } else {
                usize::try_from(stream.send_window.min(self.send_window)).unwrap_or(0)
            };
            if window == 0 {
                if !self.blocked.contains(&key) {
                    self.blocked.push(key);
                }
                return;
            }
            let take = chunk.len().min(window).min(max_frame);
            let piece = chunk.split_to(take);
            let last = chunk.is_empty();
            let piece_len = u32::try_from(take).unwrap_or(u32::MAX);
            frame::put_data_head(self.out.tail(), id, piece_len, last && end);
            self.out.commit();
            self.out.push(piece, COPY_THRESHOLD);
            stream.send_window -= take as i64;
            self.send_window -= take as i64;
            stream.pending_len -= take;
            if last {
                stream.pending.pop_front();
            }
        }
        if let Some(trailers) = stream.pending_trailers.take() {
            self.block.clear();
            self.encoder.encode_trailers(&trailers, &mut self.block);
            self.queue_block(id, true);
        }
    }

    /// Queues the header block in `self.block` as HEADERS (and CONTINUATION) on `id`.
    pub(super) fn queue_block(&mut self, id: u32, end_stream: bool) {
        frame::put_headers(
            self.out.tail(),
            id,
            &self.block,
            end_stream,
            self.peer_max_frame_size,
        );
        self.out.commit();
    }

    /// `100 Continue` on `id`: an interim HEADERS frame, the final response to follow.
    pub(in crate::h2::engine) fn send_continue(&mut self, id: u32) {
        self.block.clear();
        self.encoder
            .encode_response(StatusCode::CONTINUE, &HeaderMap::new(), &mut self.block);
        self.queue_block(id, false);
        self.wake_conn();
    }

    /// Answers a request without the server (a header list over the limit).
    pub(super) fn answer_directly(&mut self, id: u32, status: StatusCode, end_stream: bool) {
        self.block.clear();
        self.encoder
            .encode_response(status, &HeaderMap::new(), &mut self.block);
        self.encoder
            .encode_field(&header::CONTENT_LENGTH, b"0", &mut self.block);
        self.queue_block(id, true);
        if !end_stream {
            // Its body is not wanted (RFC 9113 §8.1).
            self.queue_reset(id, Reason::NO_ERROR);
        }
    }

    pub(super) fn queue_reset(&mut self, id: u32, reason: Reason) {
        frame::put_rst_stream(self.out.tail(), id, reason);
        self.out.commit();
        // Enough to cover every stream a client may have open (each may have frames on the
        // way when our reset reaches it), and no less than 64.
        let remembered = (2 * self.limits.max_concurrent_streams as usize).max(RECENT_RESETS);
        if self.recently_reset.len() >= remembered {
            self.recently_reset.pop_front();
        }
        self.recently_reset.push_back(id);
    }

    /// We reset a stream (a stream error, or a handler giving up).
    pub(in crate::h2::engine) fn reset_stream(&mut self, id: u32, reason: Reason) {
        self.queue_reset(id, reason);
        if let Some(key) = self.open_key(id) {
            self.mark_reset(key, reason);
        }
        self.wake_conn();
    }

    /// The stream is over without completing: drop what it holds, tell its handles.
    pub(super) fn mark_reset(&mut self, key: usize, reason: Reason) {
        let mut release = 0;
        if let Some(stream) = self.streams.get_mut(key) {
            if stream.reset.is_none() {
                stream.reset = Some(reason);
            }
            stream.recv_end = true;
            stream.send_end = true;
            stream.pending.clear();
            stream.pending_len = 0;
            stream.pending_trailers = None;
            release = std::mem::take(&mut stream.recv_buffered);
            stream.recv_queue.clear();
            stream.wake_all();
        }
        self.release_connection(u32::try_from(release).unwrap_or(u32::MAX));
        self.close(key);
    }

    /// After a change that may have finished a stream.
    pub(super) fn after_change(&mut self, key: usize) {
        let Some(stream) = self.streams.get_mut(key) else {
            return;
        };
        if stream.closed {
            self.collect(key);
            return;
        }
        if stream.finished() {
            self.early_resets = self.early_resets.saturating_sub(1);
            self.empty_frames = 0;
            self.close(key);
        } else if stream.sent() && !stream.recv_end && !stream.recv_ref {
            // Answered, and nobody reads the rest of the request: stop the upload.
            let id = stream.id;
            self.queue_reset(id, Reason::NO_ERROR);
            self.mark_reset(key, Reason::NO_ERROR);
        }
    }

    /// The stream no longer counts as open; its entry goes once no handle refers to it.
    pub(super) fn close(&mut self, key: usize) {
        let Some(stream) = self.streams.get_mut(key) else {
            return;
        };
        if !stream.closed {
            stream.closed = true;
            let id = stream.id;
            if let Ok(at) = self.open.binary_search_by_key(&id, |&(id, _)| id) {
                self.open.remove(at);
            }
        }
        self.collect(key);
    }

    /// Frees a closed stream's entry once no handle refers to it.
    pub(super) fn collect(&mut self, key: usize) {
        let free = self
            .streams
            .get(key)
            .is_some_and(|s| s.closed && s.send_refs == 0 && !s.recv_ref);
        if free {
            self.streams.remove(key);
            self.blocked.retain(|&k| k != key);
        }
    }

    /// A sending handle was dropped.
    pub(in crate::h2::engine) fn drop_sender(&mut self, key: usize, id: u32) {
        let Some(stream) = self.stream_mut(key, id) else {
            return;
        };
        stream.send_refs = stream.send_refs.saturating_sub(1);
        if stream.send_refs == 0 && !stream.send_end && stream.reset.is_none() {
            // The server gave up on the response (its future was dropped): cancel the stream.
            self.reset_stream(id, Reason::CANCEL);
        }
        self.after_change(key);
    }

    /// The request body handle was dropped: what it did not read goes back to the window.
    pub(in crate::h2::engine) fn drop_receiver(&mut self, key: usize, id: u32) {
        let Some(stream) = self.stream_mut(key, id) else {
            return;
        };
        stream.recv_ref = false;
        stream.recv_waker = None;
        let unread = std::mem::take(&mut stream.recv_buffered);
        stream.recv_queue.clear();
        self.release_connection(u32::try_from(unread).unwrap_or(u32::MAX));
        self.after_change(key);
    }

    /// Gives the server a second sending handle (the body sender, next to the responder).
    pub(in crate::h2::engine) fn add_sender(&mut self, key: usize, id: u32) {
        if let Some(stream) = self.stream_mut(key, id) {
            stream.send_refs += 1;
        }
    }
}
