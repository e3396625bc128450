//! The TLS side of an HTTPS listener: the handshake under its deadline, plain HTTP told
//! apart from TLS, and ALPN choosing the protocol.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{header, HeaderValue, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::lifecycle::{ConnContext, Signal};
use super::sniff::{First, Sniffed};
use super::tls_stream::{self, TlsStream};
use crate::error::{Error, Kind, Timeout};
use crate::observe::{record, Event, RequestInfo, TimeoutKind};
use crate::tls::{TlsConfig, TlsError};
use crate::{stats, Body, Config, HttpService, PeerAddr};

/// nginx's words for the same mistake; a person who typed `http://` sees what to fix.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
content-type: text/plain; charset=utf-8\r\n\
content-length: 48\r\n\
connection: close\r\n\
\r\n\
The plain HTTP request was sent to HTTPS port.\r\n";

pub(crate) struct Acceptor {
    server_config: Arc<rustls::ServerConfig>,
    tls: TlsConfig,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Acceptor {
    pub(crate) fn new(tls: &TlsConfig, config: &Config) -> Result<Acceptor, TlsError> {
        let http2 = cfg!(feature = "http2") && config.http2.is_some();
        let server_config = tls.server_config(http2)?;
        Ok(Acceptor {
            server_config: Arc::new(server_config),
            tls: tls.clone(),
        })
    }

    /// The certificates this acceptor serves.
    pub(crate) fn tls(&self) -> &TlsConfig {
        &self.tls
    }

    pub(crate) async fn serve<S: HttpService>(
        &self,
        stream: TcpStream,
        peer: PeerAddr,
        service: S,
        config: Arc<Config>,
        ctx: ConnContext,
    ) -> Result<(), Error> {
        // The deadline on the worker's coarse timer, as HTTP/1.1's: arming a tokio timer
        // wakes the runtime's driver (an eventfd write and one more `epoll_wait` for every
        // connection).
        let signal = ctx.registry.register();
        let timeout = self.tls.handshake_timeout();
        signal.set_deadline(Some(ctx.registry.deadline_after(timeout)));
        let mut handshake = pin!(self.handshake(stream));
        let finished = poll_fn(|cx| {
            if let Poll::Ready(done) = handshake.as_mut().poll(cx) {
                return Poll::Ready(Some(done));
            }
            match signal.poll(cx) {
                Some(Signal::Expired) => Poll::Ready(None),
                // Shutdown and pressure release idle connections; a handshake is not idle,
                // and its deadline bounds it.
                _ => Poll::Pending,
            }
        })
        .await;
        drop(signal);
        let failed = |event: &Event<'_>| {
            stats::count(&stats::TLS_HANDSHAKE_FAILURES);
            let info = RequestInfo {
                peer: Some(peer.0),
                ..RequestInfo::default()
            };
            record::emit(config.observer.as_deref(), event, &info);
        };
        let stream = match finished {
            Some(Ok(Handshake::Done(stream))) => stream,
            Some(Ok(Handshake::Closed)) => return Ok(()),
            Some(Ok(Handshake::PlainHttp)) => {
                failed(&Event::TlsHandshake {
                    error: &Error::new(Kind::Tls).with(PlainHttp),
                });
                return Ok(());
            }
            Some(Err(err)) => {
                failed(&Event::TlsHandshake { error: &err });
                return Err(err);
            }
            None => {
                failed(&Event::Timeout {
                    kind: TimeoutKind::TlsHandshake,
                });
                return Err(Error::new(Kind::Timeout(Timeout::TlsHandshake)));
            }
        };
        let h2 = stream.alpn_protocol() == Some(b"h2");
        match self.tls.hsts() {
            Some(value) => {
                let service = Hsts {
                    inner: service,
                    value: value.clone(),
                };
                dispatch(stream, h2, peer, service, config, ctx).await
            }
            None => dispatch(stream, h2, peer, service, config, ctx).await,
        }
    }

    async fn handshake(&self, stream: TcpStream) -> Result<Handshake, Error> {
        match tls_stream::accept(Sniffed::new(stream), self.server_config.clone()).await {
            Ok(stream) => Ok(Handshake::Done(Box::new(stream))),
            Err((err, stream)) => match stream.first() {
                First::Closed => Ok(Handshake::Closed),
                First::Plain => {
                    // Boxed: its scratch buffer would otherwise sit in every TLS
                    // connection's future.
                    Box::pin(answer_plain_http(stream.into_inner())).await;
                    Ok(Handshake::PlainHttp)
                }
                First::Unknown | First::Tls => Err(Error::new(Kind::Tls).with(err)),
            },
        }
    }
}

/// How a handshake ended, short of an error.
enum Handshake {
    Done(Tls),
    /// The client closed before sending anything.
    Closed,
    /// The client spoke plain HTTP, and got its `400`.
    PlainHttp,
}

/// The error of a plain HTTP request on an HTTPS port, for the observer.
#[derive(Debug)]
struct PlainHttp;

impl std::fmt::Display for PlainHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("plain HTTP request on an HTTPS port")
    }
}

impl std::error::Error for PlainHttp {}

/// An established TLS connection, boxed: rustls's connection state is over a kilobyte, and
/// every `async fn` layer that takes the stream by value keeps its own copy of it in its
/// future (the argument's slot stays reserved after the value moves on). Inline, the
/// connection's task future was 37 KB, copied several times on every spawn: about 100,000
/// instructions per TLS connection (callgrind, bench/tls-instructions.sh).
type Tls = Box<TlsStream>;

async fn dispatch<S: HttpService>(
    stream: Tls,
    h2: bool,
    peer: PeerAddr,
    service: S,
    config: Arc<Config>,
    ctx: ConnContext,
) -> Result<(), Error> {
    #[cfg(feature = "http2")]
    if h2 {
        // Boxed, as after an h2c preface: the HTTP/2 server's future is several KiB, which
        // HTTP/1.1 connections should not carry.
        return Box::pin(crate::h2::serve(stream, Some(peer), service, config, ctx)).await;
    }
    let _ = h2;
    super::protocol::serve_http_auto(stream, Some(peer), service, config, ctx).await
}

/// Answers 400 (the request's first bytes were read by the handshake), closes our side, and
/// reads what else the client sent for a moment, so that our close does not reset the
/// answer away.
async fn answer_plain_http(mut stream: TcpStream) {
    let mut scratch = [0u8; 4096];
    let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), async {
        while let Ok(1..) = stream.read(&mut scratch).await {}
    })
    .await;
}

/// Adds `Strict-Transport-Security` to responses that lack it; only HTTPS connections get
/// this wrapper, so plain HTTP never carries the header.
#[derive(Clone)]
struct Hsts<S> {
    inner: S,
    value: HeaderValue,
}

impl<S: HttpService> tower_service::Service<Request<Body>> for Hsts<S> {
    type Response = Response<S::ResBody>;
    type Error = S::Error;
    type Future = HstsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        HttpService::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        HstsFuture {
            inner: HttpService::call(&mut self.inner, req),
            value: Some(self.value.clone()),
        }
    }
}

pin_project_lite::pin_project! {
    struct HstsFuture<F> {
        #[pin]
        inner: F,
        value: Option<HeaderValue>,
    }
}

impl<F, B, E> Future for HstsFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut result = ready!(this.inner.poll(cx));
        if let (Ok(response), Some(value)) = (&mut result, this.value.take()) {
            response
                .headers_mut()
                .entry(header::STRICT_TRANSPORT_SECURITY)
                .or_insert(value);
        }
        Poll::Ready(result)
    }
}
