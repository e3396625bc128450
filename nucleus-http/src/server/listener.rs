//! Creating listening sockets.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

pub(super) struct Options {
    /// Sockets per address: one per worker with `SO_REUSEPORT`, or one shared.
    pub(super) count: usize,
    pub(super) backlog: u32,
    pub(super) v6_only: bool,
    /// `Config::send_buffer_size`, for accepted sockets.
    pub(super) send_buffer_size: Option<usize>,
}

/// Whether an accepted socket inherits `TCP_NODELAY` and `SO_SNDBUF` from its listener, so
/// that setting them once at bind spares two `setsockopt` calls per connection (a tenth of
/// the syscalls of a `Connection: close` request). Linux copies the listener's socket into
/// each connection it accepts (`sk_clone_lock`), options and their "set by the user" locks
/// included; the test below checks it. Elsewhere the accept loop sets them on each socket.
pub(super) const ACCEPTED_INHERIT_OPTIONS: bool =
    cfg!(any(target_os = "linux", target_os = "android"));

/// What every accepted socket gets: no Nagle (responses are small and latency-bound; Nagle
/// would hold back the tail of every response that does not fill a segment), and the
/// configured send buffer.
pub(super) fn tune_accepted(socket: socket2::SockRef<'_>, send_buffer_size: Option<usize>) {
    let _ = socket.set_nodelay(true);
    if let Some(size) = send_buffer_size {
        let _ = socket.set_send_buffer_size(size);
    }
}

/// Binds `options.count` sockets to `addr`. With more than one, each has `SO_REUSEPORT` so the
/// kernel spreads new connections over the workers; all share the port the first one got.
pub(super) fn bind_group(
    addr: SocketAddr,
    options: &Options,
) -> io::Result<Vec<std::net::TcpListener>> {
    let reuse_port = options.count > 1;
    let first = bind_one(addr, reuse_port, options)?;
    let actual = first.local_addr()?;
    let mut group = Vec::with_capacity(options.count);
    group.push(first);
    for _ in 1..options.count {
        group.push(bind_one(actual, true, options)?);
    }
    Ok(group)
}

fn bind_one(
    addr: SocketAddr,
    reuse_port: bool,
    options: &Options,
) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        // Explicit rather than the system default (`net.ipv6.bindv6only`): `[::]` serves both
        // families unless asked otherwise.
        socket.set_only_v6(options.v6_only)?;
    }
    socket.set_nonblocking(true)?;
    if ACCEPTED_INHERIT_OPTIONS {
        tune_accepted(socket2::SockRef::from(&socket), options.send_buffer_size);
    }
    socket.bind(&addr.into())?;
    socket.listen(options.backlog.min(i32::MAX as u32) as i32)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel behaviour `ACCEPTED_INHERIT_OPTIONS` relies on.
    #[test]
    fn accepted_sockets_get_nodelay_and_the_send_buffer() {
        let options = Options {
            count: 1,
            backlog: 16,
            v6_only: false,
            send_buffer_size: Some(96 * 1024),
        };
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let listener = bind_group(addr, &options).unwrap().remove(0);
        listener.set_nonblocking(false).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        if !ACCEPTED_INHERIT_OPTIONS {
            tune_accepted(socket2::SockRef::from(&accepted), options.send_buffer_size);
        }
        let accepted = socket2::SockRef::from(&accepted);
        assert!(accepted.nodelay().unwrap());
        let reference = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        reference.set_send_buffer_size(96 * 1024).unwrap();
        assert_eq!(
            accepted.send_buffer_size().unwrap(),
            reference.send_buffer_size().unwrap()
        );
    }
}
