//! Taking over a connection after `101 Switching Protocols`.
//!
//! A request that asks to upgrade (`Connection: upgrade` plus `Upgrade: ...`) carries an
//! [`OnUpgrade`] in its extensions. A handler that answers `101` spawns a task awaiting
//! [`on`]; once the engine has written the `101` response it hands over the raw connection,
//! including any bytes the client sent after the request head.
//!
//! # Examples
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use nucleus_http::{upgrade, Body};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! async fn echo_protocol(mut req: Request<Body>) -> Response<Body> {
//!     let on_upgrade = upgrade::on(&mut req);
//!     tokio::spawn(async move {
//!         if let Ok(mut io) = on_upgrade.await {
//!             let mut buf = [0u8; 1024];
//!             while let Ok(n @ 1..) = io.read(&mut buf).await {
//!                 if io.write_all(&buf[..n]).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         }
//!     });
//!     Response::builder()
//!         .status(StatusCode::SWITCHING_PROTOCOLS)
//!         .header("connection", "upgrade")
//!         .header("upgrade", "echo")
//!         .body(Body::empty())
//!         .unwrap()
//! }
//! # let _service = tower::service_fn(|req| async {
//! #     Ok::<_, std::convert::Infallible>(echo_protocol(req).await)
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use crate::error::{Error, Kind};

/// The IO a connection runs on, boxed once it leaves the engine.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Takes the pending upgrade out of a request. Resolves to an error if the request did not
/// ask for one or the response was not `101`.
pub fn on<B>(req: &mut http::Request<B>) -> OnUpgrade {
    req.extensions_mut()
        .remove::<OnUpgrade>()
        .unwrap_or(OnUpgrade { rx: None })
}

/// A future resolving to the upgraded connection.
pub struct OnUpgrade {
    rx: Option<oneshot::Receiver<Upgraded>>,
}

impl Clone for OnUpgrade {
    // `http::Extensions` requires `Clone`; a clone never resolves to a connection.
    fn clone(&self) -> OnUpgrade {
        OnUpgrade { rx: None }
    }
}

impl fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnUpgrade").finish_non_exhaustive()
    }
}

impl Future for OnUpgrade {
    type Output = Result<Upgraded, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.rx {
            None => Poll::Ready(Err(Error::new(Kind::NotUpgraded))),
            Some(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.map_err(|_| Error::new(Kind::NotUpgraded))),
        }
    }
}

pub(crate) fn pending() -> (oneshot::Sender<Upgraded>, OnUpgrade) {
    let (tx, rx) = oneshot::channel();
    (tx, OnUpgrade { rx: Some(rx) })
}

/// An upgraded connection: reads return the bytes the engine had already buffered first.
pub struct Upgraded {
    io: Box<dyn Io>,
    buffered: Bytes,
}

impl Upgraded {
    pub(crate) fn new(io: Box<dyn Io>, buffered: Bytes) -> Upgraded {
        Upgraded { io, buffered }
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("buffered", &self.buffered.len())
            .finish_non_exhaustive()
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.buffered.is_empty() {
            let n = self.buffered.len().min(buf.remaining());
            buf.put_slice(&self.buffered[..n]);
            self.buffered.advance(n);
            if self.buffered.is_empty() {
                // An empty `Bytes` left by `advance` still holds the HTTP/1.1 read buffer it
                // was cut from (kilobytes) for as long as the connection lives.
                self.buffered = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

/// Writes go out as they are made, as on a plain socket: a handler that writes and then
/// waits for the client's answer without flushing is the common case. Over TLS the stream
/// holds records until a flush (`server/tls_stream.rs`), so each write is followed by one.
/// If the socket is full, the rest waits for the next write or flush, as with tokio-rustls.
impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.io).poll_write(cx, buf))?;
        let _ = Pin::new(&mut self.io).poll_flush(cx);
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, bufs))?;
        let _ = Pin::new(&mut self.io).poll_flush(cx);
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
