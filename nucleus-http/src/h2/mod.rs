//! HTTP/2 (RFC 9113): one connection task runs the connection and all of its streams; each
//! stream maps to one `Request<Body>` / `Response` exchange with the same service, limits and
//! timeouts as HTTP/1.1. The framing is the `h2` crate's (`h2_crate.rs`) behind the small
//! interface of `backend.rs`.

mod backend;
mod body;
mod h2_crate;
mod record;
mod server;
mod stream;

pub(crate) use server::serve;
