#!/usr/bin/env python3
"""New TLS connection per request: N sequential connections, each a full handshake (no
resumption), one `GET PATH` with `Connection: close`, the response read to EOF and checked.

Deterministic enough for callgrind (bench/tls-instructions.sh): one connection at a time, the
same cipher suite and key exchange every time (Python's OpenSSL defaults: TLS 1.3, X25519,
AES-256-GCM). Standard library only.

With --duration S it makes connections until S seconds have passed instead (bench/h2.sh's
handshake-full scenario runs several such clients side by side).

usage: bench/tls_client.py --addr HOST:PORT (-n N | --duration S) [--path /] [--alpn http/1.1]
                           [--tls12]
"""
import argparse
import socket
import ssl
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--addr", default="127.0.0.1:8443")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--duration", type=float, help="seconds to run for, instead of -n")
    p.add_argument("--path", default="/")
    p.add_argument("--alpn", default="http/1.1", help="offered ALPN protocol ('' for none)")
    p.add_argument("--tls12", action="store_true", help="cap the version at TLS 1.2")
    a = p.parse_args()
    host, port = a.addr.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if a.alpn:
        ctx.set_alpn_protocols([a.alpn])
    if a.tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    request = f"GET {a.path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    failed = 0
    done = 0
    deadline = time.monotonic() + a.duration if a.duration else None
    while (done < a.n) if deadline is None else (time.monotonic() < deadline):
        done += 1
        with socket.create_connection((host, int(port))) as raw:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(request)
                data = b""
                try:
                    while chunk := tls.recv(65536):
                        data += chunk
                except (ssl.SSLEOFError, ConnectionResetError):
                    pass  # a close without close_notify still ends a Connection: close answer
                if not data.startswith(b"HTTP/1.1 200"):
                    failed += 1
    print(f"connections={done} failed={failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
