//! The protocol state of one connection, shared by the connection task and the stream
//! handles: what each received frame does (RFC 9113 §5, §6), the streams and their windows,
//! and the outgoing frames, encoded into one write queue in the order they are made.
//!
//! Every stream runs on the connection's task, so the lock around this state is uncontended;
//! it is a lock at all because a handler may move its request body to a task of its own.

use std::collections::VecDeque;
use std::task::Waker;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, Response, StatusCode};
use slab::Slab;

use super::request::{Head, HeadBuilder, TrailersBuilder};
use super::stream::Stream;
use crate::h1::io::WriteBuf;
use crate::h2::backend::Extra;
use crate::h2::frame::{self, Frame, FrameError, Reason, Settings, MAX_WINDOW};
use crate::h2::hpack::{Decoded, Decoder, Encoder};
use crate::stats;

/// Body chunks at least this long are queued, not copied, into the write queue.
const COPY_THRESHOLD: usize = 8 * 1024;
/// DATA frames without data and without `END_STREAM`, and CONTINUATION frames of one header
/// block, a peer may send before it is cut off: neither carries anything a client needs many
/// of, and both cost work (the 2019 "empty frames" and 2024 CONTINUATION floods).
const MAX_EMPTY_FRAMES: u32 = 64;
const MAX_CONTINUATIONS: u32 = 64;
/// Reset streams remembered (at least; twice `max_concurrent_streams` if more) so that frames
/// the peer sent before it saw the reset are ignored (RFC 9113 §5.1, "closed").
const RECENT_RESETS: usize = 64;
/// The protocol's initial window (RFC 9113 §6.9.2), which holds until our SETTINGS are acked.
const DEFAULT_WINDOW: u32 = 65_535;

/// What the engine was configured with.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    pub(super) max_concurrent_streams: u32,
    pub(super) stream_window: u32,
    pub(super) connection_window: u32,
    pub(super) max_frame_size: u32,
    pub(super) max_header_list_size: usize,
    /// Output bytes above which streams get no more window (the client is not reading).
    pub(super) max_send_buffer: usize,
    pub(super) max_local_error_resets: usize,
    pub(super) max_early_resets: usize,
}

/// A connection error: the connection ends with `GOAWAY(reason)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ConnError {
    pub(super) reason: Reason,
    pub(super) what: &'static str,
}

impl ConnError {
    pub(super) fn new(reason: Reason, what: &'static str) -> ConnError {
        ConnError { reason, what }
    }
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP/2 connection error {}: {}", self.reason, self.what)
    }
}

impl std::error::Error for ConnError {}

/// A header block being received in CONTINUATION frames.
struct Continuing {
    stream: u32,
    end_stream: bool,
    block: BytesMut,
    frames: u32,
}

/// A stream the connection task hands to the server: its key, and its head.
pub(super) struct NewStream {
    pub(super) key: usize,
    pub(super) id: u32,
    pub(super) head: Head,
}

pub(super) struct State {
    pub(super) limits: Limits,
    streams: Slab<Stream>,
    /// Open streams by id, in id order (ids only grow): (id, key).
    open: VecDeque<(u32, usize)>,
    pub(super) out: WriteBuf,
    encoder: Encoder,
    decoder: Decoder,
    /// Scratch for HPACK blocks, kept to reuse its allocation.
    block: Vec<u8>,
    continuing: Option<Continuing>,
    /// Streams the server has not taken yet.
    pub(super) accepted: VecDeque<NewStream>,
    /// Streams with response bytes waiting for the connection window or for room in `out`.
    blocked: Vec<usize>,

    /// What we may send on the connection.
    send_window: i64,
    /// What the peer may still send on the connection.
    recv_window: i64,
    /// Taken (or discarded) and not yet announced.
    recv_released: u32,
    peer_initial_window: u32,
    peer_max_frame_size: u32,
    settings_acked: bool,
    first_frame: bool,

    /// Highest stream id the peer opened.
    pub(super) last_peer_stream: u32,
    /// `GOAWAY` sent: streams above its last id are not served.
    pub(super) goaway_sent: Option<Reason>,
    /// `GOAWAY` received: no new streams will come.
    pub(super) goaway_received: bool,
    /// The connection is over (after an error, or the peer left): flush and close.
    pub(super) closing: Option<ConnError>,

