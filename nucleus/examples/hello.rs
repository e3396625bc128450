//! The smallest Nucleus app.
//!
//! ```text
//! cargo run -p nucleus --example hello
//! curl http://127.0.0.1:8000/
//! ```

use std::net::SocketAddr;

use nucleus::{Request, Router};

async fn hello(_req: Request) -> &'static str {
    "Hello, World!"
}

fn main() -> std::io::Result<()> {
    let app = Router::new().get("/", hello);
    let addr = SocketAddr::from(([127, 0, 0, 1], 8000));
    nucleus::Server::builder().listen(addr).bind()?.run(app)
}
