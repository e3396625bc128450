#!/usr/bin/env bash
# Server CPU per request of two builds (or two servers), in alternating rounds (NOT part of CI).
#
# usage: bench/ab.sh A_BIN B_BIN [SERVER ARGS...]
# env:   ROUNDS=7  PATH_=/  SERVER_CPU=0 CLIENT_CPU=1  CONNS=64  SECONDS_=2
#        WRK_SCRIPT=bench/lua/post4k.lua  a wrk script for every run (e.g. POST /echo 4 KiB)
#
# Both servers start once, with `--listen 127.0.0.1:PORT --workers 1` and SERVER ARGS (for
# HTTPS: `--tls-cert C --tls-key K`), pinned to SERVER_CPU. Each round runs wrk -t1 against A
# and B in turn (the order alternates between rounds) and reads each server's task-clock
# with `perf stat -p` over the run: server CPU time per request, with no quota, so wrk may be
# the bottleneck and that does not matter. Prints one line per round (A µs, B µs, B/A) and
# the median of the ratios: on a shared machine whose speed drifts by 20 % from one minute to
# the next, the ratio within a round is the steady figure, more than req/s or either median.
# Needs perf and wrk.
set -euo pipefail

[[ $# -ge 2 ]] || { sed -n '2,14p' "$0"; exit 2; }
A=$1 B=$2
shift 2
ROUNDS=${ROUNDS:-7} URL_PATH=${PATH_:-/} CONNS=${CONNS:-64} RUN_SECONDS=${SECONDS_:-2}
SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1}
PORT_A=8601 PORT_B=8602
scheme=http
script=()
[[ -n ${WRK_SCRIPT:-} ]] && script=(-s "$WRK_SCRIPT")
[[ " $* " == *" --tls-cert "* ]] && scheme=https
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start() { # BIN PORT
  taskset -c "$SERVER_CPU" "$1" --listen "127.0.0.1:$2" --workers 1 "${@:3}" >"$work/$2.log" 2>&1 &
  pids+=("$!")
}
start "$A" "$PORT_A" "$@"
start "$B" "$PORT_B" "$@"
sleep 1.5
for port in $PORT_A $PORT_B; do
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d1 "$scheme://127.0.0.1:$port$URL_PATH" >/dev/null
done

cpu_per_request() { # PID PORT
  perf stat -e task-clock -p "$1" -o "$work/perf" -- sleep "$(awk -v s="$RUN_SECONDS" 'BEGIN {print s + 0.2}')" &
  local stat=$!
  local requests
  requests=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$RUN_SECONDS" "${script[@]}" \
    "$scheme://127.0.0.1:$2$URL_PATH" | awk '/requests in/ {print $1}')
  wait "$stat"
  awk -v r="$requests" '/task-clock/ {gsub(",", "", $1); printf "%.4f\n", $1 * 1000 / r}' "$work/perf"
}

for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then
    a=$(cpu_per_request "${pids[0]}" $PORT_A); b=$(cpu_per_request "${pids[1]}" $PORT_B)
  else
    b=$(cpu_per_request "${pids[1]}" $PORT_B); a=$(cpu_per_request "${pids[0]}" $PORT_A)
  fi
  echo "$a $b" | awk '{printf "round A %.3f us  B %.3f us  B/A %.4f\n", $1, $2, $2 / $1}'
done | tee "$work/rounds"
awk '{print $9}' "$work/rounds" | sort -n | awk '{r[NR] = $1} END {m = r[int((NR + 1) / 2)]; print "median B/A", m}'
awk '$9 < 1 {lower++} END {printf "rounds with B below A: %d of %d\n", lower, NR}' "$work/rounds"
