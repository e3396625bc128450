//! The engine alone, no framework: a `tower::service_fn` answering every request with
//! `Hello, World!`. Useful to separate engine costs from router costs in benchmarks.
//!
//! `cargo run --release -p nucleus-http --example hello_engine -- 127.0.0.1:8000`

use std::convert::Infallible;

use http::header::{HeaderValue, CONTENT_TYPE};
use nucleus_http::{Body, Server};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".into());
    let addr = addr
        .parse()
        .map_err(|_| std::io::Error::other("bad address"))?;
    let hello = tower::service_fn(|_req: http::Request<Body>| async {
        let mut res = http::Response::new(Body::from("Hello, World!"));
        res.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Ok::<_, Infallible>(res)
    });
    let server = Server::builder().listen(addr).workers(1).bind()?;
    println!("listening on http://{}", server.local_addrs()[0]);
    server.run(hello)
}
