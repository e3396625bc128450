#!/usr/bin/env bash
# Latency percentiles of two servers in alternating rounds (NOT part of CI).
#
# usage: bench/tail.sh A_BIN B_BIN [SERVER ARGS...]
# env:   ROUNDS=12  SECONDS_=2  CONNS=64  PATH_=/  SERVER_CPU=0 CLIENT_CPU=1
#
# Both servers start once, with `--listen 127.0.0.1:PORT --workers 1` and SERVER ARGS, pinned to
# SERVER_CPU (no CPU quota, as issue 6's p99 bar is measured). Each round runs wrk -t1 against A
# and B in turn, alternating which goes first, and records p50 to p99.9 (bench/lua/percentiles.lua).
# Prints every round, then per percentile the median of each server and the number of rounds in
# which A was lower or equal: single rounds swing with the machine more than the two servers
# differ, so the count of rounds is the figure to read. Latency tails on a virtual machine
# depend on its idle settings (docs/PERFORMANCE.md, "Machine"); before measuring, check that
# no server from an earlier test is still running.
set -euo pipefail

[[ $# -ge 2 ]] || { sed -n '2,14p' "$0"; exit 2; }
A=$1 B=$2
shift 2
ROUNDS=${ROUNDS:-12} RUN_SECONDS=${SECONDS_:-2} CONNS=${CONNS:-64} URL_PATH=${PATH_:-/}
SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1}
PORT_A=8611 PORT_B=8612
script="$(cd "$(dirname "$0")" && pwd)/lua/percentiles.lua"
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

for pair in "$A $PORT_A" "$B $PORT_B"; do
  read -r bin port <<<"$pair"
  taskset -c "$SERVER_CPU" "$bin" --listen "127.0.0.1:$port" --workers 1 "$@" >"$work/$port.log" 2>&1 &
  pids+=("$!")
done
sleep 1.5
run() { # PORT: one line "p50=... requests=..."
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$RUN_SECONDS" -s "$script" \
    "http://127.0.0.1:$1$URL_PATH" | awk '/^TAIL/ { $1 = ""; print substr($0, 2) }'
}
for port in $PORT_A $PORT_B; do run "$port" >/dev/null; done # warm-up

for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then a=$(run $PORT_A); b=$(run $PORT_B); else b=$(run $PORT_B); a=$(run $PORT_A); fi
  [[ -n $a && -n $b ]] || { echo "error: a wrk run gave no result (server logs: $work)" >&2; exit 1; }
  echo "A $a"
  echo "B $b"
done | tee "$work/rounds"

echo
awk '
  { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[$1, kv[1], NR] = kv[2]; if (!(kv[1] in seen)) { seen[kv[1]] = ++nk; key[nk] = kv[1] } } }
  $1 == "A" { na++; ra[na] = NR } $1 == "B" { nb++; rb[nb] = NR }
  function median(side, k, n, rows,   i, x, t, j) {
    for (i = 1; i <= n; i++) x[i] = v[side, k, rows[i]] + 0
    for (i = 2; i <= n; i++) { t = x[i]; for (j = i - 1; j >= 1 && x[j] > t; j--) x[j + 1] = x[j]; x[j + 1] = t }
    return (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
  }
  END {
    printf "%-10s %10s %10s  %s\n", "", "A median", "B median", "rounds with A <= B"
    for (i = 1; i <= nk; i++) {
      k = key[i]; lower = 0
      for (r = 1; r <= na; r++) if (v["A", k, ra[r]] + 0 <= v["B", k, rb[r]] + 0) lower++
      if (k == "requests") { printf "%-10s %10.0f %10.0f  (per round; more is better)\n", k, median("A", k, na, ra), median("B", k, nb, rb); continue }
      printf "%-10s %10.0f %10.0f  %d of %d\n", k, median("A", k, na, ra), median("B", k, nb, rb), lower, na
    }
  }' "$work/rounds"