    empty_frames: u32,
    /// Streams we reset lately, whose frames in flight are ignored rather than errors.
    recently_reset: VecDeque<u32>,
    local_error_resets: usize,
    /// Streams the peer reset before the server took them, net of streams answered.
    early_resets: usize,

    /// The connection task's waker, and whether that task is in its pass right now (then
    /// whatever the streams queue is written at the end of the pass without a wake).
    pub(super) conn_waker: Option<Waker>,
    pub(super) in_pass: bool,
    /// The last write would have blocked: the socket's readiness wakes the connection.
    pub(super) write_blocked: bool,
    /// Keep-alive: the payload of our unanswered PING, if any.
    pub(super) ping_out: Option<[u8; 8]>,
    pub(super) pong_received: bool,
}

impl State {
    pub(super) fn new(limits: Limits) -> State {
        let mut state = State {
            streams: Slab::new(),
            open: VecDeque::new(),
            out: WriteBuf::with_capacity(4096),
            encoder: Encoder::new(),
            decoder: Decoder::new(4096),
            block: Vec::new(),
            continuing: None,
            accepted: VecDeque::new(),
            blocked: Vec::new(),
            send_window: i64::from(DEFAULT_WINDOW),
            recv_window: i64::from(DEFAULT_WINDOW),
            recv_released: 0,
            peer_initial_window: DEFAULT_WINDOW,
            peer_max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            settings_acked: false,
            first_frame: true,
            last_peer_stream: 0,
            goaway_sent: None,
            goaway_received: false,
            closing: None,
            empty_frames: 0,
            recently_reset: VecDeque::new(),
            local_error_resets: 0,
            early_resets: 0,
            conn_waker: None,
            in_pass: false,
            write_blocked: false,
            ping_out: None,
            pong_received: false,
            limits,
        };
        state.send_preface();
        state
    }

    /// Our SETTINGS, and the connection window beyond the protocol's 64 KiB.
    fn send_preface(&mut self) {
        let limits = &self.limits;
        let header_list = u32::try_from(limits.max_header_list_size).unwrap_or(u32::MAX);
        let params = [
            (frame::SETTINGS_ENABLE_PUSH, 0),
            (
                frame::SETTINGS_MAX_CONCURRENT_STREAMS,
                limits.max_concurrent_streams,
            ),
            (frame::SETTINGS_INITIAL_WINDOW_SIZE, limits.stream_window),
            (frame::SETTINGS_MAX_FRAME_SIZE, limits.max_frame_size),
            (frame::SETTINGS_MAX_HEADER_LIST_SIZE, header_list),
        ];
        let extra = limits.connection_window.saturating_sub(DEFAULT_WINDOW);
        frame::put_settings(self.out.tail(), &params);
        if extra > 0 {
            frame::put_window_update(self.out.tail(), 0, extra);
            self.recv_window += i64::from(extra);
        }
        self.out.commit();
    }

    /// Wakes the connection task, unless it is running its pass (it writes at the end).
    pub(super) fn wake_conn(&mut self) {
        if !self.in_pass {
            if let Some(waker) = &self.conn_waker {
                waker.wake_by_ref();
            }
        }
    }

    pub(super) fn stream(&self, key: usize, id: u32) -> Option<&Stream> {
        self.streams.get(key).filter(|s| s.id == id)
    }

    pub(super) fn stream_mut(&mut self, key: usize, id: u32) -> Option<&mut Stream> {
        self.streams.get_mut(key).filter(|s| s.id == id)
    }

    fn open_key(&self, id: u32) -> Option<usize> {
        let at = self.open.binary_search_by_key(&id, |&(id, _)| id).ok()?;
        self.open.get(at).map(|&(_, key)| key)
    }

    pub(super) fn has_open_streams(&self) -> bool {
        !self.open.is_empty()
    }

    // ---- Receiving --------------------------------------------------------------------

