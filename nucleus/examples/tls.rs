//! HTTPS with HTTP/2, a redirect from plain HTTP, and certificate reload.
//!
//! ```text
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
//!     -subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout key.pem -out cert.pem
//! cargo run -p nucleus --example tls -- cert.pem key.pem
//! curl -k https://localhost:8443/          # HTTP/2 (ALPN)
//! curl -k --http1.1 https://localhost:8443/
//! curl -i http://localhost:8080/anything   # 308 to https://localhost:8443/anything
//! ```
//!
//! Replace the two files and the server picks them up within 10 s; open connections keep
//! the certificate they started with.

use std::net::SocketAddr;
use std::time::Duration;

use nucleus::{Request, Router, TlsConfig};

async fn hello(req: Request) -> String {
    format!("Hello over {:?}!\n", req.version())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(cert), Some(key)) = (args.next(), args.next()) else {
        return Err("usage: tls CERT.pem KEY.pem".into());
    };
    // Errors name the file: a missing file, no key in it, a key for another certificate.
    let tls = TlsConfig::builder()
        .cert_files(cert, key)
        .hsts(Some(Duration::from_secs(300)))
        .build()?;
    tls.reload_on_change(Duration::from_secs(10));
    let app = Router::new().get("/", hello);
    nucleus::Server::builder()
        .listen_tls(SocketAddr::from(([127, 0, 0, 1], 8443)), tls)
        .listen_redirect(SocketAddr::from(([127, 0, 0, 1], 8080)), 8443)
        .bind()?
        .run(app)?;
    Ok(())
}
