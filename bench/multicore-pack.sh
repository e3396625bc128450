#!/usr/bin/env bash
# Copies what bench/device-run.sh needs into DIR (default bench/.device, git-ignored): stripped
# release binaries of nucleus, the five peers and hyper's HTTP/2 peer, Debian's wrk and h2load
# with their libraries, and a test certificate. The device machine has no network and takes at
# most 64 MiB of carried files, so everything is here and the total size is printed at the end.
#
# Usage: bench/multicore-pack.sh [DIR]
# env: NUCLEUS_BIN=<repo>/target/release/nucleus   (built here unless NUCLEUS_BIN is given)
#      SKIP_BUILD=1   use the binaries as they are (no cargo build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
dir=${1:-$here/.device}
nucleus=${NUCLEUS_BIN:-$root/target/release/nucleus}
peers=(hyper-server actix-server axum-server xitca-web-server may-minihttp-server)
mkdir -p "$dir/lib"
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  [[ -n ${NUCLEUS_BIN:-} ]] || (cd "$root" && cargo build --release -p nucleus-cli)
  (cd "$here" && cargo build --release)
  (cd "$here/h2-peer" && cargo build --release)
fi
strip -o "$dir/nucleus" "$nucleus"
for p in "${peers[@]}"; do
  strip -o "$dir/$p" "$here/target/release/$p"
done
# bench/h2-device.sh: hyper's HTTP/2 and TLS peer, h2load, and a certificate both servers use.
strip -o "$dir/hyper-h2-server" "$here/h2-peer/target/release/hyper-h2-server"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
for tool in wrk h2load; do
  cp "/usr/bin/$tool" "$dir/$tool"
  # its libraries except the C library itself (the device has its own glibc)
  for lib in $(ldd "/usr/bin/$tool" | awk '/=> \// {print $3}'); do
    case "$lib" in */libc.so*|*/libm.so*|*/libpthread.so*|*/ld-linux*) ;; *) cp -L "$lib" "$dir/lib/" ;; esac
  done
done
du -sh "$dir"
