//! Per connection: which protocol, over which transport. TLS first where the listener has it,
//! then ALPN (`h2` → HTTP/2, else HTTP/1.1), and on HTTP/1.1 the HTTP/2 preface (h2c with
//! prior knowledge) hands the connection over to HTTP/2.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{header, HeaderValue, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::lifecycle::ConnContext;
use crate::h1::Ended;
use crate::observe::record::{Quiet, Record, Tally};
use crate::{Body, Config, Error, HttpService, PeerAddr};

/// What a listener serves.
#[derive(Clone, Debug)]
pub(crate) enum Scheme {
    /// HTTP/1.1, and h2c with prior knowledge when HTTP/2 is on.
    Http,
    /// TLS, then HTTP/2 or HTTP/1.1 by ALPN.
    #[cfg(feature = "tls")]
    Https(Arc<super::tls::Acceptor>),
    /// Every request answered `308` to the same URL over HTTPS on this port.
    RedirectToHttps(u16),
}

/// Serves one HTTP/1.1 connection (or HTTP/2 with prior knowledge) until it closes.
///
/// Use this to serve a socket (or a TLS stream, or an in-memory pipe) you accepted yourself;
/// [`crate::Server`] does the same for every accepted TCP connection. A connection that
/// opens with the HTTP/2 preface is served as HTTP/2 when [`Config::http2`] is set.
///
/// # Errors
///
/// The error that ended the connection early (IO, a malformed request); `Ok` on a clean close.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use nucleus_http::{conn::serve_connection, Body, Config};
///
/// let (client, server) = tokio::io::duplex(4096);
/// let service = tower::service_fn(|_req: http::Request<Body>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("hi")))
/// });
/// tokio::spawn(serve_connection(server, None, service, Arc::new(Config::default())));
/// # drop(client);
/// # }
/// ```
pub async fn serve_connection<I, S>(
    io: I,
    peer: Option<PeerAddr>,
    service: S,
    config: Arc<Config>,
) -> Result<(), Error>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
{
    serve_http_auto(io, peer, service, config, ConnContext::standalone()).await
}

/// One accepted TCP connection on a listener that redirects to HTTPS.
pub(crate) async fn serve_redirect(
    stream: TcpStream,
    peer: PeerAddr,
    port: u16,
    config: Arc<Config>,
    ctx: ConnContext,
) -> Result<(), Error> {
    let redirect = Redirect { port };
    let record = Quiet::new(Some(peer));
    crate::h1::serve(stream, Some(peer), redirect, config, ctx, record)
        .await
        .map(drop)
}

/// [`serve_http`] with the record the configuration asks for (see `h1::is_quiet`). Plain
/// TCP listeners choose when they spawn the task instead, to keep this branch out of it.
pub(crate) async fn serve_http_auto<I, S>(
    io: I,
    peer: Option<PeerAddr>,
    service: S,
    config: Arc<Config>,
    ctx: ConnContext,
) -> Result<(), Error>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
{
    if crate::h1::is_quiet(&config) {
        let record = Quiet::new(peer);
        serve_http(io, peer, service, config, ctx, record).await
    } else {
        let record = Tally::for_http1(&config, peer);
        serve_http(io, peer, service, config, ctx, record).await
    }
}

/// HTTP/1.1, handing over to HTTP/2 if the connection opens with its preface.
pub(crate) async fn serve_http<I, S, R>(
    io: I,
    peer: Option<PeerAddr>,
    service: S,
    config: Arc<Config>,
    ctx: ConnContext,
    record: R,
) -> Result<(), Error>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
    R: Record,
{
    let ended = crate::h1::serve(io, peer, service, config, ctx, record).await?;
    after_http1(ended, peer).await
}

/// What follows an HTTP/1.1 connection: nothing, or HTTP/2 when it opened with the preface.
pub(crate) async fn after_http1<I, S>(
    ended: Ended<I, S>,
    peer: Option<PeerAddr>,
) -> Result<(), Error>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
{
    match ended {
        Ended::Closed => Ok(()),
        #[cfg(feature = "http2")]
        Ended::Http2(to) => {
            // The bytes HTTP/1.1 already read, preface included, are read again first.
            let io = crate::upgrade::Upgraded::new(Box::new(to.io), to.read);
            // Boxed: the HTTP/2 server's future is several KiB, and inline it would sit in
            // every HTTP/1.1 connection's task (each idle connection would carry it).
            Box::pin(crate::h2::serve(io, peer, to.service, to.config, to.ctx)).await
        }
        #[cfg(not(feature = "http2"))]
        Ended::Http2(_) => {
            let _ = peer;
            Ok(())
        }
    }
}

