#!/usr/bin/env bash
# Multi-core scaling on a machine with at least 16 CPUs: each server gets 8 workers pinned to
# CPUs 0-7, wrk -t8 -c256 runs pinned to CPUs 8-15, 10 s per run. Compares Nucleus's two worker
# models (per-core runtimes vs tokio work-stealing) with hyper and actix-web, plaintext and
# pipelined x16, and Nucleus with 1 worker for the scaling factor.
#
# Usage: bench/multicore.sh DIR
#   DIR holds the release binaries nucleus, hyper-server, actix-server and Debian's wrk (with
#   its shared libraries in DIR/lib); bench/multicore-pack.sh fills it. Results go to $OUT (or
#   DIR) as multicore.txt.
set -euo pipefail
dir=$(cd "${1:?usage: multicore.sh DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$dir}
duration=${DURATION:-10}
export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
wrk="$dir/wrk"
port=19090
report="$out/multicore.txt"
: >"$report"
say() { echo "$*" | tee -a "$report"; }

say "# bench/multicore.sh $(date -u +%FT%TZ) on $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
say "# server pinned to CPUs 0-7 (8 workers unless noted), wrk -t8 -c256 -d${duration}s pinned to CPUs 8-15"

wait_up() {
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

run() { # name scenario workers cmd...
  local name=$1 scenario=$2 workers=$3; shift 3
  taskset -c 0-7 "$@" >/dev/null 2>&1 &
  local pid=$!
  if ! wait_up; then say "$name $scenario: did not start"; kill $pid 2>/dev/null || true; return; fi
  local script=()
  [ "$scenario" = pipelined ] && script=(-s "$here/lua/pipeline.lua")
  taskset -c 8-15 "$wrk" -t8 -c256 -d2s "${script[@]}" "http://127.0.0.1:$port/" >/dev/null 2>&1 || true
  local rps
  rps=$(taskset -c 8-15 "$wrk" -t8 -c256 -d"${duration}s" "${script[@]}" "http://127.0.0.1:$port/" 2>&1 \
        | awk '/Requests\/sec/ {print $2}')
  kill -INT $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  say "$(printf '%-22s %-10s workers=%-2s req/s=%s' "$name" "$scenario" "$workers" "${rps:-n/a}")"
  sleep 1
}

for scenario in plaintext pipelined; do
  run nucleus-per-core "$scenario" 8 "$dir/nucleus" --listen 127.0.0.1:$port --workers 8 --worker-model per-core
  run nucleus-work-stealing "$scenario" 8 "$dir/nucleus" --listen 127.0.0.1:$port --workers 8 --worker-model work-stealing
  run hyper "$scenario" 8 "$dir/hyper-server" --listen 127.0.0.1:$port --workers 8
  run actix "$scenario" 8 "$dir/actix-server" --listen 127.0.0.1:$port --workers 8
done
run nucleus-per-core plaintext 1 "$dir/nucleus" --listen 127.0.0.1:$port --workers 1 --worker-model per-core
run nucleus-work-stealing plaintext 1 "$dir/nucleus" --listen 127.0.0.1:$port --workers 1 --worker-model work-stealing
