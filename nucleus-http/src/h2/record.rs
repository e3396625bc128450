//! What an HTTP/2 stream tells the observer: the hooks, categorised log lines and request IDs
//! an HTTP/1.1 exchange gets, with one record per stream instead of one per connection.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{request, HeaderName, Method, StatusCode, Version};

use crate::observe::clock::Stamp;
use crate::observe::record::emit;
use crate::observe::{
    request_id, Completed, Details, Event, Observe, Protocol, RequestId, RequestInfo, RouteId,
};
use crate::{Config, PeerAddr};

/// The record of one stream, from its head to its end. Dropped before it finished: the client
/// reset the stream (or the connection went away), and the request completes as aborted.
pub(super) struct StreamRecord {
    observer: Option<Arc<dyn Observe>>,
    peer: Option<SocketAddr>,
    method: Method,
    route: Option<RouteId>,
    status: StatusCode,
    body_bytes: u64,
    received: u64,
    request_id: Option<RequestId>,
    details: Option<Details>,
    started: Option<Stamp>,
    finished: bool,
}

impl StreamRecord {
    /// Starts the record of a stream whose head `parts` arrived; takes (or makes) its request
    /// ID, which is why it needs the head mutably.
    pub(super) fn begin(
        config: &Config,
        peer: Option<PeerAddr>,
        parts: &mut request::Parts,
    ) -> StreamRecord {
        let request_id = config
            .request_id_header
            .as_ref()
            .map(|name| request_id::for_request(name, &mut parts.headers));
        let observer = config.observer.clone();
        let mut details = None;
        let mut started = None;
        if let Some(observer) = &observer {
            if let Some(in_flight) = observer.in_flight() {
                in_flight.add_here(1);
            }
            if observer.wants_details() {
                let mut captured = Details::default();
                captured.capture(&parts.uri, &parts.headers, true);
                details = Some(captured);
            }
            started = Some(Stamp::now());
        }
        StreamRecord {
            observer,
            peer: peer.map(|p| p.0),
            method: parts.method.clone(),
            route: None,
            // Until a response head goes out: nginx's 499, the client went away.
            status: StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            body_bytes: 0,
            received: 0,
            request_id,
            details,
            started,
            finished: false,
        }
    }

    pub(super) fn request_id(&self) -> Option<RequestId> {
        self.request_id
    }

    /// The response header that carries the request ID, when IDs are on.
    pub(super) fn id_header<'a>(&self, config: &'a Config) -> Option<(&'a HeaderName, RequestId)> {
        Some((config.request_id_header.as_ref()?, self.request_id?))
    }

    pub(super) fn set_route(&mut self, route: RouteId) {
        self.route = Some(route);
    }

    /// Reads back the route the router chose while the service was called.
    pub(super) fn take_route(&mut self) {
        if let Some(route) = RouteId::take_current() {
            self.route = Some(route);
        }
    }

    pub(super) fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }

    pub(super) fn add_body_bytes(&mut self, n: usize) {
        self.body_bytes += n as u64;
    }

    pub(super) fn add_received(&mut self, n: u64) {
        self.received += n;
    }

    /// Logs `event` with this stream's method, route, ID and peer, and tells the observer.
    pub(super) fn event(&self, event: &Event<'_>) {
        let info = RequestInfo {
            peer: self.peer,
            method: Some(&self.method),
            route: self.route,
            request_id: self.request_id.as_ref(),
        };
        emit(self.observer.as_deref(), event, &info);
    }

    /// The stream is over: its response went out whole (`aborted` false), or it was cut off.
    pub(super) fn finish(&mut self, aborted: bool) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let Some(observer) = &self.observer else {
            return;
        };
        if let Some(in_flight) = observer.in_flight() {
            in_flight.add_here(-1);
        }
        let duration = self.started.map(|s| s.elapsed()).unwrap_or_default();
        observer.request_completed(&Completed {
            protocol: Protocol::Http2,
            method: Some(self.method.clone()),
            route: self.route.unwrap_or(RouteId::UNMATCHED),
            status: self.status,
            body_bytes: self.body_bytes,
            duration,
            peer: self.peer,
            version: Version::HTTP_2,
            request_id: self.request_id,
            // The stream is over: its details go with this report.
            details: self.details.take(),
            aborted,
            // Bodies only (the request's as declared): `h2` does not say how many bytes of
            // frames a stream took.
            received: self.received,
            sent: self.body_bytes,
        });
    }
}

impl Drop for StreamRecord {
    fn drop(&mut self) {
        self.finish(true);
    }
}

/// An HTTP/2 connection, as the observer counts them: opened now, closed when dropped.
pub(super) struct ConnectionRecord(Option<Arc<dyn Observe>>);

impl ConnectionRecord {
    pub(super) fn open(config: &Config) -> ConnectionRecord {
        let observer = config.observer.clone();
        if let Some(observer) = &observer {
            observer.connection_opened(Protocol::Http2);
        }
        ConnectionRecord(observer)
    }
}

impl Drop for ConnectionRecord {
    fn drop(&mut self) {
        if let Some(observer) = &self.0 {
            observer.connection_closed(Protocol::Http2);
        }
    }
}
