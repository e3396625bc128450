#!/usr/bin/env bash
# Copies what bench/multicore.sh needs into DIR (default bench/.device, git-ignored): stripped
# release binaries of nucleus and the five peers, and Debian's wrk with its libraries. The device
# machine has no network and takes at most 64 MiB of carried files, so everything is here and the
# total size is printed at the end.
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
fi
strip -o "$dir/nucleus" "$nucleus"
for p in "${peers[@]}"; do
  strip -o "$dir/$p" "$here/target/release/$p"
done
cp /usr/bin/wrk "$dir/wrk"
# wrk's libraries except the C library itself (the device has its own glibc)
for lib in $(ldd /usr/bin/wrk | awk '/=> \// {print $3}'); do
  case "$lib" in */libc.so*|*/libm.so*|*/libpthread.so*|*/ld-linux*) ;; *) cp -L "$lib" "$dir/lib/" ;; esac
done
du -sh "$dir"
