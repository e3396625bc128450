#!/usr/bin/env bash
# Copies what bench/multicore.sh needs into DIR (default bench/.device, git-ignored): stripped
# release binaries of nucleus and the peers, and Debian's wrk with its libraries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
dir=${1:-$here/.device}
mkdir -p "$dir/lib"
(cd "$root" && cargo build --release -p nucleus-cli)
(cd "$here" && cargo build --release)
strip -o "$dir/nucleus" "$root/target/release/nucleus"
strip -o "$dir/hyper-server" "$here/target/release/hyper-server"
strip -o "$dir/actix-server" "$here/target/release/actix-server"
cp /usr/bin/wrk "$dir/wrk"
for lib in $(ldd /usr/bin/wrk | awk '/=> \// {print $3}'); do
  case "$lib" in */libc.so*|*/libm.so*|*/libpthread.so*|*/ld-linux*) ;; *) cp -L "$lib" "$dir/lib/" ;; esac
done
du -sh "$dir"
