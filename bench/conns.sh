#!/usr/bin/env bash
# N concurrent connections served without error (NOT part of CI).
#
# usage: bench/conns.sh [SERVER...]
#   SERVER: hyper | axum | actix | xitca | may-minihttp | nucleus | NAME=/path/to/binary
#           (default: hyper axum actix xitca may-minihttp, + nucleus if
#           target/release/nucleus exists)
# env:    N=10000        connections, all open at the same time
#         R=1            requests per connection (sequential on a connection)
#         URL_PATH=/     request target (GET)
#         TIMEOUT=30     seconds allowed per connect and per response
#         SERVER_ENV=""  extra environment for the server (NAME=VALUE words)
#         SKIP_BUILD=1
#
# Per server: start it with --workers 1 (pinned to CPU 0 with taskset when there
# are 2+ CPUs; the client on CPU 1). bench/conn_client.py (burst mode) starts all N
# connects at once and waits until every one has finished, so all N connections are
# open at the same moment; then every connection sends its R requests at the same
# time and each response is checked (status 200, complete Content-Length or chunked
# body). Reported: connections connected, requests ok / failed with the kinds of
# failure, the time to connect all N, the time for the requests, the wall time, and
# the server's peak open fds (sampled every 50 ms) and peak RSS (VmHWM).
# Exit status 1 if anything failed for any server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-10000}
R=${R:-1}
URL_PATH=${URL_PATH:-/}
TIMEOUT=${TIMEOUT:-30}
parse_server_env
((N >= 1 && R >= 1)) || die "N and R must be at least 1"
command -v python3 >/dev/null || die "python3 not found"
raise_nofile $((N + 1024))

build_bench
select_servers "$@"

pin_server_and_client

OUT="$BENCH_DIR/results/conns-$(date +%Y-%m-%d-%H%M%S).txt"
mkdir -p "$BENCH_DIR/results"
echo "# bench/conns.sh N=$N R=$R URL_PATH=$URL_PATH SERVER_ENV='${SERVER_ENV:-}' ulimit-n=$(ulimit -n)" >"$OUT"

SAMPLER_PID=
# fd_sampler PID FILE: writes PID's highest open-fd count so far to FILE until PID exits
fd_sampler() {
  local pid=$1 file=$2 max=0 n
  while kill -0 "$pid" 2>/dev/null; do
    n=$(fd_count "$pid" 2>/dev/null) || break
    if ((n > max)); then
      max=$n
      echo "$max" >"$file"
    fi
    sleep 0.05
  done
}
# shellcheck disable=SC2317 # called from the EXIT trap and below
stop_sampler() {
  [[ -z $SAMPLER_PID ]] && return 0
  kill "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=
}
trap 'stop_sampler; stop_server' EXIT

# field NAME LINE: the value of NAME=value in a `key=value ...` line ("" if absent)
field() { sed -n "s/.*\\<$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

declare -A ROW
FAILED=0
for s in "${SERVERS[@]}"; do
  name=$(server_name "$s")
  ROW[$name]="- - - - - - - - start-failed"
  log "$name: starting"
  if ! start_server "$s" env "${SENV[@]}" "${SERVER_PIN[@]}"; then
    FAILED=1
    continue
  fi
  peak_file="$LOG_DIR/$name.$SERVER_PORT.fds"
  fd_count "$SERVER_PID" >"$peak_file"
  fd_sampler "$SERVER_PID" "$peak_file" &
  SAMPLER_PID=$!
  log "$name: $N connections at once, $R request(s) each"
  rc=0
  result=$("${CLIENT_PIN[@]}" python3 "$BENCH_DIR/conn_client.py" burst --host "$HOST" \
    --port "$SERVER_PORT" -n "$N" -r "$R" --path "$URL_PATH" --timeout "$TIMEOUT") || rc=$?
  stop_sampler
  peak_fds=$(<"$peak_file")
  hwm=$(peak_rss_kib "$SERVER_PID" 2>/dev/null || echo -)
  alive=yes
  kill -0 "$SERVER_PID" 2>/dev/null || alive=no
  stop_server
  summary=$(head -n 1 <<<"$result")
  errors=$(tail -n +2 <<<"$result" | sed 's/^error //' | paste -sd ' ')
  echo "$name rc=$rc peak_fds=$peak_fds peak_rss_kib=$hwm server_alive=$alive $summary ${errors:+errors: $errors}" >>"$OUT"
  log "$name: $summary${errors:+ errors: $errors}"
  connected=$(field connected "$summary") ok=$(field ok "$summary") failed=$(field failed "$summary")
  if [[ $rc != 0 || -z $ok || $failed != 0 || $ok != $((N * R)) || $alive != yes ]]; then
    FAILED=1
    verdict="FAIL${errors:+ ($errors)}"
    [[ $alive == yes ]] || verdict="$verdict server-died"
  else
    verdict=PASS
  fi
  cs=$(field connect_s "$summary") rs=$(field requests_s "$summary") ws=$(field wall_s "$summary")
  ROW[$name]="${connected:--} ${ok:--} ${failed:--} ${cs:--} ${rs:--} ${ws:--} ${peak_fds:--} ${hwm:--} $verdict"
done

{
  echo
  echo "## $N concurrent connections, $R x GET $URL_PATH each (1 worker)"
  printf '%-12s %9s %9s %7s %10s %11s %7s %9s %9s  %s\n' server connected ok failed connect_s requests_s wall_s "peak fds" "peak KiB" result
  for s in "${SERVERS[@]}"; do
    name=$(server_name "$s")
    read -r c o f cs rs ws pf pr v <<<"${ROW[$name]}"
    printf '%-12s %9s %9s %7s %10s %11s %7s %9s %9s  %s\n' "$name" "$c" "$o" "$f" "$cs" "$rs" "$ws" "$pf" "$pr" "$v"
  done
} | tee -a "$OUT"
echo
log "raw results: $OUT"
exit "$FAILED"
