//! An established TLS connection: rustls's `ServerConnection` over the TCP stream, driven by
//! the worker's reactor.
//!
//! This takes the place of tokio-rustls's stream to write less often. tokio-rustls sends
//! each record as soon as it is made. A connection-per-request client then costs the server
//! three writes after its handshake: the session tickets, the response, and `close_notify`.
//! Here records wait in rustls until the connection flushes, shuts down or waits to read,
//! or until 16 KiB have gathered:
//! - The tickets of a TLS 1.3 handshake whose first request came with the client's
//!   `Finished` go out with the first response, or as soon as the connection waits to
//!   read (a request not yet complete).
//! - A response followed by a close goes out with its `close_notify`: the dispatcher shuts
//!   the stream down without flushing it first, and a shutdown flushes.
//!
//! The rest follows tokio-rustls: a connection that ends without `close_notify` reads as an
//! `UnexpectedEof` error, and a TLS error sends its alert (best effort) before it is
//! returned.
//!
//! Like any buffered writer, this needs `poll_flush` (or `poll_shutdown`) for what was
//! written to leave; the HTTP/1.1 and HTTP/2 writers flush after every batch.

use std::io::{self, BufRead as _, IoSlice, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use rustls::{ProtocolVersion, ServerConfig, ServerConnection};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::sniff::Sniffed;

/// Records gathered before a write goes out without waiting for a flush.
const WRITE_BEHIND: usize = 16 * 1024;

/// A server-side TLS connection whose handshake is complete.
pub(crate) struct TlsStream {
    io: Sniffed,
    conn: ServerConnection,
    /// Plaintext handed to rustls since the socket last took everything rustls held.
    unsent: usize,
    /// The socket reached its end.
    eof: bool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("io", &self.io)
            .field("unsent", &self.unsent)
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

/// Runs the server side of a handshake on `io`. On failure the stream comes back with the
/// error, so that the caller can tell a plain-HTTP client from a TLS one.
pub(crate) async fn accept(
    io: Sniffed,
    config: Arc<ServerConfig>,
) -> Result<TlsStream, (io::Error, Sniffed)> {
    let conn = match ServerConnection::new(config) {
        Ok(conn) => conn,
        Err(err) => return Err((io::Error::other(err), io)),
    };
    let mut stream = TlsStream {
        io,
        conn,
        unsent: 0,
        eof: false,
    };
    match std::future::poll_fn(|cx| stream.poll_handshake(cx)).await {
        Ok(()) => Ok(stream),
        Err(err) => Err((err, stream.io)),
    }
}

impl TlsStream {
    /// The protocol ALPN chose, if any.
    pub(crate) fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            // What the handshake has to say goes out before we wait for the client.
            ready!(self.poll_send(cx))?;
            if !self.conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if self.eof {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the client closed during the TLS handshake",
                )));
            }
            let plaintext = ready!(self.poll_receive(cx))?;
            if !self.conn.is_handshaking()
                && plaintext > 0
                && self.conn.protocol_version() == Some(ProtocolVersion::TLSv1_3)
            {
                // All TLS 1.3 still has to send is session tickets, and the client is not
                // waiting for them: they go with the answer to the request already here.
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// Writes what rustls holds until it holds nothing, or the socket is full.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            let mut socket = SyncSocket {
                io: &mut self.io,
                cx,
            };
            match self.conn.write_tls(&mut socket) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        self.unsent = 0;
        Poll::Ready(Ok(()))
    }

    /// Reads what the socket has and lets rustls process it: the plaintext now waiting to
    /// be read.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut socket = SyncSocket {
            io: &mut self.io,
            cx,
        };
        match self.conn.read_tls(&mut socket) {
            Ok(0) => self.eof = true,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
            Err(err) => return Poll::Ready(Err(err)),
        }
        match self.conn.process_new_packets() {
            Ok(state) => Poll::Ready(Ok(state.plaintext_bytes_to_read())),
            Err(err) => {
                // rustls queued an alert that says why; the connection ends either way.
                let _ = self.poll_send(cx);
                Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, err)))
            }
        }
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.conn.reader().into_first_chunk() {
                // Empty once the client's close_notify came: the end of the stream.
                Ok(chunk) => {
                    let n = chunk.len().min(buf.remaining());
                    buf.put_slice(chunk.get(..n).unwrap_or_default());
                    this.conn.reader().consume(n);
                    return Poll::Ready(Ok(()));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                // The socket ended without close_notify: UnexpectedEof.
                Err(err) => return Poll::Ready(Err(err)),
            }
            // rustls reports the end itself once the socket has ended (above); this only
            // keeps a read that rustls answers otherwise from asking a closed socket forever.
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if let Poll::Ready(received) = this.poll_receive(cx) {
                received?;
                continue;
            }
            // Waiting for the client, who may be waiting for records we hold: the tickets
            // of a handshake whose first request came with the client's Finished but is
            // incomplete, say.
            if this.conn.wants_write() {
                let _ = this.poll_send(cx);
            }
            return Poll::Pending;
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_encrypt(cx, buf.is_empty(), |writer| writer.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let empty = bufs.iter().all(|buf| buf.is_empty());
        self.get_mut()
            .poll_encrypt(cx, empty, |writer| writer.write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.conn.writer().flush()?;
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Queued once: rustls ignores the call after its first close_notify (or fatal alert).
        this.conn.send_close_notify();
        ready!(this.poll_send(cx))?;
        match ready!(Pin::new(&mut this.io).poll_shutdown(cx)) {
            // The client is gone already: nothing left to shut.
            Err(err) if err.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            done => Poll::Ready(done),
        }
    }
}

impl TlsStream {
    /// Hands plaintext to rustls, which encrypts it into records at once. What has gathered
    /// is sent first once it reaches `WRITE_BEHIND` (a large body is written as it is made,
    /// in bounded memory), or when rustls's own limit takes nothing more.
    fn poll_encrypt(
        &mut self,
        cx: &mut Context<'_>,
        empty: bool,
        mut write: impl FnMut(&mut rustls::Writer<'_>) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if self.unsent >= WRITE_BEHIND {
            ready!(self.poll_send(cx))?;
        }
        let mut n = write(&mut self.conn.writer())?;
        if n == 0 && !empty {
            ready!(self.poll_send(cx))?;
            n = write(&mut self.conn.writer())?;
        }
        self.unsent += n;
        Poll::Ready(Ok(n))
    }
}

/// The socket as blocking-style `Read`/`Write` for rustls, with `WouldBlock` for pending.
struct SyncSocket<'a, 'b> {
    io: &'a mut Sniffed,
    cx: &'a mut Context<'b>,
}

impl Read for SyncSocket<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(buf);
        match Pin::new(&mut *self.io).poll_read(self.cx, &mut buf) {
            Poll::Ready(Ok(())) => Ok(buf.filled().len()),
            Poll::Ready(Err(err)) => Err(err),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for SyncSocket<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // rustls hands over every record it holds as a slice each; a keep-alive response is
        // one record. Alone, it goes out as a plain write, which tokio makes a `send(2)`:
        // Linux's `writev(2)` on a socket also goes through the VFS layer and copies the iovec
        // array in, about 200 ns more per call on loopback (docs/PERFORMANCE.md, tenth session).
        let mut filled = bufs.iter().filter(|buf| !buf.is_empty());
        let poll = match (filled.next(), filled.next()) {
            (Some(only), None) => Pin::new(&mut *self.io).poll_write(self.cx, only),
            _ => Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs),
        };
        match poll {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
