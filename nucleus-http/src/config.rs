//! Limits and tuning of the engine (HTTP/1.1 and HTTP/2), each with a documented, safe default.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use crate::observe::Observe;

/// Limits and tuning for connections, HTTP/1.1 and HTTP/2.
///
/// Every limit exists because an unbounded one is a denial-of-service lever; each default
/// says why it has the value it has.
///
/// # Examples
///
/// ```
/// let mut config = nucleus_http::Config::default();
/// config.max_body_size = 16 * 1024 * 1024; // 16 MiB uploads
/// config.max_requests_per_connection = Some(1_000);
/// let server = nucleus_http::Server::builder().config(config);
/// # let _ = server;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Longest request target (URI) accepted, in bytes; longer gets `414 URI Too Long`.
    /// Default 8 KiB: what nginx's default header buffer allows and far above what browsers
    /// send (they stop near 2 KiB for many servers' sake).
    pub max_uri_len: usize,
    /// Largest request head (request line plus all header fields), in bytes; larger gets
    /// `431 Request Header Fields Too Large` (or 414 while still in the request line).
    /// Default 64 KiB, the same order as hyper's read-buffer cap and nginx's 4×8 KiB buffers.
    pub max_head_size: usize,
    /// Most header fields in one request; more gets `431`. Default 100, as hyper.
    pub max_headers: usize,
    /// Largest request body, in bytes, streamed or collected. A declared `Content-Length`
    /// above it is refused with `413` before any of the body is read; a chunked body that
    /// grows past it ends in an error the framework turns into `413`. Default 1 GiB: bodies
    /// stream through bounded memory, so this bounds time and disk, not RAM. Handlers that
    /// collect a body into memory apply their own, smaller limit.
    pub max_body_size: u64,
    /// Requests served on one connection before it is closed (`Connection: close` on the
    /// last); `None` for no limit. Default 10,000: recycles long-lived connections, as
    /// nginx's `keepalive_requests`, without costing a benchmark anything measurable.
    pub max_requests_per_connection: Option<u64>,
    /// Total bytes of chunk extensions accepted per body. Default 16 KiB, as hyper.
    pub max_chunk_extensions: usize,
    /// Largest trailer section of a chunked body, in bytes. Default 16 KiB.
    pub max_trailer_size: usize,
    /// Bytes of an unread request body the engine reads and discards to keep the connection
    /// alive after the response; a larger remainder closes the connection instead.
    /// Default 256 KiB: cheaper than a new TCP (and TLS) handshake, small enough not to be
    /// a lever.
    pub max_drain: u64,
    /// Initial and minimum free space of a connection's read buffer, in bytes. Default 8 KiB.
    pub read_buffer_size: usize,
    /// Response bytes buffered before the engine writes them out even while more pipelined
    /// requests are waiting. Default 64 KiB.
    pub write_buffer_watermark: usize,
    /// Response body chunks at least this large are written from their own buffer
    /// (vectored write) rather than copied. Default 4 KiB.
    pub write_copy_threshold: usize,
    /// Also put the peer's [`PeerAddr`](crate::PeerAddr) into every request's extensions,
    /// for middleware that reads it there. Off by default: it costs three allocations per
    /// request, and [`PeerAddr::current`](crate::PeerAddr::current) serves the common case.
    pub peer_addr_extension: bool,
    /// Longest wait for a complete request head, counted from accept for the first request
    /// and from the first byte for later ones; then `408` and close. This is the slowloris
    /// defence: a client trickling a header byte a second is cut off here. Default 10 s: a
    /// real client sends its head in one round trip; nginx allows 60 s, hyper 30 s, and both
    /// leave a slowloris more room than it needs. `None` waits forever.
    pub header_read_timeout: Option<Duration>,
    /// How long an idle keep-alive connection waits for its next request before a silent
    /// close. Default 15 s: long enough to span a person's pause between clicks so the next
    /// page reuses the connection, short enough that 10,000 idle sockets come and go within
    /// seconds of a traffic spike (nginx: 75 s, actix: 5 s). `None` never closes idle
    /// connections on a timer.
    pub keep_alive_timeout: Option<Duration>,
    /// Minimum rate at which a request body must arrive while the handler waits for it, after
    /// a grace period; a slower body gets `408` and close. Time the handler spends not reading
    /// does not count. Default: 1 KiB/s, checked over 10 s windows, as ntex's
    /// `frame_read_rate`. `None` disables the check.
    pub body_min_rate: Option<MinRate>,
    /// Minimum rate at which a client must take response bytes while the engine waits to send
    /// them (a "slow read" attack keeps its receive window tiny); a slower client is
    /// disconnected. Default: 1 KiB/s over 10 s windows. `None` disables the check.
    pub send_min_rate: Option<MinRate>,
    /// Longest a handler may take to produce a response head; then `503` and the handler's
    /// future is dropped. Default `None` (off): long polls and uploads are legitimate.
    pub handler_timeout: Option<Duration>,
    /// Kernel send buffer (`SO_SNDBUF`) of each accepted socket, in bytes; `None` leaves
    /// Linux's autotuning, which grows it to 4 MiB. Default 512 KiB (the kernel doubles it
    /// for bookkeeping). Why a cap: a "slow read" client can otherwise park up to 4 MiB of
    /// finished response in the kernel, out of reach of `send_min_rate`, for as long as it
    /// reads a few bytes now and then. The cost: one connection's throughput is bounded by
    /// about 1 MiB per round trip (85 Mbit/s at 100 ms); raise it for large downloads over
    /// long links.
    pub send_buffer_size: Option<usize>,
    /// Built-in liveness endpoint answered by the engine without calling the service;
    /// `None` to disable. Default `/health`.
    pub liveness_path: Option<String>,
    /// Built-in readiness endpoint: `200` while serving, `503` while starting or draining;
    /// `None` to disable. Default `/ready`.
    pub readiness_path: Option<String>,
    /// Receives connection, request and error observations (metrics, access logs); see
    /// [`crate::observe`]. Default `None`: no clock reads, no observation cost beyond a
    /// branch per hook.
    pub observer: Option<Arc<dyn Observe>>,
    /// Header carrying the request ID: a well-formed incoming one (at most 64 bytes of
    /// `[A-Za-z0-9._-]`) is kept, anything else is replaced by a generated one; the ID is
    /// set on the response and readable by handlers through
    /// [`RequestId::current`](crate::observe::RequestId::current). Default `None` (off):
    /// the library adds no header it was not asked for; the `nucleus` binary turns it on
    /// with `x-request-id`.
    pub request_id_header: Option<HeaderName>,
    /// HTTP/2: over TLS when the client offers `h2` in ALPN, and in cleartext (h2c) when a
    /// connection opens with the HTTP/2 preface ("prior knowledge") on an HTTP/1.1 port.
    /// `None` serves HTTP/1.1 only. Needs the `http2` feature (on by default); without it
    /// this is ignored. The body, header and URI limits, the handler timeout and the two
    /// minimum rates above apply to every stream (a stream whose client stops opening its
    /// flow-control window is reset); `header_read_timeout` bounds the wait for the
    /// connection preface and `keep_alive_timeout` closes a connection with no open stream
    /// (with `GOAWAY`).
    pub http2: Option<Http2Config>,
}

