#!/usr/bin/env bash
# Throughput/latency benchmark with wrk (NOT part of CI; run by hand).
#
# usage: bench/run.sh [SERVER...]
#   SERVER: hyper | axum | actix | xitca | may-minihttp | nucleus | NAME=/path/to/binary
#           (default: hyper axum actix xitca may-minihttp, + nucleus if
#           target/release/nucleus exists)
# env:    DURATION=10      seconds per wrk run (after a 1 s warm-up)
#         RUNS=1           repetitions; tables show the median of each column
#         SCENARIOS="plaintext pipelined json close echo4k slow10"   subset/order
#         SERVER_CPU=0 CLIENT_CPU=1   taskset cores for server and wrk
#         SKIP_BUILD=1     do not run cargo build for the peers
#         CPU_QUOTA=50     hold each server to that percentage of its CPU (lib.sh's limit_cpu):
#                          on a 2-core machine the server is then the bottleneck, not wrk;
#                          req/s and CPU per request compare servers, p50/p99 do not
#
# Every server is started with `--workers 1` pinned to SERVER_CPU, wrk (-t1) is
# pinned to CLIENT_CPU. Runs are interleaved (scenario → run → server) so drift on
# a shared machine hits every server alike. Per run: server CPU time (utime+stime
# from /proc/PID/stat, during the measured window only) / requests, and peak RSS
# (VmHWM). Raw lines + tables go to bench/results/<date-time>.txt.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10}
RUNS=${RUNS:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
read -r -a SCENARIO_LIST <<<"${SCENARIOS:-plaintext pipelined json close echo4k slow10}"

command -v wrk >/dev/null || die "wrk not installed (apt-get install -y wrk)"
build_bench
select_servers "$@"

# scenario -> "connections|path|lua script (besides report.lua)|close?"
scenario_def() {
  case "$1" in
    plaintext) echo "64|/||" ;;
    pipelined) echo "64|/|pipeline.lua|" ;;
    json) echo "64|/json||" ;;
    close) echo "64|/||close" ;;
    echo4k) echo "64|/echo|post4k.lua|" ;;
    slow10) echo "256|/slow?ms=10||" ;;
    *) die "unknown scenario $1" ;;
  esac
}

scenario_desc() {
  case "$1" in
    plaintext) echo "GET /, keep-alive, 64 conns" ;;
    pipelined) echo "GET /, 16 pipelined per write, 64 conns" ;;
    json) echo "GET /json, keep-alive, 64 conns" ;;
    close) echo "GET /, Connection: close, 64 conns" ;;
    echo4k) echo "POST /echo 4 KiB body, keep-alive, 64 conns" ;;
    slow10) echo "GET /slow?ms=10, keep-alive, 256 conns" ;;
  esac
}

mkdir -p "$BENCH_DIR/results"
STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT="$BENCH_DIR/results/$STAMP.txt"
{
  echo "# bench/run.sh $STAMP  DURATION=$DURATION RUNS=$RUNS servers: ${SERVERS[*]}"
  echo "# host: $(nproc) CPUs, $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), kernel $(uname -r)"
  echo "# scenario server run requests req_per_s p50_us p99_us cpu_us_per_req peak_rss_kib errors"
} >"$OUT"

