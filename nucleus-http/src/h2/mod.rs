//! HTTP/2 (RFC 9113): one connection task runs the connection and all of its streams; each
//! stream maps to one `Request<Body>` / `Response` exchange with the same service, limits and
//! timeouts as HTTP/1.1. Two framing layers sit behind the small interface of `backend.rs`:
//! the `h2` crate (`h2_crate.rs`) and Nucleus's own (`engine/`, with `frame.rs` and `hpack/`).

mod backend;
mod body;
pub(crate) mod engine;
mod frame;
mod h2_crate;
mod hpack;
mod record;
mod server;
mod stream;

pub use engine::fuzz_connection;
pub(crate) use server::serve;
