//! Tells a TLS client from a plain-HTTP one by the first byte it sends, as that byte is read
//! for the handshake: no separate `MSG_PEEK` system call per connection.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The first byte of every TLS connection: a handshake record (RFC 8446 §5.1).
const HANDSHAKE_RECORD: u8 = 0x16;

/// What the first read showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum First {
    /// Nothing read yet.
    Unknown,
    /// A TLS handshake record.
    Tls,
    /// Anything else (plain HTTP, most likely): the read that saw it failed, which ends
    /// the handshake at once.
    Plain,
    /// The client closed before sending a byte.
    Closed,
}

/// A TCP stream that looks at the first byte read from it.
#[derive(Debug)]
pub(crate) struct Sniffed {
    inner: TcpStream,
    first: First,
}

impl Sniffed {
    pub(crate) fn new(inner: TcpStream) -> Sniffed {
        Sniffed {
            inner,
            first: First::Unknown,
        }
    }

    pub(crate) fn first(&self) -> First {
        self.first
    }

    pub(crate) fn into_inner(self) -> TcpStream {
        self.inner
    }
}

impl AsyncRead for Sniffed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if self.first == First::Unknown {
            self.first = match buf.filled().get(before) {
                None => First::Closed,
                Some(&HANDSHAKE_RECORD) => First::Tls,
                Some(_) => First::Plain,
            };
            if self.first == First::Plain {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "not a TLS handshake",
                )));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Sniffed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
