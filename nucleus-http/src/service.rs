//! The one seam between the engine and whatever answers requests.
//!
//! Anything that is a [`tower_service::Service`] over `http::Request<Body>` returning an
//! `http::Response` of some body can be served: a Nucleus `Router`, an axum router, a
//! `tower::service_fn`. [`HttpService`] just names those bounds once.

use std::net::SocketAddr;

use bytes::Bytes;
use tower_service::Service;

use crate::{Body, BoxError};

/// A `tower::Service` the engine can serve. Implemented for every service with the right
/// bounds; you never implement it by hand.
pub trait HttpService: Clone + Send + 'static {
    /// The response body.
    type ResBody: http_body::Body<Data = Bytes, Error = Self::BodyError> + Send + 'static;
    /// The response body's error.
    type BodyError: Into<BoxError>;
    /// The service's error; it becomes a `500` and a log line.
    type Error: Into<BoxError>;
    /// The response future.
    type Future: std::future::Future<Output = Result<http::Response<Self::ResBody>, Self::Error>>
        + Send
        + 'static;

    /// See [`Service::poll_ready`].
    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>>;
    /// See [`Service::call`].
    fn call(&mut self, req: http::Request<Body>) -> Self::Future;
}

impl<S, B> HttpService for S
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type ResBody = B;
    type BodyError = B::Error;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        Service::poll_ready(self, cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> S::Future {
        Service::call(self, req)
    }
}

/// The peer's address, in every request's extensions when the connection has one.
///
/// # Examples
///
/// ```
/// use nucleus_http::PeerAddr;
///
/// fn peer(req: &http::Request<nucleus_http::Body>) -> Option<std::net::SocketAddr> {
///     req.extensions().get::<PeerAddr>().map(|p| p.0)
/// }
/// # let _ = peer;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);
