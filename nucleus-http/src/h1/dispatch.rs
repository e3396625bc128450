//! stub
use std::sync::Arc;
use crate::{Config, Error, HttpService, PeerAddr};
/// Serves one HTTP/1.1 connection until it closes.
pub async fn serve_connection<I, S>(_io: I, _peer: Option<PeerAddr>, _service: S, _config: Arc<Config>) -> Result<(), Error>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    S: HttpService,
{
    Ok(())
}
