//! What each frame the peer sends does to the connection's state (RFC 9113 §5, §6): new
//! requests, their bodies and trailers, resets, settings, window updates.

use bytes::{Bytes, BytesMut};
use http::StatusCode;

use super::{
    ConnError, Continuing, NewStream, State, DEFAULT_WINDOW, MAX_CONTINUATIONS, MAX_EMPTY_FRAMES,
};
use crate::h2::engine::request::{HeadBuilder, TrailersBuilder};
use crate::h2::engine::stream::Stream;
use crate::h2::frame::{self, Frame, Reason, Settings, MAX_WINDOW};
use crate::h2::hpack::Decoded;
use crate::stats;

impl State {
    /// Applies one frame. A stream error resets that stream and returns `Ok`.
    pub(in crate::h2::engine) fn recv_frame(&mut self, frame: Frame) -> Result<(), ConnError> {
        if std::mem::take(&mut self.first_frame)
            && !matches!(frame, Frame::Settings { ack: false, .. })
        {
            return Err(ConnError::new(
                Reason::PROTOCOL_ERROR,
                "preface without SETTINGS",
            ));
        }
        if let Some(continuing) = &self.continuing {
            let expected = continuing.stream;
            if !matches!(frame, Frame::Continuation { stream, .. } if stream == expected) {
                return Err(ConnError::new(
                    Reason::PROTOCOL_ERROR,
                    "header block interrupted",
                ));
            }
        }
        match frame {
            Frame::Data {
                stream,
                data,
                end_stream,
                flow_len,
            } => self.recv_data(stream, data, end_stream, flow_len),
            Frame::Headers {
                stream,
                fragment,
                end_stream,
                end_headers,
                ..
            } => {
                if end_headers {
                    self.recv_block(stream, fragment, end_stream)
                } else {
                    self.continuing = Some(Continuing {
                        stream,
                        end_stream,
                        block: BytesMut::from(&fragment[..]),
                        frames: 0,
                    });
                    self.check_block_size()
                }
            }
            Frame::Continuation {
                fragment,
                end_headers,
                ..
            } => {
                let Some(continuing) = self.continuing.as_mut() else {
                    return Err(ConnError::new(
                        Reason::PROTOCOL_ERROR,
                        "CONTINUATION without HEADERS",
                    ));
                };
                continuing.block.extend_from_slice(&fragment);
                continuing.frames += 1;
                self.check_block_size()?;
                if end_headers {
                    if let Some(done) = self.continuing.take() {
                        return self.recv_block(done.stream, done.block.freeze(), done.end_stream);
                    }
                }
                Ok(())
            }
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::RstStream { stream, reason } => self.recv_reset(stream, reason),
            Frame::Settings { ack, settings } => {
                if ack {
                    self.settings_acked = true;
                    Ok(())
                } else {
                    self.recv_settings(settings)
                }
            }
            Frame::PushPromise { .. } => Err(ConnError::new(
                Reason::PROTOCOL_ERROR,
                "PUSH_PROMISE from a client",
            )),
            Frame::Ping { ack, payload } => {
                if ack {
                    if self.ping_out == Some(payload) {
                        self.ping_out = None;
                        self.pong_received = true;
                    }
                } else {
                    frame::put_ping(self.out.tail(), true, payload);
                    self.out.commit();
                }
                Ok(())
            }
            Frame::GoAway { .. } => {
                self.goaway_received = true;
                Ok(())
            }
            Frame::WindowUpdate { stream, increment } => self.recv_window_update(stream, increment),
        }
    }

    /// A stream error from the frame decoder: the frame was consumed; reset the stream.
    pub(in crate::h2::engine) fn stream_error(
        &mut self,
        id: u32,
        reason: Reason,
    ) -> Result<(), ConnError> {
        self.reset_stream(id, reason);
        self.count_local_reset()
    }

    pub(super) fn check_block_size(&self) -> Result<(), ConnError> {
        let Some(continuing) = &self.continuing else {
            return Ok(());
        };
        // An encoded block is at most a little larger than the list it decodes to (Huffman
        // can expand by under a third); a block beyond that cannot be a list we would take.
        let limit = self
            .limits
            .max_header_list_size
            .saturating_mul(2)
            .max(16 * 1024);
        if continuing.block.len() > limit || continuing.frames > MAX_CONTINUATIONS {
            stats::count(&stats::H2_RESET_FLOODS);
            return Err(ConnError::new(
                Reason::ENHANCE_YOUR_CALM,
                "header block too large",
            ));
        }
        Ok(())
    }

