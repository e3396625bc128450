#!/usr/bin/env bash
# System calls per request, counted with `strace -f -c` (NOT part of CI).
#
# usage: bench/syscalls.sh [SERVER...]
#   SERVER: hyper | axum | actix | xitca | may-minihttp | nucleus | NAME=/path/to/binary
#           (default: hyper axum actix xitca may-minihttp, + nucleus if
#           target/release/nucleus exists)
# env:    N=20000            requests per measurement
#         SCENARIOS="c1 c64 c64p16 echo4k" (also: close1 and close64, GET / with
#                            `Connection: close` on 1 or 64 connections at a time:
#                            syscalls per connection)
#                            c1: GET /, 1 connection, sequential keep-alive;
#                            c64: GET /, 64 keep-alive connections, not pipelined;
#                            c64p16: GET /, 64 connections, 16 pipelined per write;
#                            echo4k: POST /echo 4 KiB body, 64 keep-alive connections
#         SKIP_BUILD=1
#
# Each server (--workers 1, pinned to CPU 0; loadgen on CPU 1) is started, warmed
# up with 1000 requests, then `strace -f -c -p PID` is attached to all its threads,
# loadgen sends exactly N requests (every response verified), and strace is
# detached with SIGINT. Reported: all syscalls of the server in that window,
# epoll_wait/futex included, divided by N, plus the per-syscall breakdown.
# Caveat: ptrace slows every syscall, so with many connections a traced server
# finds more ready work per epoll_wait than an untraced one; c1 is immune to that.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-20000}
read -r -a SCENARIO_LIST <<<"${SCENARIOS:-c1 c64 c64p16 echo4k}"
command -v strace >/dev/null || die "strace not installed (apt-get install -y strace)"

build_bench
select_servers "$@"

scenario_args() {
  case "$1" in
    c1) echo "-c 1" ;;
    c64) echo "-c 64" ;;
    c64p16) echo "-c 64 -p 16" ;;
    echo4k) echo "-c 64 --method POST --path /echo --body-size 4096" ;;
    close1) echo "-c 1 --close" ;;
    close64) echo "-c 64 --close" ;;
    *) die "unknown scenario $1 (c1 c64 c64p16 echo4k close1 close64)" ;;
  esac
}

OUT="$BENCH_DIR/results/syscalls-$(date +%Y-%m-%d-%H%M%S).txt"
mkdir -p "$BENCH_DIR/results"
echo "# bench/syscalls.sh N=$N; strace -f -c summaries, then the table" >"$OUT"


declare -A PER_REQ TOP
for scen in "${SCENARIO_LIST[@]}"; do
  scenario_args "$scen" >/dev/null
  for s in "${SERVERS[@]}"; do
    name=$(server_name "$s")
    PER_REQ[$scen.$name]=-
    start_server "$s" taskset -c 0 || continue
    # shellcheck disable=SC2046
    taskset -c 1 "$LOADGEN" --addr "$HOST:$SERVER_PORT" -n 1000 --quiet $(scenario_args "$scen") ||
      log "warm-up failed for $name"
    summary="$LOG_DIR/strace.$name.$scen"
    strace_attach "$summary"
    # shellcheck disable=SC2046
    if ! taskset -c 1 "$LOADGEN" --addr "$HOST:$SERVER_PORT" -n "$N" --quiet $(scenario_args "$scen"); then
      log "loadgen failed against $name ($scen)"
      strace_detach
      stop_server
      continue
    fi
    strace_detach
    stop_server
    {
      echo
      echo "### $scen $name"
      cat "$summary"
    } >>"$OUT"
    # rows: % time, seconds, usecs/call, calls, [errors], syscall ; "total" row
    total=$(strace_total "$summary")
    [[ -n $total ]] || { log "no strace summary for $name ($scen)"; continue; }
    PER_REQ[$scen.$name]=$(awk -v t="$total" -v n="$N" 'BEGIN { printf "%.2f", t / n }')
    TOP[$scen.$name]=$(awk -v n="$N" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { printf "%s %.2f\n", $NF, $4 / n }' "$summary" |
      sort -k2 -g -r | head -n 5 | awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $1, $2 }')
    log "$scen $name: ${PER_REQ[$scen.$name]} syscalls/request (${TOP[$scen.$name]})"
  done
done

{
  echo
  echo "## syscalls per request (strace -f -c, all threads, epoll_wait included; N=$N requests)"
  printf '%-12s' server
  for scen in "${SCENARIO_LIST[@]}"; do printf ' %9s' "$scen"; done
  echo
  for s in "${SERVERS[@]}"; do
    name=$(server_name "$s")
    printf '%-12s' "$name"
    for scen in "${SCENARIO_LIST[@]}"; do printf ' %9s' "${PER_REQ[$scen.$name]}"; done
    echo
  done
  echo
  echo "## top syscalls per request"
  for scen in "${SCENARIO_LIST[@]}"; do
    for s in "${SERVERS[@]}"; do
      name=$(server_name "$s")
      printf '%-7s %-12s %s\n' "$scen" "$name" "${TOP[$scen.$name]:--}"
    done
  done
} | tee -a "$OUT"
echo
log "raw strace summaries: $OUT"
