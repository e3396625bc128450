//! HTTP/1.1 (RFC 9112): parsing, body framing, response encoding and the connection loop.

pub(crate) mod decode;
mod dispatch;
mod encode;
pub(crate) mod io;
mod memo;
pub(crate) mod parse;

pub(crate) use dispatch::{is_quiet, serve, Ended};
