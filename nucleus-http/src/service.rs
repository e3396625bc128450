//! The one seam between the engine and whatever answers requests.
//!
//! Anything that is a [`tower_service::Service`] over `http::Request<Body>` returning an
//! `http::Response` of some body can be served: a Nucleus `Router`, an axum router, a
//! `tower::service_fn`. [`HttpService`] just names those bounds once.

use std::cell::Cell;
use std::net::SocketAddr;

use bytes::Bytes;
use tower_service::Service;

use crate::observe::RequestId;
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

/// The address of the peer a request came from.
///
/// [`PeerAddr::current`] returns it while the engine runs a service's `call` and polls the
/// future it returned, on the connection's task: no per-request allocation. Services that
/// read it later or on another task (after `tower::buffer`, say) can ask for it as a request
/// extension instead with [`Config::peer_addr_extension`](crate::Config::peer_addr_extension),
/// which costs three allocations per request.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use nucleus_http::{Body, PeerAddr};
///
/// let service = tower::service_fn(|_req: http::Request<Body>| async {
///     let peer = PeerAddr::current().map(|p| p.0.to_string()).unwrap_or_default();
///     Ok::<_, Infallible>(http::Response::new(Body::from(peer)))
/// });
/// # let _ = service;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

thread_local! {
    /// `Some` while the engine runs a service call or poll on this thread, with that
    /// request's peer: one thread-local for both facts, so marking a call costs one access.
    static CURRENT_PEER: Cell<Option<Option<PeerAddr>>> = const { Cell::new(None) };
}

impl PeerAddr {
    /// The peer of the request whose service call is running on this thread right now.
    pub fn current() -> Option<PeerAddr> {
        CURRENT_PEER.with(Cell::get).flatten()
    }
}

/// Whether the engine is running a service call or poll on this thread.
pub(crate) fn is_serving() -> bool {
    CURRENT_PEER.with(Cell::get).is_some()
}

/// Runs `f` with `peer` as [`PeerAddr::current`] and `id` as
/// [`RequestId::current`](crate::observe::RequestId::current), restoring the previous values
/// afterwards (also on panic, so a caught handler panic cannot leak one connection's peer to
/// another).
pub(crate) fn with_current<R>(
    peer: Option<PeerAddr>,
    id: Option<RequestId>,
    f: impl FnOnce() -> R,
) -> R {
    // Without an ID the 66-byte slot is left alone: with IDs off this costs nothing.
    let Some(id) = id else {
        return with_peer(peer, f);
    };
    struct Restore(Option<RequestId>);
    impl Drop for Restore {
        fn drop(&mut self) {
            RequestId::swap_current(self.0.take());
        }
    }
    // A stale ID cannot leak: the swap is undone when `f` returns or unwinds.
    let _restore = Restore(RequestId::swap_current(Some(id)));
    with_peer(peer, f)
}

/// Runs `f` with `peer` as [`PeerAddr::current`] and this thread marked as serving,
/// restoring both afterwards (also on panic).
pub(crate) fn with_peer<R>(peer: Option<PeerAddr>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Option<PeerAddr>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT_PEER.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT_PEER.with(|c| c.replace(Some(peer))));
    f()
}

/// The message of a caught panic, for a log line.
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}
