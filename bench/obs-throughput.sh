#!/usr/bin/env bash
# Throughput cost of observability (issue 4's "<= 5 % on the plaintext bench"): Nucleus with one
# worker pinned to SERVER_CPU, wrk pinned to CLIENT_CPUS, `GET /`, with observability off,
# with metrics, and with metrics plus a combined access log (written to /dev/null: the write
# calls are still made). The settings are interleaved (off, metrics, both, off, ...) ROUNDS
# times, so that drift in the machine hits each alike; the report gives each setting's median
# req/s and its ratio to "off". Meant for a quiet machine (the device), with the binaries that
# bench/multicore-pack.sh packs.
#
# Usage: bench/obs-throughput.sh DIR      (DIR holds nucleus and wrk, as multicore.sh's)
# env: SERVER_CPU=0 CLIENT_CPUS=8-11 THREADS=4 CONNS=64 DURATION=8 ROUNDS=3
#      CPU_QUOTA=50   give the server that percentage of one CPU (lib.sh's limit_cpu). Then
#                     the server is the bottleneck even where the client has a single core
#                     of its own (the 2-core development machine: SERVER_CPU=0 CLIENT_CPUS=1
#                     THREADS=1 CPU_QUOTA=50), and req/s measures the server alone.
# Besides the medians, the report gives the median of each round's ratio to that round's
# "off": drift on a shared machine moves a whole round, and cancels out of its ratios.
set -euo pipefail
# cpu_us, median and limit_cpu
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dir=$(cd "${1:?usage: obs-throughput.sh DIR}" && pwd)
out=${OUT:-$dir}
export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
wrk=${WRK:-$dir/wrk}
[[ -x $wrk ]] || wrk=$(command -v wrk) || { echo "no wrk in $dir or on PATH" >&2; exit 1; }
server_cpu=${SERVER_CPU:-0}
client_cpus=${CLIENT_CPUS:-8-11}
threads=${THREADS:-4}
conns=${CONNS:-64}
duration=${DURATION:-8}
rounds=${ROUNDS:-3}
report="$out/obs-throughput.txt"
: >"$report"
say() { echo "$*" | tee -a "$report"; }

declare -A settings=(
  [off]=""
  [metrics]="--metrics-path /metrics"
  [both]="--metrics-path /metrics --access-log combined --access-log-file /dev/null"
)
order=(off metrics both)
declare -A results=() cpus=() ratios=()
port=19500

say "# bench/obs-throughput.sh $(date -u +%FT%TZ): nucleus --workers 1 on CPU $server_cpu" \
  "${CPU_QUOTA:+(at ${CPU_QUOTA} % of it)}, wrk -t$threads -c$conns -d${duration}s on CPUs" \
  "$client_cpus, $rounds rounds"
for ((round = 1; round <= rounds; round++)); do
  for name in "${order[@]}"; do
    port=$((port + 1))
    # shellcheck disable=SC2086 # the settings are words on purpose
    taskset -c "$server_cpu" "$dir/nucleus" --listen "127.0.0.1:$port" --workers 1 \
      ${settings[$name]} >/dev/null 2>&1 &
    pid=$!
    limit_cpu "$pid"
    for _ in $(seq 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.05
    done
    taskset -c "$client_cpus" "$wrk" -t"$threads" -c"$conns" -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1 || true
    before=$(cpu_us "$pid")
    rps=$(taskset -c "$client_cpus" "$wrk" -t"$threads" -c"$conns" -d"${duration}s" \
      "http://127.0.0.1:$port/" 2>&1 | awk '/Requests\/sec/ {print $2}')
    after=$(cpu_us "$pid")
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    cpu=$(awk -v r="${rps:-0}" -v d="$duration" -v c=$((after - before)) 'BEGIN {printf "%.2f", (r > 0) ? c / (r * d) : 0}')
    say "round $round $name req/s=${rps:-n/a} server_cpu_us/req=$cpu"
    results[$name]+="${rps:-0} "
    cpus[$name]+="$cpu "
    [[ $name == off ]] && round_base=${rps:-0}
    ratios[$name]+="$(awk -v a="${rps:-0}" -v b="${round_base:-0}" 'BEGIN {printf "%.4f", (b > 0) ? a / b : 0}') "
  done
done

# The median of a space-separated list.
median_of() { tr ' ' '\n' <<<"$1" | grep -E '^[0-9]' | median; }
base=$(median_of "${results[off]}")
base_cpu=$(median_of "${cpus[off]}")
say "# medians (server CPU per request is the steadier figure on a machine that is not quiet)"
for name in "${order[@]}"; do
  m=$(median_of "${results[$name]}")
  c=$(median_of "${cpus[$name]}")
  ratio=$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.3f", (b > 0) ? a / b : 0}')
  cpu_ratio=$(awk -v a="$c" -v b="$base_cpu" 'BEGIN {printf "%.3f", (b > 0) ? a / b : 0}')
  say "$(printf '%-8s %12s req/s  %s x off   %s us/req  %s x off' "$name" "$m" "$ratio" "$c" "$cpu_ratio")"
done
say "# median of the rounds' req/s ratios to their own \"off\""
for name in "${order[@]}"; do
  say "$(printf '%-8s %s x off   (rounds: %s)' "$name" "$(median_of "${ratios[$name]}")" "${ratios[$name]% }")"
done
