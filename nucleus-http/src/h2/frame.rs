//! HTTP/2 frame codec (RFC 9113 §4 and §6), server side.
//!
//! A pure codec: [`decode`] takes one frame off the front of the read buffer and checks
//! everything that can be checked from that frame alone; serializers append frames to a
//! caller's `Vec<u8>`. Anything that needs connection or stream state (stream states,
//! CONTINUATION sequencing, flow-control windows, HPACK) belongs to the layer above.
//!
//! Everything here reads peer bytes, so the module denies the two lints that would let a
//! malformed frame reach a panic: slice indexing and unchecked arithmetic.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

/// The client connection preface (§3.4), which precedes the client's first SETTINGS frame.
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Length of the fixed frame head (§4.1).
pub(crate) const HEAD_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE until the peer says otherwise, and its lowest legal value (§6.5.2).
pub(crate) const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// Highest legal SETTINGS_MAX_FRAME_SIZE: the 24-bit length field's limit (§6.5.2).
pub(crate) const MAX_MAX_FRAME_SIZE: u32 = 16_777_215;
/// Largest flow-control window and window increment (§6.9.1).
pub(crate) const MAX_WINDOW: u32 = (1 << 31) - 1;

// Frame types (§6).
pub(crate) const KIND_DATA: u8 = 0x0;
pub(crate) const KIND_HEADERS: u8 = 0x1;
pub(crate) const KIND_PRIORITY: u8 = 0x2;
pub(crate) const KIND_RST_STREAM: u8 = 0x3;
pub(crate) const KIND_SETTINGS: u8 = 0x4;
pub(crate) const KIND_PUSH_PROMISE: u8 = 0x5;
pub(crate) const KIND_PING: u8 = 0x6;
pub(crate) const KIND_GOAWAY: u8 = 0x7;
pub(crate) const KIND_WINDOW_UPDATE: u8 = 0x8;
pub(crate) const KIND_CONTINUATION: u8 = 0x9;

// Frame flags (§6); which ones a type defines is listed with each type.
pub(crate) const FLAG_END_STREAM: u8 = 0x1;
pub(crate) const FLAG_ACK: u8 = 0x1;
pub(crate) const FLAG_END_HEADERS: u8 = 0x4;
pub(crate) const FLAG_PADDED: u8 = 0x8;
pub(crate) const FLAG_PRIORITY: u8 = 0x20;

// SETTINGS identifiers (§6.5.2; RFC 8441 §3 for ENABLE_CONNECT_PROTOCOL).
pub(crate) const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub(crate) const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub(crate) const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub(crate) const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub(crate) const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
pub(crate) const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;
pub(crate) const SETTINGS_ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

/// Stream identifiers and window increments are 31 bits; the top bit is reserved, ignored on
/// receipt and left unset when sending (§4.1, §6.9).
const U31_MASK: u32 = 0x7fff_ffff;

/// An HTTP/2 error code (RFC 9113 §7); unknown codes are kept as they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reason(pub(crate) u32);

impl Reason {
    pub(crate) const NO_ERROR: Reason = Reason(0x0);
    pub(crate) const PROTOCOL_ERROR: Reason = Reason(0x1);
    pub(crate) const INTERNAL_ERROR: Reason = Reason(0x2);
    pub(crate) const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    pub(crate) const STREAM_CLOSED: Reason = Reason(0x5);
    pub(crate) const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    pub(crate) const REFUSED_STREAM: Reason = Reason(0x7);
    pub(crate) const CANCEL: Reason = Reason(0x8);
    pub(crate) const COMPRESSION_ERROR: Reason = Reason(0x9);
    pub(crate) const ENHANCE_YOUR_CALM: Reason = Reason(0xb);