/// The plain-HTTP listener's answer when HTTPS is the real one: `308 Permanent Redirect`
/// keeps the method and body, where `301` lets clients turn a POST into a GET.
#[derive(Debug, Clone, Copy)]
struct Redirect {
    port: u16,
}

impl tower_service::Service<Request<Body>> for Redirect {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let mut response = Response::new(Body::empty());
        let location = redirect_location(&req, self.port);
        match location.and_then(|l| HeaderValue::try_from(l).ok()) {
            Some(location) => {
                *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
                response.headers_mut().insert(header::LOCATION, location);
            }
            None => *response.status_mut() = StatusCode::BAD_REQUEST,
        }
        std::future::ready(Ok(response))
    }
}

/// `https://` + the request's host (its port replaced) + the path and query.
///
/// The host is an absolute-form target's authority when there is one, which wins over `Host`
/// (RFC 9112 §3.2.2). `OPTIONS *` names no resource, so it goes to the root. Bytes a URI may
/// not carry as they are (raw UTF-8 and the few ASCII characters `http` lets through in a
/// path) are percent-encoded, so that the `Location` is a valid URI.
fn redirect_location(req: &Request<Body>, port: u16) -> Option<String> {
    let authority = match req.uri().authority() {
        Some(authority) => authority.clone(),
        None => req
            .headers()
            .get(header::HOST)?
            .to_str()
            .ok()?
            .parse::<http::uri::Authority>()
            .ok()?,
    };
    let host = authority.host();
    let path = match req.uri().path_and_query().map(|pq| pq.as_str()) {
        Some("*") | None => "/",
        Some(path) => path,
    };
    let port = if port == 443 {
        String::new()
    } else {
        format!(":{port}")
    };
    let path = percent_encoding::utf8_percent_encode(path, NOT_IN_A_PATH);
    Some(format!("https://{host}{port}{path}"))
}

/// What a path and query may not carry as it is (RFC 3986: anything but `pchar`, `/`, `?`,
/// and `%`, so that an escape already there stays as it is); non-ASCII bytes are always
/// encoded.
const NOT_IN_A_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

#[cfg(test)]
mod tests {
    use super::*;

    fn location(host: &str, target: &str, port: u16) -> Option<String> {
        let req = Request::builder()
            .uri(target)
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        redirect_location(&req, port)
    }

    #[test]
    fn redirects_keep_host_path_and_query_and_swap_the_port() {
        assert_eq!(
            location("example.com:8080", "/a/b?c=d", 443).as_deref(),
            Some("https://example.com/a/b?c=d")
        );
        assert_eq!(
            location("example.com", "/", 8443).as_deref(),
            Some("https://example.com:8443/")
        );
        assert_eq!(
            location("[::1]:80", "/x", 8443).as_deref(),
            Some("https://[::1]:8443/x")
        );
        assert_eq!(location("a b", "/", 443), None);
    }

    #[test]
    fn redirects_take_an_absolute_targets_authority_send_asterisk_to_the_root_and_escape() {
        // RFC 9112 §3.2.2: the target's authority, not Host.
        assert_eq!(
            location("other.example", "http://example.org/p?q", 443).as_deref(),
            Some("https://example.org/p?q")
        );
        assert_eq!(
            location("example.com", "*", 8443).as_deref(),
            Some("https://example.com:8443/")
        );
        let raw_utf8 = Request::builder()
            .uri(
                http::Uri::from_maybe_shared(bytes::Bytes::from_static(
                    "/caf\u{e9}?x={y}".as_bytes(),
                ))
                .unwrap(),
            )
            .header(header::HOST, "example.com")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            redirect_location(&raw_utf8, 443).as_deref(),
            Some("https://example.com/caf%C3%A9?x=%7By%7D")
        );
    }
}
