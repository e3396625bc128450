#!/usr/bin/env bash
# Multi-core throughput on a machine with at least 16 CPUs (NOT part of CI): each server gets
# WORKERS=8 workers pinned to SERVER_CPUS=0-7, wrk -t8 -c256 runs pinned to CLIENT_CPUS=8-15.
# Servers: Nucleus (per-core workers), hyper, actix, axum, xitca, may-minihttp; scenarios
# plaintext (GET /), json (GET /json) and pipelined (GET / x16 per write, lua/pipeline.lua);
# then Nucleus with 1 worker, plaintext, for the scaling factor. Ends with a table of req/s,
# Nucleus's ratio to each peer and the 8-vs-1-worker scaling factor. Each run's line also
# gives how busy the server's and wrk's CPUs were (min-max and mean, from /proc/stat), which
# tells an unevenly loaded server, or a wrk that ran out of CPU, from a slow server.
#
# Usage: bench/multicore.sh DIR
#   DIR holds the stripped release binaries (nucleus, hyper-server, actix-server, axum-server,
#   xitca-web-server, may-minihttp-server) and Debian's wrk with its shared libraries in
#   DIR/lib; bench/multicore-pack.sh fills it. A missing binary or a server that does not
#   start is reported and skipped. Results go to $OUT (or DIR) as multicore.txt.
# env: DURATION=5 WARMUP=1   seconds of each measured wrk run and of the warm-up before it
#      SERVER_CPUS=0-7 CLIENT_CPUS=8-15 WORKERS=8 THREADS=8 CONNS=256
#      SERVERS="nucleus hyper actix axum xitca may-minihttp"   subset/order
#      SCENARIOS="plaintext json pipelined"
#      NUCLEUS_MODELS="per-core"   "per-core work-stealing" also measures Nucleus's tokio
#                                  work-stealing model: 4 more runs, ~4 min in all
#      The 1-worker run uses the same SERVER_CPUS as the others (the stricter choice: any
#      helper thread of a 1-worker server may use the other CPUs).
#      SCALING_ROUNDS=3   after the table, Nucleus plaintext with 1 and with WORKERS workers,
#                         alternating, this many times each; the scaling factor is the ratio
#                         of the two medians (one pass made it follow the noisiest run: three
#                         device sessions read 7.91x, 8.95x and 5.76x). 0: the single
#                         1-worker run of earlier versions.
#      FOCUS="json:may-minihttp pipelined:xitca"   after the scaling rounds, head-to-head
#                         rounds for the bars one pass cannot settle: per SCENARIO:PEER pair,
#                         Nucleus and the peer alternately, FOCUS_ROUNDS=3 times each; the
#                         ratio of the medians is reported. "" skips them (12 runs, ~2.2 min
#                         at the defaults).
#      WRK=DIR/wrk  (falls back to wrk on PATH when DIR has none)
# Time: WARMUP + DURATION + ~1.3 s per run (start, stop, 1 s pause), 36 runs with the default
# 3 scaling rounds and 2 focus pairs × 3 rounds: ~4.4 min at the defaults, inside the issue's
# 5 minutes (DURATION=8 takes ~6.2 min; 19 runs, without the rounds, took 61 s locally at
# DURATION=1).
# Smoke test on a small machine: SERVER_CPUS=0 CLIENT_CPUS=1 WORKERS=2 THREADS=1 CONNS=16 DURATION=1
set -euo pipefail
# cpu_us
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dir=$(cd "${1:?usage: multicore.sh DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$dir}
duration=${DURATION:-5}
warmup=${WARMUP:-1}
server_cpus=${SERVER_CPUS:-0-7}
client_cpus=${CLIENT_CPUS:-8-15}
workers=${WORKERS:-8}
threads=${THREADS:-8}
conns=${CONNS:-256}
read -r -a servers <<<"${SERVERS:-nucleus hyper actix axum xitca may-minihttp}"
read -r -a scenarios <<<"${SCENARIOS:-plaintext json pipelined}"
read -r -a models <<<"${NUCLEUS_MODELS:-per-core}"
scaling_rounds=${SCALING_ROUNDS:-3}
read -r -a focus <<<"${FOCUS-json:may-minihttp pipelined:xitca}"
focus_rounds=${FOCUS_ROUNDS:-3}
wrk=${WRK:-$dir/wrk}
[[ -x $wrk ]] || wrk=$(command -v wrk) || { echo "no wrk in $dir or on PATH" >&2; exit 1; }
port=19090
report="$out/multicore.txt"
: >"$report"
say() { echo "$*" | tee -a "$report"; }

# Servers to run: nucleus expands to one entry per worker model.
runs=()
for s in "${servers[@]}"; do
  if [[ $s == nucleus ]]; then
    for m in "${models[@]}"; do runs+=("nucleus-$m"); done
  else
    runs+=("$s")
  fi
done

# server_cmd NAME: sets CMD to the server's binary and arguments (before --listen/--workers)
server_cmd() {
  case "$1" in
    nucleus-*) CMD=("$dir/nucleus" --worker-model "${1#nucleus-}") ;;
    hyper | actix | axum) CMD=("$dir/$1-server") ;;
    xitca) CMD=("$dir/xitca-web-server") ;;
    may-minihttp) CMD=("$dir/may-minihttp-server") ;;
    *) CMD=("$dir/unknown-server-$1") ;;
  esac
}