    /// The code's name as RFC 9113 §7 spells it, for logs; None for codes it doesn't define
    /// (§7: unknown codes must not trigger special behaviour, so they are only shown as numbers).
    pub(crate) fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        usize::try_from(self.0)
            .ok()
            .and_then(|i| NAMES.get(i))
            .copied()
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "error code {:#x}", self.0),
        }
    }
}

/// What a malformed frame costs (RFC 9113 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Close the connection with GOAWAY(reason); the str says what was wrong, for logs.
    Connection(Reason, &'static str),
    /// Reset this stream with RST_STREAM(reason); the connection goes on (the frame is consumed).
    Stream(u32, Reason),
}

/// Priority fields of HEADERS and PRIORITY frames (RFC 9113 §5.3.2, deprecated signalling that
/// must still be parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Priority {
    pub(crate) dependency: u32,
    pub(crate) exclusive: bool,
    /// As on the wire: the weight is this plus one (1..=256).
    pub(crate) weight: u8,
}

/// SETTINGS parameters the peer sent (None: not in this frame). Unknown identifiers are
/// ignored (§6.5.2). Repeated identifiers: the last one wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) header_table_size: Option<u32>,
    pub(crate) enable_push: Option<bool>,
    pub(crate) max_concurrent_streams: Option<u32>,
    pub(crate) initial_window_size: Option<u32>,
    pub(crate) max_frame_size: Option<u32>,
    pub(crate) max_header_list_size: Option<u32>,
    pub(crate) enable_connect_protocol: Option<bool>,
}

/// One decoded frame. Stream identifiers have the reserved bit masked off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// `data` has the padding removed; `flow_len` is the whole payload length (padding and pad
    /// length byte included), which is what flow control counts (§6.9.1).
    Data {
        stream: u32,
        data: Bytes,
        end_stream: bool,
        flow_len: u32,
    },
    /// `fragment`: the header block fragment, padding and priority fields removed.
    Headers {
        stream: u32,
        fragment: Bytes,
        end_stream: bool,
        end_headers: bool,
        priority: Option<Priority>,
    },
    Priority {
        stream: u32,
        priority: Priority,
    },
    RstStream {
        stream: u32,
        reason: Reason,
    },
    Settings {
        ack: bool,
        settings: Settings,
    },
    /// Only the stream is kept: clients must not send PUSH_PROMISE (§8.4), so the engine
    /// answers it with a connection error whatever it holds.
    PushPromise {
        stream: u32,
    },
    Ping {
        ack: bool,
        payload: [u8; 8],
    },
    GoAway {
        last_stream: u32,
        reason: Reason,
        debug: Bytes,
    },
    WindowUpdate {
        stream: u32,
        increment: u32,
    },
    Continuation {
        stream: u32,
        fragment: Bytes,
        end_headers: bool,
    },
    /// An unknown frame type: ignored by the receiver (§4.1, §5.5).
    Unknown {
        kind: u8,
        stream: u32,
    },
}

/// The 9-byte frame head (§4.1).
#[derive(Debug, Clone, Copy)]
struct Head {
    len: u32,
    kind: u8,
    flags: u8,
    stream: u32,
}

impl Head {
    fn read(buf: &[u8]) -> Option<Head> {
        let &[l0, l1, l2, kind, flags, s0, s1, s2, s3] = buf.first_chunk::<HEAD_LEN>()?;
        Some(Head {
            len: u32::from_be_bytes([0, l0, l1, l2]),
            kind,
            flags,
            stream: u32::from_be_bytes([s0, s1, s2, s3]) & U31_MASK,
        })
    }