    pub(super) fn recv_data(
        &mut self,
        id: u32,
        data: Bytes,
        end_stream: bool,
        flow_len: u32,
    ) -> Result<(), ConnError> {
        self.not_idle(id, "DATA on an idle stream")?;
        let flow = i64::from(flow_len);
        if flow > self.recv_window {
            return Err(ConnError::new(
                Reason::FLOW_CONTROL_ERROR,
                "DATA beyond the connection window",
            ));
        }
        self.recv_window -= flow;
        if data.is_empty() && !end_stream {
            self.empty_frames += 1;
            if self.empty_frames > MAX_EMPTY_FRAMES {
                stats::count(&stats::H2_RESET_FLOODS);
                return Err(ConnError::new(
                    Reason::ENHANCE_YOUR_CALM,
                    "empty DATA frames",
                ));
            }
        }
        // Padding is nobody's to read: back to the window at once.
        let padding = flow_len.saturating_sub(u32::try_from(data.len()).unwrap_or(u32::MAX));
        self.release_connection(padding);
        let Some(key) = self.open_key(id) else {
            // A stream we closed (or reset): the bytes still count against the connection
            // window, and nobody will read them.
            self.release_connection(u32::try_from(data.len()).unwrap_or(u32::MAX));
            return Ok(());
        };
        let Some(stream) = self.streams.get_mut(key) else {
            return Ok(());
        };
        let len = data.len();
        let len32 = u32::try_from(len).unwrap_or(u32::MAX);
        if stream.recv_end {
            self.release_connection(len32);
            return self.stream_error(id, Reason::STREAM_CLOSED);
        }
        if flow > stream.recv_window {
            self.release_connection(len32);
            return self.stream_error(id, Reason::FLOW_CONTROL_ERROR);
        }
        stream.recv_window -= flow;
        stream.received += len as u64;
        if len > 0 {
            // Progress: the empty-frame budget is for frames that carry nothing.
            self.empty_frames = 0;
        }
        let declared_broken = stream.declared.is_some_and(|declared| {
            stream.received > declared || (end_stream && stream.received != declared)
        });
        if declared_broken {
            self.release_connection(len32);
            return self.stream_error(id, Reason::PROTOCOL_ERROR);
        }
        stream.recv_end = end_stream;
        // The padding counted against the stream's window too; nobody reads it.
        self.credit_stream(key, padding);
        let Some(stream) = self.streams.get_mut(key) else {
            return Ok(());
        };
        if stream.recv_ref {
            if len > 0 {
                stream.recv_queue.push_back(data);
                stream.recv_buffered += len;
            }
            stream.wake_recv();
        } else {
            self.release_connection(len32);
        }
        if end_stream {
            self.after_change(key);
        }
        Ok(())
    }

    /// A complete header block: a new request, or the trailers of an open one.
    pub(super) fn recv_block(
        &mut self,
        id: u32,
        block: Bytes,
        end_stream: bool,
    ) -> Result<(), ConnError> {
        let max = self.limits.max_header_list_size;
        if let Some(key) = self.open_key(id) {
            let mut trailers = TrailersBuilder::default();
            let decoded = self
                .decoder
                .decode(block, max, |field| trailers.field(field))
                .map_err(|e| ConnError::new(Reason::COMPRESSION_ERROR, e.0))?;
            let Some(stream) = self.streams.get_mut(key) else {
                return Ok(());
            };
            if stream.recv_end {
                return self.stream_error(id, Reason::STREAM_CLOSED);
            }
            let trailers = trailers.finish();
            let declared_short = stream.declared.is_some_and(|d| d != stream.received);
            match trailers {
                Some(trailers) if end_stream && decoded == Decoded::Complete && !declared_short => {
                    stream.recv_trailers = Some(Box::new(trailers));
                    stream.recv_end = true;
                    stream.wake_recv();
                    self.after_change(key);
                    Ok(())
                }
                _ => self.stream_error(id, Reason::PROTOCOL_ERROR),
            }
        } else if id <= self.last_peer_stream {
            // Keep the decoder in step either way.
            self.decoder
                .decode(block, max, |_| {})
                .map_err(|e| ConnError::new(Reason::COMPRESSION_ERROR, e.0))?;
            if self.recently_reset.contains(&id) {
                // Trailers of a request we reset: they were on their way (RFC 9113 §5.4.2).
                return Ok(());
            }
            // A new stream must have a higher id than every stream before it (§5.1.1), and
            // a stream that ended both ways takes no more headers.
            Err(ConnError::new(
                Reason::PROTOCOL_ERROR,
                "HEADERS on a closed stream",
            ))
        } else {
            self.recv_request(id, block, end_stream)
        }
    }