# one measurement; appends a raw line to $OUT
measure() {
  local scen=$1 s=$2 run=$3 name conns path lua close script
  name=$(server_name "$s")
  IFS='|' read -r conns path lua close <<<"$(scenario_def "$scen")"
  script="$LOG_DIR/wrk-$scen.lua"
  { [[ -n $lua ]] && cat "$BENCH_DIR/lua/$lua"; cat "$BENCH_DIR/lua/report.lua"; } >"$script"
  local -a args=(-t1 -c"$conns" -s "$script")
  [[ $close == close ]] && args+=(-H "Connection: close")
  if ! start_server "$s" taskset -c "$SERVER_CPU"; then
    echo "$scen $name $run failed - - - - - -" >>"$OUT"
    return 0
  fi
  local url="http://$HOST:$SERVER_PORT$path"
  taskset -c "$CLIENT_CPU" wrk "${args[@]}" -d1s "$url" >/dev/null 2>&1 || true # warm-up
  local cpu0 cpu1 res rss
  cpu0=$(cpu_us "$SERVER_PID")
  res=$(taskset -c "$CLIENT_CPU" wrk "${args[@]}" -d"${DURATION}s" "$url" 2>&1) || true
  # empty if the server died during the run
  cpu1=$(cpu_us "$SERVER_PID" 2>/dev/null) || cpu1=
  rss=$(peak_rss_kib "$SERVER_PID" 2>/dev/null) || rss=
  stop_server
  local line
  if ! line=$(grep '^RESULT' <<<"$res") || [[ -z $cpu1 || -z $rss ]]; then
    log "run failed for $name/$scen (server exited? log: $SERVER_LOG): $res"
    echo "$scen $name $run failed - - - - - -" >>"$OUT"
    return 0
  fi
  # RESULT requests=.. duration_us=.. p50_us=.. p99_us=.. *_err=..
  awk -v scen="$scen" -v name="$name" -v run="$run" -v cpu=$((cpu1 - cpu0)) -v rss="$rss" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      err = v["connect_err"] + v["read_err"] + v["write_err"] + v["status_err"] + v["timeout_err"]
      rps = v["requests"] / (v["duration_us"] / 1e6)
      printf "%s %s %s %d %.0f %d %d %.2f %d %d\n", scen, name, run, v["requests"], rps, v["p50_us"], v["p99_us"], (v["requests"] > 0 ? cpu / v["requests"] : 0), rss, err
    }' <<<"$line" >>"$OUT"
  log "$scen $name run $run: $(tail -n1 "$OUT" | awk '{ print $5 " req/s, p99 " $7 " us, errors " $10 }')"
}

table() {
  local scen=$1 hyper_rps
  hyper_rps=$(awk -v sc="$scen" '$1 == sc && $2 == "hyper" && $5 != "-" { print $5 }' "$OUT" | median)
  echo
  echo "## $scen: $(scenario_desc "$scen"); median of $RUNS run(s) x ${DURATION}s"
  printf '%-12s %12s %10s %10s %14s %10s %10s %8s\n' server "req/s" "p50 ms" "p99 ms" "CPU us/req" "RSS MiB" "vs hyper" errors
  local s name
  for s in "${SERVERS[@]}"; do
    name=$(server_name "$s")
    local rps p50 p99 cpu rss err
    col() { awk -v sc="$scen" -v n="$name" -v c="$1" '$1 == sc && $2 == n && $5 != "failed" { print $c }' "$OUT" | median; }
    rps=$(col 5) p50=$(col 6) p99=$(col 7) cpu=$(col 8) rss=$(col 9) err=$(col 10)
    if [[ $rps == - ]]; then
      printf '%-12s %12s\n' "$name" "failed"
      continue
    fi
    # wrk's latency under pipelining is per batch (and its p99 can read 0): not shown
    [[ $scen == pipelined ]] && p50=n/a p99=n/a
    awk -v n="$name" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v cpu="$cpu" -v rss="$rss" -v err="$err" -v h="$hyper_rps" 'BEGIN {
        ratio = (h == "-" || h == 0) ? "-" : sprintf("%.2f", rps / h)
        ms50 = (p50 == "n/a") ? "n/a" : sprintf("%.2f", p50 / 1000)
        ms99 = (p99 == "n/a") ? "n/a" : sprintf("%.2f", p99 / 1000)
        printf "%-12s %12.0f %10s %10s %14.2f %10.1f %10s %8d\n", n, rps, ms50, ms99, cpu, rss / 1024, ratio, err
      }'
  done
}

for scen in "${SCENARIO_LIST[@]}"; do
  scenario_def "$scen" >/dev/null
  for ((run = 1; run <= RUNS; run++)); do
    for s in "${SERVERS[@]}"; do
      measure "$scen" "$s" "$run"
    done
  done
done

{
  for scen in "${SCENARIO_LIST[@]}"; do table "$scen"; done
} | tee -a "$OUT"
echo
log "raw results + tables: $OUT"
