//! The HTTP/2 cases of `h2/cases.rs` (see `tests/h2.rs`) on the `h2` crate's framing, which
//! `--h2-engine h2` selects: both framing layers must give handlers and clients the same
//! behaviour.
#![cfg(feature = "http2")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

const ENGINE: nucleus_http::Http2Engine = nucleus_http::Http2Engine::H2Crate;

include!("h2/cases.rs");
