//! Creating listening sockets.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `count` sockets to `addr`. With more than one, each has `SO_REUSEPORT` so the kernel
/// spreads new connections over the workers; all share the port the first one got.
pub(super) fn bind_group(
    addr: SocketAddr,
    count: usize,
    backlog: u32,
) -> io::Result<Vec<std::net::TcpListener>> {
    let first = bind_one(addr, count > 1, backlog)?;
    let actual = first.local_addr()?;
    let mut group = Vec::with_capacity(count);
    group.push(first);
    for _ in 1..count {
        group.push(bind_one(actual, true, backlog)?);
    }
    Ok(group)
}

fn bind_one(addr: SocketAddr, reuse_port: bool, backlog: u32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        // `[::]` serves IPv4 too unless the system forces v6-only; explicit is predictable.
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(socket.into())
}
