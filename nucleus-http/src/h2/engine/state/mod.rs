//! The protocol state of one connection, shared by the connection task and the stream
//! handles: what each received frame does (RFC 9113 §5, §6), the streams and their windows,
//! and the outgoing frames, encoded into one write queue in the order they are made.
//!
//! Every stream runs on the connection's task, so the lock around this state is uncontended;
//! it is a lock at all because a handler may move its request body to a task of its own.

mod recv;
mod send;

use std::collections::VecDeque;
use std::task::Waker;

use bytes::BytesMut;
use slab::Slab;

use super::request::Head;
use super::stream::Stream;
use crate::h1::io::WriteBuf;
use crate::h2::frame::{self, FrameError, Reason};
use crate::h2::hpack::{Decoder, Encoder};

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

    /// `GOAWAY`: no stream above the last one we saw will be served.
    pub(super) fn go_away(&mut self, reason: Reason) {
        if self.goaway_sent.is_some() && reason == Reason::NO_ERROR {
            return;
        }
        self.goaway_sent = Some(reason);
        frame::put_goaway(self.out.tail(), self.last_peer_stream, reason, &[]);
        self.out.commit();
    }

    /// The peer half-closed the TCP connection: no frame will come. A stream whose request is
    /// complete keeps going, and its response can still be read (nghttp2 does the same); one
    /// whose request is not is reset, as the rest cannot come; GOAWAY says no new stream will
    /// be served. Returns whether a stream is left to answer.
    pub(super) fn peer_stopped_sending(&mut self) -> bool {
        let unfinished: Vec<u32> = self
            .open
            .iter()
            .filter(|&&(_, key)| self.streams.get(key).is_some_and(|s| !s.recv_end))
            .map(|&(id, _)| id)
            .collect();
        for id in unfinished {
            self.reset_stream(id, Reason::CANCEL);
        }
        if !self.has_open_streams() {
            return false;
        }
        self.go_away(Reason::NO_ERROR);
        true
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