# wait until the port accepts connections (bash's /dev/tcp: the device may lack curl)
wait_up() {
  local pid=$1 _
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 1
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# SIGINT, then SIGKILL after 5 s so a server that hangs on shutdown cannot stall the run
stop() {
  local pid=$1 _
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# CPU numbers of a taskset list such as 0-7 or 0,2,8-11, one per line
expand_cpus() {
  local part
  for part in ${1//,/ }; do
    if [[ $part == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
  done
}
# busy and total jiffies of every CPU, "N busy total" per line (/proc/stat; idle = idle + iowait)
cpu_jiffies() {
  awk '/^cpu[0-9]/ { t = 0; for (i = 2; i <= NF; i++) t += $i; print substr($1, 4), t - $5 - $6, t }' /proc/stat
}
# busy_range BEFORE AFTER CPULIST: "min-max% (mean M%)" busy time of those CPUs between two
# cpu_jiffies snapshots. A server CPU well under 100% while the others are full means work is
# spread unevenly (SO_REUSEPORT hashes connections to per-core workers); client CPUs near 100%
# mean wrk, not the server, set the rate.
busy_range() {
  awk -v want="$(expand_cpus "$3" | tr '\n' ' ')" '
    BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) pick[w[i]] = 1 }
    FNR == NR { b[$1] = $2; t[$1] = $3; next }
    ($1 in pick) && $3 > t[$1] {
      p = 100 * ($2 - b[$1]) / ($3 - t[$1]); sum += p; k++
      if (k == 1 || p < lo) lo = p; if (k == 1 || p > hi) hi = p
    }
    END { if (k) printf "%.0f-%.0f%% (mean %.0f%%)", lo, hi, sum / k; else print "-" }
  ' <(echo "$1") <(echo "$2")
}

declare -A RPS
# run NAME SCENARIO WORKERS: one measurement; prints a line and sets RPS[SCENARIO.NAME:WORKERS]
run() {
  local name=$1 scenario=$2 n=$3 key="$2.$1:$3"
  local path=/ script=()
  RPS[$key]=-
  server_cmd "$name"
  if [[ ! -x ${CMD[0]} ]]; then
    say "$(printf '%-22s %-10s workers=%-2s missing %s' "$name" "$scenario" "$n" "${CMD[0]}")"
    return 0
  fi
  case "$scenario" in
    json) path=/json ;;
    pipelined) script=(-s "$here/lua/pipeline.lua") ;;
  esac
  port=$((port + 1)) # a fresh port: no clash with a server that is still going away
  taskset -c "$server_cpus" "${CMD[@]}" --listen "127.0.0.1:$port" --workers "$n" >/dev/null 2>&1 &
  local pid=$!
  if ! wait_up "$pid"; then
    say "$(printf '%-22s %-10s workers=%-2s did not start' "$name" "$scenario" "$n")"
    stop "$pid"
    return 0
  fi
  local url="http://127.0.0.1:$port$path" res cpu0 cpu1
  LD_LIBRARY_PATH="$dir/lib" taskset -c "$client_cpus" "$wrk" -t"$threads" -c"$conns" -d"${warmup}s" \
    "${script[@]}" "$url" >/dev/null 2>&1 || true
  cpu0=$(cpu_us "$pid")
  local jiffies0 jiffies1
  jiffies0=$(cpu_jiffies)
  res=$(LD_LIBRARY_PATH="$dir/lib" taskset -c "$client_cpus" "$wrk" -t"$threads" -c"$conns" \
    -d"${duration}s" "${script[@]}" "$url" 2>&1) || true
  cpu1=$(cpu_us "$pid")
  jiffies1=$(cpu_jiffies)
  stop "$pid"
  # req/s, requests, and errors (socket errors + non-2xx/3xx responses)
  local rps reqs errs cpu_per_req
  rps=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' <<<"$res")
  reqs=$(awk '/requests in/ { print $1 }' <<<"$res")
  errs=$(awk '/Socket errors/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 } /Non-2xx/ { e += $NF } END { print e + 0 }' <<<"$res")
  cpu_per_req=$(awk -v c=$((cpu1 - cpu0)) -v r="${reqs:-0}" 'BEGIN { if (r > 0) printf "%.2f", c / r; else print "-" }')
  RPS[$key]=${rps:--}
  say "$(printf '%-22s %-10s workers=%-2s req/s=%-9s server_cpu_us/req=%-6s errors=%-3s busy: server CPUs %s, client CPUs %s' \
    "$name" "$scenario" "$n" "${rps:-n/a}" "$cpu_per_req" "$errs" \
    "$(busy_range "$jiffies0" "$jiffies1" "$server_cpus")" "$(busy_range "$jiffies0" "$jiffies1" "$client_cpus")")"
  sleep 1
}

say "# bench/multicore.sh $(date -u +%FT%TZ) on $(nproc) CPUs:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
say "# servers pinned to CPUs $server_cpus ($workers workers unless noted), wrk -t$threads -c$conns" \
  "-d${duration}s (after ${warmup}s warm-up) pinned to CPUs $client_cpus"
extra_runs=$((${#models[@]} * (scaling_rounds > 0 ? 2 * scaling_rounds : 1) + 2 * ${#focus[@]} * focus_rounds))
say "# $((${#runs[@]} * ${#scenarios[@]} + extra_runs)) runs, about $(((${#runs[@]} * ${#scenarios[@]} + extra_runs) * (warmup + duration + 2) / 60 + 1)) min"

for scenario in "${scenarios[@]}"; do
  for s in "${runs[@]}"; do run "$s" "$scenario" "$workers"; done
done
# The scaling and focus rounds below overwrite table entries: keep the table's own figures.
declare -A TABLE_RPS
for key in "${!RPS[@]}"; do TABLE_RPS[$key]=${RPS[$key]}; done
has_nucleus=0
[[ " ${servers[*]} " == *" nucleus "* ]] && has_nucleus=1
# median of the numbers given (the lower middle one for an even count)
median() { printf '%s\n' "$@" | grep -E '^[0-9]+$' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }
declare -A SCALE_ONE SCALE_MANY
if ((has_nucleus)); then
  if ((scaling_rounds > 0)); then
    for ((round = 1; round <= scaling_rounds; round++)); do
      for m in "${models[@]}"; do
        run "nucleus-$m" plaintext 1
        SCALE_ONE[$m]+=" ${RPS[plaintext.nucleus-$m:1]}"
        run "nucleus-$m" plaintext "$workers"
        SCALE_MANY[$m]+=" ${RPS[plaintext.nucleus-$m:$workers]}"
      done
    done
  else
    for m in "${models[@]}"; do run "nucleus-$m" plaintext 1; done
  fi
fi

# Head-to-head rounds: Nucleus (the first model) and one peer, alternately, on one scenario.
declare -A FOCUS_N FOCUS_P
if ((has_nucleus)); then
  for pair in "${focus[@]}"; do
    scenario=${pair%%:*} peer=${pair#*:}
    for ((round = 1; round <= focus_rounds; round++)); do
      run "nucleus-${models[0]}" "$scenario" "$workers"
      FOCUS_N[$pair]+=" ${RPS[$scenario.nucleus-${models[0]}:$workers]}"
      run "$peer" "$scenario" "$workers"
      FOCUS_P[$pair]+=" ${RPS[$scenario.$peer:$workers]}"
    done
  done
fi

for key in "${!TABLE_RPS[@]}"; do RPS[$key]=${TABLE_RPS[$key]}; done

# ratio A/B of two req/s values, or "-"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

{
  echo
  echo "## req/s ($workers workers on CPUs $server_cpus; wrk -t$threads -c$conns -d${duration}s on $client_cpus)"
  printf '%-10s' scenario
  for s in "${runs[@]}"; do printf ' %22s' "$s"; done
  echo
  for scenario in "${scenarios[@]}"; do
    printf '%-10s' "$scenario"
    for s in "${runs[@]}"; do printf ' %22s' "${RPS[$scenario.$s:$workers]:--}"; done
    echo
  done
  for m in "${models[@]}"; do
    ((has_nucleus)) || break
    echo
    echo "## nucleus-$m req/s / peer req/s (>= 1.00: Nucleus at least as fast)"
    printf '%-10s' scenario
    for s in "${runs[@]}"; do [[ $s == nucleus-* ]] || printf ' %12s' "$s"; done
    echo
    for scenario in "${scenarios[@]}"; do
      printf '%-10s' "$scenario"
      for s in "${runs[@]}"; do
        [[ $s == nucleus-* ]] || printf ' %12s' "$(ratio "${RPS[$scenario.nucleus-$m:$workers]:--}" "${RPS[$scenario.$s:$workers]:--}")"
      done
      echo
    done
    if ((scaling_rounds > 0)); then
      # shellcheck disable=SC2086 # the lists are space-separated numbers
      many=$(median ${SCALE_MANY[$m]}) one=$(median ${SCALE_ONE[$m]})
      echo "scaling nucleus-$m plaintext, medians of $scaling_rounds alternating rounds:" \
        "$workers workers $many req/s (${SCALE_MANY[$m]# }) / 1 worker $one req/s (${SCALE_ONE[$m]# })" \
        "= $(ratio "$many" "$one") (target >= 6.5 at 8 workers)"
    else
      echo "scaling nucleus-$m plaintext: $workers workers ${RPS[plaintext.nucleus-$m:$workers]:--} req/s" \
        "/ 1 worker ${RPS[plaintext.nucleus-$m:1]:--} req/s = $(ratio "${RPS[plaintext.nucleus-$m:$workers]:--}" "${RPS[plaintext.nucleus-$m:1]:--}")" \
        "(target >= 6.5 at 8 workers)"
    fi
  done
  for pair in "${focus[@]}"; do
    ((has_nucleus)) || break
    # shellcheck disable=SC2086 # the lists are space-separated numbers
    n=$(median ${FOCUS_N[$pair]}) p=$(median ${FOCUS_P[$pair]})
    echo "head-to-head ${pair%%:*}, medians of $focus_rounds alternating rounds: nucleus-${models[0]}" \
      "$n req/s (${FOCUS_N[$pair]# }) / ${pair#*:} $p req/s (${FOCUS_P[$pair]# }) = $(ratio "$n" "$p")"
  done
} | tee -a "$report"
