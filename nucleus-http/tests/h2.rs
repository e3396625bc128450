//! HTTP/2 in cleartext (h2c with prior knowledge) on the HTTP/1.1 port: concurrency, flow
//! control, resets, limits, trailers, shutdown and idle. Clients: reqwest, and the `h2`
//! crate where a test needs frames that reqwest does not send (resets, trailers).
//!
//! The cases are in `h2/cases.rs`; this file runs them on Nucleus's own HTTP/2 framing.
#![cfg(feature = "http2")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

const ENGINE: nucleus_http::Http2Engine = nucleus_http::Http2Engine::Nucleus;

include!("h2/cases.rs");
