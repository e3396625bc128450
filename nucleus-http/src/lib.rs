//! # nucleus-http: the Nucleus HTTP engine
//!
//! Bytes in, `http::Request` out; `http::Response` in, bytes out. The engine owns everything
//! between the socket and a [`tower_service::Service`]: HTTP/1.1 parsing and framing (our own
//! code over `httparse`), keep-alive, pipelining with batched writes, streaming bodies with
//! backpressure, `Expect: 100-continue`, upgrades, limits, and the multi-core accept loop;
//! HTTP/2 (framing and HPACK of its own, or the `h2` crate: [`Http2Engine`]) and HTTPS through
//! `rustls`, with the same service and limits.
//!
//! ```text
//!  accept (server/accept.rs) ─▶ [TLS + ALPN (server/tls.rs)] ─▶ protocol (server/protocol.rs)
//!     ├─▶ HTTP/1.1: connection (h1/dispatch.rs) ─▶ parse (h1/parse.rs) ─▶ Service::call
//!     │             ─▶ encode (h1/encode.rs) ─▶ write (h1/io.rs)
//!     └─▶ HTTP/2:   connection + streams (h2/server.rs, h2/stream.rs) ─▶ Service::call
//!                   framing (h2/engine/, h2/frame.rs, h2/hpack/; or the h2 crate)
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `tls` | on | [`TlsConfig`], [`Builder::listen_tls`]: rustls with SNI, ALPN, reload |
//! | `http2` | on | HTTP/2 over TLS (ALPN `h2`) and h2c with prior knowledge; [`Config::http2`] |
//!
//! Most users want the `nucleus` framework crate on top; this crate is for serving any
//! `tower::Service` directly.
//!
//! ## Serving a `tower::Service`
//!
//! ```no_run
//! use std::convert::Infallible;
//! use nucleus_http::{Body, Server};
//!
//! fn main() -> std::io::Result<()> {
//!     let hello = tower::service_fn(|_req: http::Request<Body>| async {
//!         Ok::<_, Infallible>(http::Response::new(Body::from("Hello, World!")))
//!     });
//!     let server = Server::builder().listen("127.0.0.1:8000".parse().unwrap()).bind()?;
//!     server.run(hello)
//! }
//! ```
#![doc(test(attr(deny(warnings))))]
// One audited exception: `h1::parse::field_value` (the header values `httparse` already
// checked are not checked again; see its `SAFETY:` comment and test).
#![deny(unsafe_code)]

mod body;
mod config;
mod date;
mod error;
mod h1;
#[cfg(feature = "http2")]
mod h2;
mod incoming;
pub mod observe;
mod server;
mod service;
mod stats;
mod thread_number;
mod timer;
#[cfg(feature = "tls")]
mod tls;
mod trailers;
pub mod upgrade;

pub use body::Body;
pub use config::{Config, Http2Config, Http2Engine, MinRate};
pub use error::{BoxError, Error};
pub use server::{Builder, Server, ShutdownHandle, WorkerModel};
pub use service::{HttpService, PeerAddr};
pub use stats::{stats, Stats};
#[cfg(feature = "tls")]
pub use tls::{TlsBuilder, TlsConfig, TlsError};

/// Serving a single connection you accepted yourself (a test, a custom listener, TLS).
pub mod conn {
    pub use crate::server::serve_connection;
}

/// Parsers exposed for the fuzz targets and property tests, and the thread numbering the
/// framework crate's per-thread shards share; not a stable API.
#[doc(hidden)]
pub mod internal {
    pub use crate::h1::decode::{decode_all, fuzz_chunked, ChunkedDecoder, Decoded};
    pub use crate::h1::parse::{fuzz_parse, parse_head, summarize, Framing, ParsedHead};
    #[cfg(feature = "http2")]
    pub use crate::h2::fuzz_connection as fuzz_h2_connection;
    pub use crate::thread_number::thread_number;
}
