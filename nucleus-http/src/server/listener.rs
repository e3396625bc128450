//! Creating listening sockets.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

pub(super) struct Options {
    /// Sockets per address: one per worker with `SO_REUSEPORT`, or one shared.
    pub(super) count: usize,
    pub(super) backlog: u32,
    pub(super) v6_only: bool,
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
    socket.bind(&addr.into())?;
    socket.listen(options.backlog.min(i32::MAX as u32) as i32)?;
    Ok(socket.into())
}
