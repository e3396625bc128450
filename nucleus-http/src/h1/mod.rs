//! HTTP/1.1 (RFC 9112): parsing, body framing, response encoding and the connection loop.

pub(crate) mod decode;
mod dispatch;
pub(crate) mod parse;

pub use dispatch::serve_connection;
