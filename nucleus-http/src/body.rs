//! The body type shared by requests and responses.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Frame, SizeHint};

use crate::error::{BoxError, Error};
use crate::incoming::Incoming;

/// A streaming HTTP body: empty, a single buffer, a request body arriving from the peer, or any
/// [`http_body::Body`].
///
/// Requests arrive with a body that streams from the socket: the engine reads more only as
/// the body is polled, so a slow consumer applies backpressure to the client.
///
/// # Examples
///
/// ```
/// use nucleus_http::Body;
///
/// let empty = Body::empty();
/// let text = Body::from("Hello, World!");
/// let stream = Body::from_stream(futures_util::stream::iter(
///     ["a", "b"].map(|s| Ok::<_, std::io::Error>(bytes::Bytes::from(s))),
/// ));
/// # let _ = (empty, text, stream);
/// ```
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    Incoming(Incoming),
    Boxed(Pin<Box<dyn http_body::Body<Data = Bytes, Error = Error> + Send + 'static>>),
}

impl Body {
    /// A body with no bytes.
    pub const fn empty() -> Body {
        Body { kind: Kind::Empty }
    }

    /// Wraps any [`http_body::Body`] whose data is [`Bytes`].
    pub fn new<B>(body: B) -> Body
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Body {
            kind: Kind::Boxed(Box::pin(MapErr { inner: body })),
        }
    }

    /// A body of unknown length built from a stream of chunks; sent chunked on HTTP/1.1.
    pub fn from_stream<S, E>(stream: S) -> Body
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Body::new(StreamBody { stream })
    }

    pub(crate) fn incoming(incoming: Incoming) -> Body {
        Body {
            kind: Kind::Incoming(incoming),
        }
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match &self.kind {
            Kind::Empty => "Empty",
            Kind::Full(_) => "Full",
            Kind::Incoming(_) => "Incoming",
            Kind::Boxed(_) => "Boxed",
        };
        f.debug_tuple("Body").field(&name).finish()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind::Incoming(incoming) => incoming.poll_frame(cx),
            Kind::Boxed(body) => body.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(data) => data.is_none(),
            Kind::Incoming(incoming) => incoming.is_end_stream(),
            Kind::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Kind::Incoming(incoming) => incoming.size_hint(),
            Kind::Boxed(body) => body.size_hint(),
        }
    }
}

macro_rules! body_from {
    ($($ty:ty => $conv:expr),* $(,)?) => {$(
        impl From<$ty> for Body {
            fn from(value: $ty) -> Body {
                let bytes: Bytes = $conv(value);
                if bytes.is_empty() {
                    Body::empty()
                } else {
                    Body { kind: Kind::Full(Some(bytes)) }
                }
            }
        }
    )*};
}

body_from! {
    Bytes => |b| b,
    Vec<u8> => Bytes::from,
    String => Bytes::from,
    &'static str => Bytes::from_static_str,
    &'static [u8] => Bytes::from_static,
}

trait FromStaticStr {
    fn from_static_str(s: &'static str) -> Bytes;
}

impl FromStaticStr for Bytes {
    fn from_static_str(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }
}

pin_project_lite::pin_project! {
    struct MapErr<B> {
        #[pin]
        inner: B,
    }
}

impl<B> http_body::Body for MapErr<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        Poll::Ready(
            match std::task::ready!(self.project().inner.poll_frame(cx)) {
                None => None,
                Some(Ok(frame)) => Some(Ok(frame)),
                Some(Err(err)) => {
                    let err: BoxError = err.into();
                    // An engine error passed through (the request body streamed back) keeps its kind.
                    Some(Err(match err.downcast::<Error>() {
                        Ok(engine) => *engine,
                        Err(other) => Error::user(other),
                    }))
                }
            },
        )
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    struct StreamBody<S> {
        #[pin]
        stream: S,
    }
}

impl<S, E> http_body::Body for StreamBody<S>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    type Data = Bytes;
    type Error = E;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        self.project()
            .stream
            .poll_next(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }
}