    fn has(self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Head plus payload. The length field is 24 bits, so this cannot overflow; saturating
    /// keeps the arithmetic lint honest without a branch that could never be taken.
    fn total_len(self) -> usize {
        HEAD_LEN.saturating_add(self.len as usize)
    }
}

/// How many bytes the frame at the front of `buf` needs in total (head + payload), once its
/// head is here: lets the caller reserve read-buffer space. None if fewer than 9 bytes.
pub(crate) fn frame_len(buf: &[u8]) -> Option<usize> {
    Head::read(buf).map(Head::total_len)
}

/// Takes the next complete frame off the front of `buf`. `Ok(None)`: not all of it is here yet
/// (nothing is consumed). `max_frame_size`: the SETTINGS_MAX_FRAME_SIZE this endpoint
/// advertised; a longer frame is a connection error FRAME_SIZE_ERROR (§4.2) — decided from
/// the 9-byte head alone, before the payload arrives, so a peer cannot make us buffer it.
/// When a Stream error is returned, the whole frame has been consumed from `buf`.
///
/// After a Connection error the connection is over and what is left in `buf` is unspecified
/// (the oversize error consumes nothing; every other error consumes the frame).
///
/// Payloads (`data`, `fragment`, `debug`) are split off `buf` without copying or allocating.
pub(crate) fn decode(buf: &mut BytesMut, max_frame_size: u32) -> Result<Option<Frame>, FrameError> {
    let Some(head) = Head::read(buf) else {
        return Ok(None);
    };
    if head.len > max_frame_size {
        return Err(FrameError::Connection(
            Reason::FRAME_SIZE_ERROR,
            "frame longer than our SETTINGS_MAX_FRAME_SIZE",
        ));
    }
    let total = head.total_len();
    let Some(payload) = buf.get(HEAD_LEN..total) else {
        return Ok(None);
    };
    match parse(head, payload) {
        Ok((mut frame, keep)) => {
            if keep.is_empty() {
                // Nothing to hand out: dropping the bytes is cheaper than splitting them off,
                // which would touch the buffer's reference count.
                buf.advance(total);
            } else {
                let mut whole = buf.split_to(total);
                // `keep` lies inside the payload by construction; `min` makes that hold even
                // if it somehow did not, so no peer input can reach `advance`'s panic.
                whole.advance(HEAD_LEN.saturating_add(keep.start.min(payload_len(head))));
                whole.truncate(keep.len());
                attach(&mut frame, whole.freeze());
            }
            Ok(Some(frame))
        }
        Err(err) => {
            // A Stream error must leave the connection able to go on with the next frame.
            buf.advance(total);
            Err(err)
        }
    }
}

fn payload_len(head: Head) -> usize {
    head.len as usize
}

fn conn(reason: Reason, why: &'static str) -> FrameError {
    FrameError::Connection(reason, why)
}

/// Validates one whole frame. Returns the frame with its `Bytes` field (if any) still empty,
/// plus the range of the payload that belongs in that field; `decode` splits that range off
/// the read buffer and [`attach`]es it. Parsing on a borrowed slice lets control frames skip
/// the split entirely.
fn parse(head: Head, p: &[u8]) -> Result<(Frame, Range<usize>), FrameError> {
    let stream = head.stream;
    let nothing = 0..0;
    match head.kind {
        KIND_DATA => {
            // §6.1: DATA frames MUST be associated with a stream.
            if stream == 0 {
                return Err(conn(Reason::PROTOCOL_ERROR, "DATA on stream 0"));
            }
            let (_, keep) = padded_body(head, p, false)?;
            let frame = Frame::Data {
                stream,
                data: Bytes::new(),
                end_stream: head.has(FLAG_END_STREAM),
                flow_len: head.len,
            };
            Ok((frame, keep))
        }
        KIND_HEADERS => {
            // §6.2: HEADERS frames MUST be associated with a stream.
            if stream == 0 {
                return Err(conn(Reason::PROTOCOL_ERROR, "HEADERS on stream 0"));
            }
            let (priority, keep) = padded_body(head, p, head.has(FLAG_PRIORITY))?;
            if priority.is_some_and(|pr| pr.dependency == stream) {
                // §5.3.1 makes this a stream error, but a stream error here would drop the
                // header block fragment unread, and skipping a block desynchronizes the HPACK
                // dynamic table for every later request on the connection (§4.3). §5.4.1 lets
                // any stream error be treated as a connection error; that is the safe one.
                return Err(conn(
                    Reason::PROTOCOL_ERROR,
                    "HEADERS stream depends on itself",
                ));
            }
            let frame = Frame::Headers {
                stream,
                fragment: Bytes::new(),
                end_stream: head.has(FLAG_END_STREAM),
                end_headers: head.has(FLAG_END_HEADERS),
                priority,
            };
            Ok((frame, keep))
        }
        KIND_PRIORITY => {
            // §6.3.
            if stream == 0 {
                return Err(conn(Reason::PROTOCOL_ERROR, "PRIORITY on stream 0"));
            }
            let fields = <&[u8; 5]>::try_from(p)
                .map_err(|_| FrameError::Stream(stream, Reason::FRAME_SIZE_ERROR))?;
            let priority = read_priority(fields);
            if priority.dependency == stream {
                // No header block here, so the stream error §5.3.1 asks for loses nothing.
                return Err(FrameError::Stream(stream, Reason::PROTOCOL_ERROR));
            }
            Ok((Frame::Priority { stream, priority }, nothing))
        }
        KIND_RST_STREAM => {
            // §6.4.
            if stream == 0 {
                return Err(conn(Reason::PROTOCOL_ERROR, "RST_STREAM on stream 0"));
            }
            let &code = <&[u8; 4]>::try_from(p).map_err(|_| {
                conn(
                    Reason::FRAME_SIZE_ERROR,
                    "RST_STREAM payload is not 4 bytes",
                )
            })?;
            let reason = Reason(u32::from_be_bytes(code));
            Ok((Frame::RstStream { stream, reason }, nothing))
        }
        KIND_SETTINGS => {
            let (ack, settings) = parse_settings(head, p)?;
            Ok((Frame::Settings { ack, settings }, nothing))
        }
        KIND_PUSH_PROMISE => {
            // §6.6. Nothing else is worth checking: the engine rejects the frame outright.
            if stream == 0 {
                return Err(conn(Reason::PROTOCOL_ERROR, "PUSH_PROMISE on stream 0"));
            }
            Ok((Frame::PushPromise { stream }, nothing))
        }
        KIND_PING => {
            // §6.7.
            if stream != 0 {
                return Err(conn(Reason::PROTOCOL_ERROR, "PING on a stream"));
            }
            let &payload = <&[u8; 8]>::try_from(p)
                .map_err(|_| conn(Reason::FRAME_SIZE_ERROR, "PING payload is not 8 bytes"))?;
            let ack = head.has(FLAG_ACK);
            Ok((Frame::Ping { ack, payload }, nothing))
        }
        KIND_GOAWAY => {
            // §6.8.
            if stream != 0 {
                return Err(conn(Reason::PROTOCOL_ERROR, "GOAWAY on a stream"));
            }
            let Some((&[l0, l1, l2, l3, c0, c1, c2, c3], _)) = p.split_first_chunk::<8>() else {
                return Err(conn(
                    Reason::FRAME_SIZE_ERROR,
                    "GOAWAY shorter than 8 bytes",
                ));
            };
            let frame = Frame::GoAway {
                last_stream: u32::from_be_bytes([l0, l1, l2, l3]) & U31_MASK,
                reason: Reason(u32::from_be_bytes([c0, c1, c2, c3])),
                debug: Bytes::new(),
            };
            Ok((frame, 8..p.len()))
        }
        KIND_WINDOW_UPDATE => {
            // §6.9. Valid on any stream, 0 meaning the connection.
            let &bytes = <&[u8; 4]>::try_from(p).map_err(|_| {
                conn(
                    Reason::FRAME_SIZE_ERROR,
                    "WINDOW_UPDATE payload is not 4 bytes",
                )
            })?;
            let increment = u32::from_be_bytes(bytes) & U31_MASK;
            if increment == 0 {
                return Err(if stream == 0 {
                    conn(Reason::PROTOCOL_ERROR, "WINDOW_UPDATE with increment 0")
                } else {
                    FrameError::Stream(stream, Reason::PROTOCOL_ERROR)
                });
            }
            Ok((Frame::WindowUpdate { stream, increment }, nothing))
        }
        KIND_CONTINUATION => {
            // §6.10.
            if stream == 0 {
                return Err(conn(Reason::PROTOCOL_ERROR, "CONTINUATION on stream 0"));
            }
            let frame = Frame::Continuation {
                stream,
                fragment: Bytes::new(),
                end_headers: head.has(FLAG_END_HEADERS),
            };
            Ok((frame, 0..p.len()))
        }
        // §4.1, §5.5: unknown types are ignored, whatever their flags and stream.
        kind => Ok((Frame::Unknown { kind, stream }, nothing)),
    }
}

/// Puts the payload bytes that `parse` set aside into the frame's `Bytes` field.
fn attach(frame: &mut Frame, bytes: Bytes) {
    match frame {
        Frame::Data { data: slot, .. }
        | Frame::Headers { fragment: slot, .. }
        | Frame::Continuation { fragment: slot, .. }
        | Frame::GoAway { debug: slot, .. } => *slot = bytes,
        _ => {}
    }
}

/// Splits a DATA or HEADERS payload (§6.1, §6.2) into its optional priority fields and the
/// range of the data / header block fragment, honouring PADDED (and PRIORITY when
/// `with_priority`).
fn padded_body(
    head: Head,
    p: &[u8],
    with_priority: bool,
) -> Result<(Option<Priority>, Range<usize>), FrameError> {
    let mut rest = p;
    let mut pad = 0usize;
    if head.has(FLAG_PADDED) {
        // §4.2: a frame too small for its mandatory fields is a FRAME_SIZE_ERROR; both frame
        // types can change connection state (HPACK, connection window), so on the connection.
        let Some((&n, tail)) = rest.split_first() else {
            return Err(conn(
                Reason::FRAME_SIZE_ERROR,
                "PADDED frame without pad length",
            ));
        };
        pad = usize::from(n);
        rest = tail;
    }
    let mut priority = None;
    if with_priority {
        let Some((fields, tail)) = rest.split_first_chunk::<5>() else {
            return Err(conn(
                Reason::FRAME_SIZE_ERROR,
                "HEADERS too short for priority",
            ));
        };
        priority = Some(read_priority(fields));
        rest = tail;
    }
    // §6.1, §6.2: padding at least as long as the payload is a PROTOCOL_ERROR. With the pad
    // length byte (and priority fields) taken off, that is padding longer than what is left.
    let Some(body_len) = rest.len().checked_sub(pad) else {
        return Err(conn(
            Reason::PROTOCOL_ERROR,
            "padding longer than the payload",
        ));
    };
    // Where `rest` starts in `p`: both lengths describe the same tail, so no underflow.
    let start = p.len().saturating_sub(rest.len());
    Ok((priority, start..start.saturating_add(body_len)))
}

/// The 5 priority bytes: E flag + 31-bit dependency, then the weight (§6.2, §6.3).
fn read_priority(fields: &[u8; 5]) -> Priority {
    let &[d0, d1, d2, d3, weight] = fields;
    let dep = u32::from_be_bytes([d0, d1, d2, d3]);
    Priority {
        dependency: dep & U31_MASK,
        exclusive: dep & !U31_MASK != 0,
        weight,
    }
}

/// §6.5: SETTINGS frame checks and parameter values (§6.5.2).
fn parse_settings(head: Head, p: &[u8]) -> Result<(bool, Settings), FrameError> {
    if head.stream != 0 {
        return Err(conn(Reason::PROTOCOL_ERROR, "SETTINGS on a stream"));
    }
    let ack = head.has(FLAG_ACK);
    if ack {
        if !p.is_empty() {
            return Err(conn(
                Reason::FRAME_SIZE_ERROR,
                "SETTINGS ACK with a payload",
            ));
        }
        return Ok((true, Settings::default()));
    }
    if !p.len().is_multiple_of(6) {
        return Err(conn(
            Reason::FRAME_SIZE_ERROR,
            "SETTINGS length not a multiple of 6",
        ));
    }
    let mut s = Settings::default();
    let mut rest = p;
    while let Some((&[i0, i1, v0, v1, v2, v3], tail)) = rest.split_first_chunk::<6>() {
        rest = tail;
        let value = u32::from_be_bytes([v0, v1, v2, v3]);
        match u16::from_be_bytes([i0, i1]) {
            SETTINGS_HEADER_TABLE_SIZE => s.header_table_size = Some(value),
            SETTINGS_ENABLE_PUSH => {
                s.enable_push = Some(flag_value(value, "SETTINGS_ENABLE_PUSH not 0 or 1")?);
            }
            SETTINGS_MAX_CONCURRENT_STREAMS => s.max_concurrent_streams = Some(value),
            SETTINGS_INITIAL_WINDOW_SIZE => {
                if value > MAX_WINDOW {
                    return Err(conn(
                        Reason::FLOW_CONTROL_ERROR,
                        "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                    ));
                }
                s.initial_window_size = Some(value);
            }
            SETTINGS_MAX_FRAME_SIZE => {
                if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) {
                    return Err(conn(
                        Reason::PROTOCOL_ERROR,
                        "SETTINGS_MAX_FRAME_SIZE outside [2^14, 2^24-1]",
                    ));
                }
                s.max_frame_size = Some(value);
            }
            SETTINGS_MAX_HEADER_LIST_SIZE => s.max_header_list_size = Some(value),
            SETTINGS_ENABLE_CONNECT_PROTOCOL => {
                // RFC 8441 §3: only 0 and 1 are defined.
                s.enable_connect_protocol = Some(flag_value(
                    value,
                    "SETTINGS_ENABLE_CONNECT_PROTOCOL not 0 or 1",
                )?);
            }
            // §6.5.2: unknown or unsupported identifiers MUST be ignored.
            _ => {}
        }
    }
    Ok((false, s))
}

fn flag_value(value: u32, why: &'static str) -> Result<bool, FrameError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(conn(Reason::PROTOCOL_ERROR, why)),
    }
}

// ---------------------------------------------------------------------------------------------
// Serialization. Inputs come from this endpoint, not the peer; lengths are the caller's
// contract (at most the peer's SETTINGS_MAX_FRAME_SIZE), checked in debug builds.

/// Appends a 9-byte frame head. `len` must fit the 24-bit length field; the stream id's
/// reserved bit is cleared, as §4.1 requires of senders.
pub(crate) fn put_head(dst: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(
        len <= MAX_MAX_FRAME_SIZE as usize,
        "frame length {len} over 2^24-1"
    );
    debug_assert!(
        stream <= U31_MASK,
        "stream id {stream} uses the reserved bit"
    );
    let [_, l0, l1, l2] = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    let [s0, s1, s2, s3] = (stream & U31_MASK).to_be_bytes();
    dst.extend_from_slice(&[l0, l1, l2, kind, flags, s0, s1, s2, s3]);
}

/// A SETTINGS frame carrying `params` (identifier, value) in order.
pub(crate) fn put_settings(dst: &mut Vec<u8>, params: &[(u16, u32)]) {
    let len = params.len().saturating_mul(6);
    dst.reserve(HEAD_LEN.saturating_add(len));
    put_head(dst, len, KIND_SETTINGS, 0, 0);
    for &(id, value) in params {
        let [i0, i1] = id.to_be_bytes();
        let [v0, v1, v2, v3] = value.to_be_bytes();
        dst.extend_from_slice(&[i0, i1, v0, v1, v2, v3]);
    }
}

pub(crate) fn put_settings_ack(dst: &mut Vec<u8>) {
    put_head(dst, 0, KIND_SETTINGS, FLAG_ACK, 0);
}

pub(crate) fn put_ping(dst: &mut Vec<u8>, ack: bool, payload: [u8; 8]) {
    put_head(dst, 8, KIND_PING, if ack { FLAG_ACK } else { 0 }, 0);
    dst.extend_from_slice(&payload);
}

/// `debug` is cut to what fits the smallest frame size any peer must accept, so the GOAWAY
/// itself can never be the frame-size error that ends the connection badly.
pub(crate) fn put_goaway(dst: &mut Vec<u8>, last_stream: u32, reason: Reason, debug: &[u8]) {
    const ROOM: usize = DEFAULT_MAX_FRAME_SIZE as usize - 8;
    let debug = debug.get(..ROOM).unwrap_or(debug);
    let len = debug.len().saturating_add(8);
    dst.reserve(HEAD_LEN.saturating_add(len));
    put_head(dst, len, KIND_GOAWAY, 0, 0);
    dst.extend_from_slice(&(last_stream & U31_MASK).to_be_bytes());
    dst.extend_from_slice(&reason.0.to_be_bytes());
    dst.extend_from_slice(debug);
}

pub(crate) fn put_rst_stream(dst: &mut Vec<u8>, stream: u32, reason: Reason) {
    put_head(dst, 4, KIND_RST_STREAM, 0, stream);
    dst.extend_from_slice(&reason.0.to_be_bytes());
}

/// `increment` must be in 1..=2^31-1 (§6.9: 0 is a protocol error at the peer).
pub(crate) fn put_window_update(dst: &mut Vec<u8>, stream: u32, increment: u32) {
    debug_assert!(
        (1..=MAX_WINDOW).contains(&increment),
        "bad increment {increment}"
    );
    put_head(dst, 4, KIND_WINDOW_UPDATE, 0, stream);
    dst.extend_from_slice(&(increment & U31_MASK).to_be_bytes());
}

/// A header block already HPACK-encoded: one HEADERS frame, or HEADERS + CONTINUATION frames
/// when the block is longer than `max_frame_size` (the peer's SETTINGS_MAX_FRAME_SIZE).
/// END_STREAM goes on the HEADERS frame, END_HEADERS on the last frame of the run.
///
/// `max_frame_size` is clamped to the legal range, so a bogus value (0 would never finish)
/// still yields frames every peer accepts.
pub(crate) fn put_headers(
    dst: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
) {
    let max = max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE) as usize;
    let frames = block.len().div_ceil(max).max(1);
    dst.reserve(block.len().saturating_add(frames.saturating_mul(HEAD_LEN)));
    let mut kind = KIND_HEADERS;
    // §6.10: END_STREAM belongs to HEADERS only; CONTINUATION doesn't define it.
    let mut flags = if end_stream { FLAG_END_STREAM } else { 0 };
    let mut rest = block;
    loop {
        let (chunk, tail) = rest
            .split_at_checked(max.min(rest.len()))
            .unwrap_or((rest, &[]));
        if tail.is_empty() {
            flags |= FLAG_END_HEADERS;
        }
        put_head(dst, chunk.len(), kind, flags, stream);
        dst.extend_from_slice(chunk);
        if tail.is_empty() {
            return;
        }
        rest = tail;
        kind = KIND_CONTINUATION;
        flags = 0;
    }
}

/// Only the 9-byte head of a DATA frame; the caller queues the payload after it (no copy).
pub(crate) fn put_data_head(dst: &mut Vec<u8>, stream: u32, len: u32, end_stream: bool) {
    let flags = if end_stream { FLAG_END_STREAM } else { 0 };
    put_head(dst, len as usize, KIND_DATA, flags, stream);
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