/// HTTP/2 limits and tuning, each set explicitly: a default that was wrong in a mature stack
/// (Rapid Reset, CVE-2023-44487; CONTINUATION floods, 2024) is cheaper to spot here than in a
/// dependency. Both framing layers ([`Http2Engine`]) take the same settings.
///
/// The header list is bounded by [`Config::max_head_size`] (enforced while it is decoded,
/// CONTINUATION frames included), the field count by [`Config::max_headers`].
///
/// # Examples
///
/// ```
/// let mut config = nucleus_http::Config::default();
/// if let Some(h2) = config.http2.as_mut() {
///     h2.max_concurrent_streams = 256;
/// }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Http2Config {
    /// Streams a client may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`). Default
    /// 128: RFC 9113 recommends at least 100; browsers open fewer; each open stream can hold a
    /// handler and a send buffer.
    pub max_concurrent_streams: u32,
    /// Initial flow-control window of each stream, in bytes. Default 1 MiB, as hyper: the
    /// spec's 64 KiB caps one stream at 64 KiB per round trip (5 Mbit/s at 100 ms).
    pub initial_stream_window: u32,
    /// Initial flow-control window of the connection, in bytes. Default 1 MiB, as hyper.
    pub initial_connection_window: u32,
    /// Largest frame payload we accept (`SETTINGS_MAX_FRAME_SIZE`). Default 16 KiB, the
    /// spec's minimum and what every client sends anyway.
    pub max_frame_size: u32,
    /// Response bytes the framing may hold for a client. Default 400 KiB, as hyper. With
    /// Nucleus's framing it bounds the connection's whole write queue: above it streams get
    /// no window and no more frames are read. With the `h2` crate it is per stream (`h2`'s
    /// `max_send_buffer_size`). Either way a large body goes out at most one open window at
    /// a time, so a client that stops reading holds its window, not the body.
    pub max_send_buffer: usize,
    /// Streams the client opens and resets before the server takes them (net of streams
    /// answered, with Nucleus's framing); more closes the connection with
    /// `GOAWAY(ENHANCE_YOUR_CALM)`. Default 20, as hyper: the Rapid Reset defence.
    pub max_pending_accept_reset_streams: usize,
    /// Streams we may reset because the client broke a rule on them; more closes the
    /// connection. Default 1,024, as `h2`.
    pub max_local_error_reset_streams: usize,
    /// Streams the client may cancel (`RST_STREAM`) while their handler is still running or
    /// their response still being sent, net of the streams that complete normally; more
    /// closes the connection with `GOAWAY(ENHANCE_YOUR_CALM)`. Default 200. This is the Rapid
    /// Reset defence for the streams we did accept: each costs a handler call, so a client
    /// that cancels nearly everything it asks for is made to stop. A browser cancelling a
    /// few requests while it also completes others never reaches it.
    pub max_cancelled_streams: u32,
    /// Send a `PING` this long after the handshake and after each answer, and close the
    /// connection if no answer comes within `keep_alive_timeout`. Default `None` (off): the
    /// idle timeout already closes quiet connections; turn it on to detect dead peers behind
    /// NATs during long responses.
    pub keep_alive_interval: Option<Duration>,
    /// How long to wait for the answer to a keep-alive `PING`. Default 20 s, as hyper.
    pub keep_alive_timeout: Duration,
    /// Which implementation frames HTTP/2 connections. Default [`Http2Engine::H2Crate`].
    pub engine: Http2Engine,
}

