//! The router's response future.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{self, HeaderValue};
use http::StatusCode;
use nucleus_http::Body;

use crate::handler::ResponseFuture;
use crate::response::{text, Response};

/// The future a [`Router`](crate::Router) returns for a request.
///
/// A handler that panics yields `500 Internal Server Error` (and a log line) instead of taking
/// down the connection's task: a bug in one handler must not look like a network failure to
/// every client.
pub struct RouteFuture {
    state: State,
}

enum State {
    Handler(ResponseFuture),
    /// Answered by the router itself: no allocation, no handler. The response is built when
    /// polled, so that the future stays small (the engine moves it into its own state).
    Ready(Answer),
    Done,
}

/// A response the router gives without a handler.
pub(crate) enum Answer {
    /// `404 Not Found`.
    NotFound,
    /// `405 Method Not Allowed`, with `Allow`.
    NotAllowed(Option<HeaderValue>),
    /// `204 No Content` with `Allow`, for `OPTIONS` without a handler.
    Options(Option<HeaderValue>),
}

impl Answer {
    fn into_response(self) -> Response {
        let (mut res, allow) = match self {
            Answer::NotFound => return text(StatusCode::NOT_FOUND, "not found"),
            Answer::NotAllowed(allow) => (
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
                allow,
            ),
            Answer::Options(allow) => {
                let mut res = Response::new(Body::empty());
                *res.status_mut() = StatusCode::NO_CONTENT;
                (res, allow)
            }
        };
        if let Some(allow) = allow {
            res.headers_mut().insert(header::ALLOW, allow);
        }
        res
    }
}

impl RouteFuture {
    pub(crate) fn handler(fut: ResponseFuture) -> RouteFuture {
        RouteFuture {
            state: State::Handler(fut),
        }
    }

    pub(crate) fn ready(answer: Answer) -> RouteFuture {
        RouteFuture {
            state: State::Ready(answer),
        }
    }
}

// Nothing is ever pinned in place: the handler future is already boxed and pinned, and a
// ready response is moved out, never polled.
impl Unpin for RouteFuture {}

impl Future for RouteFuture {
    type Output = Result<Response, Infallible>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Taking the state out moves a pointer; it goes back only while the handler is pending.
        let res = match std::mem::replace(&mut self.state, State::Done) {
            State::Handler(mut fut) => {
                match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                    Ok(Poll::Pending) => {
                        self.state = State::Handler(fut);
                        return Poll::Pending;
                    }
                    Ok(Poll::Ready(res)) => res,
                    Err(panic) => panicked(&*panic),
                }
            }
            State::Ready(answer) => answer.into_response(),
            State::Done => {
                tracing::error!("RouteFuture polled after completion");
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
            }
        };
        Poll::Ready(Ok(res))
    }
}

impl fmt::Debug for RouteFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Handler(_) => "Handler",
            State::Ready(_) => "Ready",
            State::Done => "Done",
        };
        f.debug_struct("RouteFuture")
            .field("state", &state)
            .finish()
    }
}

/// The answer to a handler that panicked.
///
/// Under the engine the panic is logged there, with the request's ID, route and peer;
/// elsewhere (a test's `oneshot`) it is logged here. Out of line, so the poll above stays
/// small enough to inline.
#[cold]
#[inline(never)]
fn panicked(panic: &(dyn Any + Send)) -> Response {
    let message = panic_message(panic);
    if !nucleus_http::observe::report_panic(message) {
        tracing::error!(panic = message, "handler panicked");
    }
    text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    match panic.downcast_ref::<&'static str>() {
        Some(msg) => msg,
        None => panic
            .downcast_ref::<String>()
            .map_or("<non-string panic payload>", |s| s),
    }
}
