#!/usr/bin/env python3
"""Many-connection HTTP/1.1 client for bench/idle.sh and bench/conns.sh (not part of CI).

usage:
  conn_client.py idle  --port P [--host H] [-n N] [--path /] [--parallel 256] [--timeout 30]
  conn_client.py burst --port P [--host H] [-n N] [-r R] [--path /] [--timeout 30]

idle   Opens N keep-alive connections (at most --parallel connecting at a time, so
       the listen backlog never overflows), sends one `GET PATH HTTP/1.1` on each and
       reads the whole response, then keeps every connection open and idle. When all
       N have their answer it prints one line on stdout:
           ready ok=N failed=F seconds=T
       and then reads commands, one per line, from stdin:
           status   -> prints `status open=O server_closed=C` (C: connections the
                       server has closed since they went idle)
       At EOF on stdin it closes every connection, prints `closed open=O
       server_closed=C` and exits (status 1 if any connection failed or was closed
       by the server).

burst  Starts N connects at once and waits until every one has finished (so all
       N connections are open at the same moment), then sends R requests on each,
       one after another on a connection, all connections at the same time,
       and checks every response: status 200 and complete framing
       (Content-Length or chunked). Prints
           connections=N connected=C requests=.. ok=.. failed=.. connect_s=..
           requests_s=.. wall_s=..
       plus one `error KIND COUNT` line per kind of failure (counted per
       connection: the first failure on a connection ends it, and its remaining
       requests count as failed too); exit status 1 if anything failed.

Only the Python 3 standard library (asyncio). The caller must raise `ulimit -n`.
"""

import argparse
import asyncio
import collections
import sys
import time


class HttpError(Exception):
    pass


async def read_response(reader):
    """Reads one response; returns (status, body_len, close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HttpError("bad-status-line")
    status = int(parts[1])
    clen = None
    chunked = False
    close = parts[0] == b"HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == b"content-length":
            clen = int(value)
        elif name == b"transfer-encoding":
            chunked = value.endswith(b"chunked")
        elif name == b"connection":
            close = b"close" in value
    body = 0
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailer fields
                break
            await reader.readexactly(size + 2)
            body += size
    elif clen is not None:
        await reader.readexactly(clen)
        body = clen
    elif status in (204, 304) or 100 <= status < 200:
        pass
    else:
        raise HttpError("no-framing")  # keep-alive needs Content-Length or chunked
    return status, body, close


def kind(exc):
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "eof"
    return type(exc).__name__ if not isinstance(exc, HttpError) else str(exc)


def request_bytes(args):
    return f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n\r\n".encode()


async def idle(args):
    req = request_bytes(args)
    sem = asyncio.Semaphore(args.parallel)
    errors = collections.Counter()
    conns = []  # (reader, writer) of connections that got their response
    server_closed = 0
    watchers = []

    async def watch(reader):
        nonlocal server_closed
        try:
            await reader.read(1)  # returns only if the server sends or closes
        except (ConnectionError, OSError):
            pass
        server_closed += 1

    async def one():
        async with sem:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(args.host, args.port), args.timeout)
            except Exception as e:  # noqa: BLE001 (counted and reported)
                errors["connect-" + kind(e)] += 1
                return
            try:
                writer.write(req)
                status, _, close = await asyncio.wait_for(read_response(reader), args.timeout)
                if status != 200:
                    raise HttpError(f"status-{status}")
                if close:
                    raise HttpError("server-sent-close")
            except Exception as e:  # noqa: BLE001
                errors[kind(e)] += 1
                writer.close()
                return
            conns.append((reader, writer))
            watchers.append(asyncio.ensure_future(watch(reader)))

    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(args.n)))
    failed = sum(errors.values())
    print(f"ready ok={len(conns)} failed={failed} seconds={time.monotonic() - t0:.2f}", flush=True)
    for k, v in errors.most_common():
        print(f"error {k} {v}", file=sys.stderr)

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        if line.strip() == "status":
            print(f"status open={len(conns) - server_closed} server_closed={server_closed}", flush=True)
    closed_by_server = server_closed
    for w in watchers:
        w.cancel()
    for _, writer in conns:
        writer.close()
    await asyncio.gather(*watchers, return_exceptions=True)
    print(f"closed open={len(conns) - closed_by_server} server_closed={closed_by_server}", flush=True)
    return 1 if failed or closed_by_server else 0


async def burst(args):
    req = request_bytes(args)
    errors = collections.Counter()
    ok = 0
    done = 0
    all_connected = asyncio.Event()
    t_connected = None

    def connect_finished():
        nonlocal done, t_connected
        done += 1
        if done == args.n:
            t_connected = time.monotonic()
            all_connected.set()

    async def one():
        nonlocal ok
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(args.host, args.port), args.timeout)
        except Exception as e:  # noqa: BLE001
            errors["connect-" + kind(e)] += 1
            connect_finished()
            return False
        connect_finished()
        await all_connected.wait()
        try:
            for i in range(args.requests):
                writer.write(req)
                status, _, close = await asyncio.wait_for(read_response(reader), args.timeout)
                if status != 200:
                    raise HttpError(f"status-{status}")
                ok += 1
                if close and i + 1 < args.requests:
                    raise HttpError("server-sent-close")
        except Exception as e:  # noqa: BLE001 (one count per failed connection)
            errors[kind(e)] += 1
        finally:
            writer.close()
        return True

    t0 = time.monotonic()
    results = await asyncio.gather(*(one() for _ in range(args.n)))
    t1 = time.monotonic()
    connected = sum(results)
    total = args.n * args.requests
    failed_reqs = total - ok  # includes the requests of connections that never connected
    print(f"connections={args.n} connected={connected} requests={total} ok={ok} "
          f"failed={failed_reqs} connect_s={(t_connected or t1) - t0:.2f} "
          f"requests_s={t1 - (t_connected or t1):.2f} wall_s={t1 - t0:.2f}", flush=True)
    for k, v in errors.most_common():
        print(f"error {k} {v}", flush=True)
    return 1 if failed_reqs or errors else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["idle", "burst"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("-n", type=int, default=10000, help="connections")
    p.add_argument("-r", "--requests", type=int, default=1, help="requests per connection (burst)")
    p.add_argument("--path", default="/")
    p.add_argument("--parallel", type=int, default=256, help="connects in flight at once (idle)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per connect / response")
    args = p.parse_args()
    if args.n < 1 or args.requests < 1:
        p.error("-n and -r must be at least 1")
    rc = asyncio.run(idle(args) if args.mode == "idle" else burst(args))
    sys.exit(rc)


if __name__ == "__main__":
    main()