/// The HTTP/2 framing layer: the same request rules, limits, timeouts and handlers either
/// way; they differ in cost per request (see docs/PERFORMANCE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Http2Engine {
    /// The `h2` crate, as hyper uses it.
    H2Crate,
    /// Nucleus's own framing: one lock and one write queue per connection, responses
    /// HPACK-encoded into it as handlers return them.
    #[default]
    Nucleus,
}

impl Default for Http2Config {
    fn default() -> Http2Config {
        Http2Config {
            max_concurrent_streams: 128,
            initial_stream_window: 1024 * 1024,
            initial_connection_window: 1024 * 1024,
            max_frame_size: 16 * 1024,
            max_send_buffer: 400 * 1024,
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1024,
            max_cancelled_streams: 200,
            keep_alive_interval: None,
            keep_alive_timeout: Duration::from_secs(20),
            engine: Http2Engine::default(),
        }
    }
}

/// A minimum transfer rate, enforced over windows of `window` of waiting time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nucleus_http::MinRate;
///
/// let rate = MinRate { bytes_per_second: 4096, window: Duration::from_secs(5) };
/// assert_eq!(rate.bytes_per_window(), 20_480);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    /// Bytes per second required on average over each window.
    pub bytes_per_second: u64,
    /// The grace period and window length.
    pub window: Duration,
}

impl MinRate {
    /// Bytes that must move within one window.
    pub fn bytes_per_window(&self) -> u64 {
        (u128::from(self.bytes_per_second) * self.window.as_millis() / 1000)
            .min(u128::from(u64::MAX)) as u64
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_uri_len: 8 * 1024,
            max_head_size: 64 * 1024,
            max_headers: 100,
            max_body_size: 1024 * 1024 * 1024,
            max_requests_per_connection: Some(10_000),
            max_chunk_extensions: 16 * 1024,
            max_trailer_size: 16 * 1024,
            max_drain: 256 * 1024,
            read_buffer_size: 8 * 1024,
            write_buffer_watermark: 64 * 1024,
            write_copy_threshold: 4 * 1024,
            peer_addr_extension: false,
            header_read_timeout: Some(Duration::from_secs(10)),
            keep_alive_timeout: Some(Duration::from_secs(15)),
            body_min_rate: Some(MinRate {
                bytes_per_second: 1024,
                window: Duration::from_secs(10),
            }),
            send_min_rate: Some(MinRate {
                bytes_per_second: 1024,
                window: Duration::from_secs(10),
            }),
            handler_timeout: None,
            send_buffer_size: Some(512 * 1024),
            liveness_path: Some("/health".to_owned()),
            readiness_path: Some("/ready".to_owned()),
            observer: None,
            request_id_header: None,
            http2: Some(Http2Config::default()),
        }
    }
}