    /// Applies one frame. A stream error resets that stream and returns `Ok`.
    pub(super) fn recv_frame(&mut self, frame: Frame) -> Result<(), ConnError> {
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
    pub(super) fn stream_error(&mut self, id: u32, reason: Reason) -> Result<(), ConnError> {
        self.reset_stream(id, reason);
        self.count_local_reset()
    }

    fn check_block_size(&self) -> Result<(), ConnError> {
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

    fn recv_data(
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
    fn recv_block(&mut self, id: u32, block: Bytes, end_stream: bool) -> Result<(), ConnError> {
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
                    stream.recv_trailers = Some(trailers);
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

    fn recv_request(&mut self, id: u32, block: Bytes, end_stream: bool) -> Result<(), ConnError> {
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
        if end_stream && stream.declared.is_some_and(|d| d != 0) {
            self.queue_reset(id, Reason::PROTOCOL_ERROR);
            return self.count_local_reset();
        }
        // Counted as the server's until it takes the stream; see `NewStream`.
        stream.send_refs = 1;
        let key = self.streams.insert(stream);
        self.open.push_back((id, key));
        self.accepted.push_back(NewStream { key, id, head });
        Ok(())
    }

    fn recv_reset(&mut self, id: u32, reason: Reason) -> Result<(), ConnError> {
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

    fn recv_settings(&mut self, settings: Settings) -> Result<(), ConnError> {
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
                self.open_windows();
            }
        }
        frame::put_settings_ack(self.out.tail());
        self.out.commit();
        Ok(())
    }

    fn recv_window_update(&mut self, id: u32, increment: u32) -> Result<(), ConnError> {
        let increment = i64::from(increment);
        if id == 0 {
            self.send_window += increment;
            if self.send_window > i64::from(MAX_WINDOW) {
                return Err(ConnError::new(
                    Reason::FLOW_CONTROL_ERROR,
                    "connection window overflow",
                ));
            }
            self.open_windows();
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
    fn not_idle(&self, id: u32, what: &'static str) -> Result<(), ConnError> {
        if id > self.last_peer_stream {
            return Err(ConnError::new(Reason::PROTOCOL_ERROR, what));
        }
        Ok(())
    }

    fn count_local_reset(&mut self) -> Result<(), ConnError> {
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

    // ---- Windows ----------------------------------------------------------------------

    /// Bytes of the connection window given back: announced once half the window is due,
    /// so a steady upload costs one WINDOW_UPDATE per half window, not one per frame.
    pub(super) fn release_connection(&mut self, len: u32) {
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
    pub(super) fn release_stream(&mut self, key: usize, id: u32, len: usize) {
        let len32 = u32::try_from(len).unwrap_or(u32::MAX);
        if let Some(stream) = self.stream_mut(key, id) {
            stream.recv_buffered = stream.recv_buffered.saturating_sub(len);
        }
        self.credit_stream(key, len32);
        self.release_connection(len32);
    }

    /// Gives `len` bytes back to a stream's window (announced once half the window is due).
    fn credit_stream(&mut self, key: usize, len: u32) {
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

    /// Window opened (connection or initial): send what waited, and wake the senders.
    fn open_windows(&mut self) {
        let keys: Vec<usize> = self.streams.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.flush_stream(key);
            if let Some(stream) = self.streams.get_mut(key) {
                stream.wake_send();
            }
        }
    }

    /// The write queue drained below its limit: streams held back by it may go on.
    pub(super) fn out_drained(&mut self) {
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
    pub(super) fn capacity(&self, stream: &Stream) -> usize {
        if self.out.len() >= self.limits.max_send_buffer {
            return 0;
        }
        let window = stream.send_window.min(self.send_window) - stream.pending_len as i64;
        usize::try_from(window.max(0)).unwrap_or(0)
    }

    /// Parks a stream until window or queue room opens.
    pub(super) fn wait_capacity(&mut self, key: usize) {
        if !self.blocked.contains(&key) {
            self.blocked.push(key);
        }
    }

    // ---- Sending ----------------------------------------------------------------------

    pub(super) fn send_head(
        &mut self,
        key: usize,
        id: u32,
        head: &Response<()>,
        extra: &Extra,
        end: bool,
    ) -> Result<(), ()> {
        match self.stream(key, id) {
            Some(stream) if stream.reset.is_none() && !stream.send_end => {}
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

    pub(super) fn send_data(
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

    pub(super) fn send_trailers(
        &mut self,
        key: usize,
        id: u32,
        trailers: HeaderMap,
    ) -> Result<(), ()> {
        let stream = self.sendable(key, id).ok_or(())?;
        stream.pending_trailers = Some(trailers);
        stream.send_end = true;
        self.queued(key);
        Ok(())
    }

    /// The stream, if its response may still take bytes.
    fn sendable(&mut self, key: usize, id: u32) -> Option<&mut Stream> {
        self.stream_mut(key, id)
            .filter(|stream| stream.reset.is_none() && !stream.send_end)
    }

    /// Something was queued on a stream: out with what the windows allow.
    fn queued(&mut self, key: usize) {
        self.flush_stream(key);
        self.after_change(key);
        self.wake_conn();
    }

    /// Moves what a stream has pending into the write queue, as far as the windows and the
    /// queue's limit allow; trailers follow the last byte.
    fn flush_stream(&mut self, key: usize) {
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
            if self.out.len() >= self.limits.max_send_buffer {
                if !self.blocked.contains(&key) {
                    self.blocked.push(key);
                }
                return;
            }
            let window = stream.send_window.min(self.send_window);
            let Ok(window) = usize::try_from(window) else {
                if !self.blocked.contains(&key) {
                    self.blocked.push(key);
                }
                return;
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
    fn queue_block(&mut self, id: u32, end_stream: bool) {
        frame::put_headers(
            self.out.tail(),
            id,
            &self.block,
            end_stream,
            self.peer_max_frame_size,
        );
        self.out.commit();
    }

    /// Answers a request without the server (a header list over the limit).
    fn answer_directly(&mut self, id: u32, status: StatusCode, end_stream: bool) {
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

    fn queue_reset(&mut self, id: u32, reason: Reason) {
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
    pub(super) fn reset_stream(&mut self, id: u32, reason: Reason) {
        self.queue_reset(id, reason);
        if let Some(key) = self.open_key(id) {
            self.mark_reset(key, reason);
        }
        self.wake_conn();
    }

    /// The stream is over without completing: drop what it holds, tell its handles.
    fn mark_reset(&mut self, key: usize, reason: Reason) {
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
    fn after_change(&mut self, key: usize) {
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
    fn close(&mut self, key: usize) {
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
    fn collect(&mut self, key: usize) {
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
    pub(super) fn drop_sender(&mut self, key: usize, id: u32) {
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
    pub(super) fn drop_receiver(&mut self, key: usize, id: u32) {
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
    pub(super) fn add_sender(&mut self, key: usize, id: u32) {
        if let Some(stream) = self.stream_mut(key, id) {
            stream.send_refs += 1;
        }
    }

    // ---- The connection as a whole ----------------------------------------------------

    /// `GOAWAY`: no stream above the last one we saw will be served.
    pub(super) fn go_away(&mut self, reason: Reason) {
        if self.goaway_sent.is_some() && reason == Reason::NO_ERROR {
            return;
        }
        self.goaway_sent = Some(reason);
        frame::put_goaway(self.out.tail(), self.last_peer_stream, reason, &[]);
        self.out.commit();
    }

    /// The connection is over: every stream still open is gone.
    pub(super) fn fail_all(&mut self) {
        self.accepted.clear();
        let keys: Vec<usize> = self.streams.iter().map(|(key, _)| key).collect();
        for key in keys {
            if let Some(stream) = self.streams.get_mut(key) {
                if !stream.closed {
                    stream.reset = Some(Reason::CANCEL);
                    stream.recv_end = true;
                    stream.send_end = true;
                    stream.pending.clear();
                    stream.pending_len = 0;
                    stream.wake_all();
                }
            }
            self.close(key);
        }
        self.blocked.clear();
    }

    /// An idle connection gives back its write queue's and scratch buffers.
    pub(super) fn shrink(&mut self) {
        self.out.shrink();
        self.block = Vec::new();
        self.decoder.shrink();
    }

    /// Queues a keep-alive PING.
    pub(super) fn send_ping(&mut self, payload: [u8; 8]) {
        self.ping_out = Some(payload);
        frame::put_ping(self.out.tail(), false, payload);
        self.out.commit();
    }

    pub(super) fn frame_error(&mut self, err: FrameError) -> Result<(), ConnError> {
        match err {
            FrameError::Connection(reason, what) => Err(ConnError::new(reason, what)),
            // No RST_STREAM on an idle stream (RFC 9113 §6.4): the whole connection instead,
            // as §5.4.1 allows for any stream error.
            FrameError::Stream(id, reason) if id > self.last_peer_stream => {
                Err(ConnError::new(reason, "stream error on an idle stream"))
            }
            FrameError::Stream(id, reason) => self.stream_error(id, reason),
        }
    }
}
