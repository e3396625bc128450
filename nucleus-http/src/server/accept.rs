//! The accept loop: one per listening socket per worker.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::{Config, HttpService, PeerAddr};

/// Serves every socket until the shutdown flag flips.
pub(super) async fn serve_listeners<S: HttpService>(
    sockets: Vec<std::net::TcpListener>,
    service: S,
    config: Arc<Config>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut loops = JoinSet::new();
    for socket in sockets {
        let listener = TcpListener::from_std(socket)?;
        loops.spawn(accept_loop(
            listener,
            service.clone(),
            config.clone(),
            shutdown.clone(),
        ));
    }
    while loops.join_next().await.is_some() {}
    Ok(())
}

async fn accept_loop<S: HttpService>(
    listener: TcpListener,
    service: S,
    config: Arc<Config>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.reset();
                // Responses are small and latency-bound; Nagle would hold back the tail of
                // every response that does not fill a segment.
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                let config = config.clone();
                tokio::spawn(async move {
                    let _ =
                        crate::h1::serve_connection(stream, Some(PeerAddr(peer)), service, config)
                            .await;
                });
            }
            Err(err) if is_connection_error(&err) => {
                // The peer reset before we accepted; nothing to do with the listener.
            }
            Err(err) => {
                // EMFILE/ENFILE/ENOBUFS/ENOMEM: the listener is fine but we cannot take more
                // now. Accepting again at once would spin at 100% CPU; exiting would turn a
                // transient overload into an outage. Back off, as hyper and axum do.
                let delay = backoff.next();
                tracing::error!(error = %err, retry_in_ms = delay.as_millis() as u64, "accept failed");
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Exponential backoff from 5 ms to 1 s.
struct Backoff {
    current: Duration,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    fn new() -> Backoff {
        Backoff {
            current: Backoff::MIN,
        }
    }

    fn reset(&mut self) {
        self.current = Backoff::MIN;
    }

    fn next(&mut self) -> Duration {
        let delay = self.current;
        self.current = (self.current * 2).min(Backoff::MAX);
        delay
    }
}
