//! HTTP/2 (RFC 9113) through the `h2` crate: one connection task runs the connection and
//! all of its streams; each stream maps to one `Request<Body>` / `Response` exchange with the
//! same service, limits and timeouts as HTTP/1.1.

mod body;
mod record;
mod server;
mod stream;

pub(crate) use server::serve;
