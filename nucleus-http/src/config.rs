//! Limits and tuning of the HTTP/1.1 engine, each with a documented, safe default.

/// Limits and tuning for HTTP/1.1 connections.
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
    /// (vectored write) rather than copied. Default 16 KiB.
    pub write_copy_threshold: usize,
    /// Also put the peer's [`PeerAddr`](crate::PeerAddr) into every request's extensions,
    /// for middleware that reads it there. Off by default: it costs three allocations per
    /// request, and [`PeerAddr::current`](crate::PeerAddr::current) serves the common case.
    pub peer_addr_extension: bool,
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
            write_copy_threshold: 16 * 1024,
            peer_addr_extension: false,
        }
    }
}