    pub(super) fn recv_request(
        &mut self,
        id: u32,
        block: Bytes,
        end_stream: bool,
    ) -> Result<(), ConnError> {
        if id.is_multiple_of(2) {
            return Err(ConnError::new(
                Reason::PROTOCOL_ERROR,
                "even stream id from a client",
            ));
        }
        self.last_peer_stream = id;
        let mut head = HeadBuilder::default();
        let decoded = self
            .decoder
            .decode(block, self.limits.max_header_list_size, |field| {
                head.field(field)
            })
            .map_err(|e| ConnError::new(Reason::COMPRESSION_ERROR, e.0))?;
        if self.goaway_sent.is_some() || self.goaway_received {
            // Not served: the client may retry it elsewhere (RFC 9113 §6.8).
            self.queue_reset(id, Reason::REFUSED_STREAM);
            return Ok(());
        }
        if self.open.len() >= self.limits.max_concurrent_streams as usize {
            self.queue_reset(id, Reason::REFUSED_STREAM);
            return Ok(());
        }
        if decoded == Decoded::TooLarge {
            self.answer_directly(id, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, end_stream);
            return Ok(());
        }
        let head = match head.finish() {
            Ok(head) => head,
            Err(rule) => {
                tracing::debug!(stream = id, rule, "malformed HTTP/2 request");
                self.queue_reset(id, Reason::PROTOCOL_ERROR);
                return self.count_local_reset();
            }
        };
        let window = if self.settings_acked {
            self.limits.stream_window
        } else {
            self.limits.stream_window.max(DEFAULT_WINDOW)
        };
        let mut stream = Stream::new(id, window, i64::from(self.peer_initial_window), end_stream);
        stream.declared = head.declared;
        stream.expect_continue = head.expect_continue && !end_stream;
        if end_stream && stream.declared.is_some_and(|d| d != 0) {
            self.queue_reset(id, Reason::PROTOCOL_ERROR);
            return self.count_local_reset();
        }
        let key = self.streams.insert(stream);
        self.open.push_back((id, key));
        self.accepted.push_back(NewStream { key, id, head });
        Ok(())
    }

    pub(super) fn recv_reset(&mut self, id: u32, reason: Reason) -> Result<(), ConnError> {
        self.not_idle(id, "RST_STREAM on an idle stream")?;
        let Some(key) = self.open_key(id) else {
            return Ok(());
        };
        if let Some(at) = self.accepted.iter().position(|s| s.key == key) {
            // Reset before the server even took it: Rapid Reset's pattern.
            self.accepted.remove(at);
            self.early_resets += 1;
            if let Some(stream) = self.streams.get_mut(key) {
                stream.send_refs = 0;
                stream.recv_ref = false;
            }
            if self.early_resets > self.limits.max_early_resets {
                stats::count(&stats::H2_RESET_FLOODS);
                return Err(ConnError::new(
                    Reason::ENHANCE_YOUR_CALM,
                    "too many streams reset before they were served",
                ));
            }
        }
        self.mark_reset(key, reason);
        Ok(())
    }

    pub(super) fn recv_settings(&mut self, settings: Settings) -> Result<(), ConnError> {
        if let Some(size) = settings.header_table_size {
            self.encoder.set_max_table_size(size as usize);
        }
        if let Some(size) = settings.max_frame_size {
            self.peer_max_frame_size = size;
        }
        if let Some(window) = settings.initial_window_size {
            let delta = i64::from(window) - i64::from(self.peer_initial_window);
            self.peer_initial_window = window;
            for (_, stream) in self.streams.iter_mut() {
                stream.send_window += delta;
                if stream.send_window > i64::from(MAX_WINDOW) {
                    return Err(ConnError::new(
                        Reason::FLOW_CONTROL_ERROR,
                        "SETTINGS_INITIAL_WINDOW_SIZE overflows a window",
                    ));
                }
            }
            if delta > 0 {
                self.unblock();
            }
        }
        frame::put_settings_ack(self.out.tail());
        self.out.commit();
        Ok(())
    }

    pub(super) fn recv_window_update(&mut self, id: u32, increment: u32) -> Result<(), ConnError> {
        let increment = i64::from(increment);
        if id == 0 {
            self.send_window += increment;
            if self.send_window > i64::from(MAX_WINDOW) {
                return Err(ConnError::new(
                    Reason::FLOW_CONTROL_ERROR,
                    "connection window overflow",
                ));
            }
            self.unblock();
            return Ok(());
        }
        self.not_idle(id, "WINDOW_UPDATE on an idle stream")?;
        let Some(key) = self.open_key(id) else {
            return Ok(());
        };
        let Some(stream) = self.streams.get_mut(key) else {
            return Ok(());
        };
        stream.send_window += increment;
        if stream.send_window > i64::from(MAX_WINDOW) {
            return self.stream_error(id, Reason::FLOW_CONTROL_ERROR);
        }
        self.flush_stream(key);
        if let Some(stream) = self.streams.get_mut(key) {
            stream.wake_send();
        }
        Ok(())
    }

    /// Frames other than HEADERS (and PRIORITY) on a stream the peer has not opened yet are a
    /// connection error (RFC 9113 §5.1, "idle").
    pub(super) fn not_idle(&self, id: u32, what: &'static str) -> Result<(), ConnError> {
        if id > self.last_peer_stream {
            return Err(ConnError::new(Reason::PROTOCOL_ERROR, what));
        }
        Ok(())
    }

    pub(super) fn count_local_reset(&mut self) -> Result<(), ConnError> {
        self.local_error_resets += 1;
        if self.local_error_resets > self.limits.max_local_error_resets {
            stats::count(&stats::H2_RESET_FLOODS);
            return Err(ConnError::new(
                Reason::ENHANCE_YOUR_CALM,
                "too many malformed streams",
            ));
        }
        Ok(())
    }
}
