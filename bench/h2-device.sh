#!/usr/bin/env bash
# HTTP/2 and TLS against hyper on a quiet machine (issue 5's bars), from packed binaries: the
# same scenarios as bench/h2.sh, without cargo, curl or openssl on the machine.
#   h2c        h2load, HTTP/2 with prior knowledge, GET /, 16 connections x 32 streams
#   h2c-json   the same, GET /json
#   handshake  wrk over TLS with `Connection: close`: a full TLS handshake per request
# One server worker pinned to SERVER_CPU, the client to CLIENT_CPU; runs are interleaved
# (scenario -> round -> server) and the report gives medians of req/s and server CPU
# microseconds per request (utime + stime from /proc during the measured window).
#
# Usage: bench/h2-device.sh DIR
#   DIR holds nucleus, hyper-h2-server, wrk, h2load (their libraries in DIR/lib) and
#   cert.pem/key.pem, as bench/multicore-pack.sh leaves them.
# env: SERVER_CPU=0 CLIENT_CPU=8 DURATION=5 ROUNDS=3 SCENARIOS="h2c h2c-json handshake"
set -uo pipefail
# cpu_us and median
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dir=$(cd "${1:?usage: h2-device.sh DIR}" && pwd)
out=${OUT:-$dir}
export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-8}
duration=${DURATION:-5}
rounds=${ROUNDS:-3}
read -r -a scenarios <<<"${SCENARIOS:-h2c h2c-json handshake}"
report="$out/h2-device.txt"
: >"$report"
say() { echo "$*" | tee -a "$report"; }
port=19700


# start SERVER MODE: MODE h2c or tls; sets pid
start() {
  local server=$1 mode=$2 args=()
  port=$((port + 1))
  case $server:$mode in
    nucleus:tls) args=(--tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem") ;;
    hyper:tls) args=(--tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem") ;;
    hyper:h2c) args=(--h2c) ;;
  esac
  local bin=$dir/nucleus
  [[ $server == hyper ]] && bin=$dir/hyper-h2-server
  taskset -c "$server_cpu" "$bin" --listen "127.0.0.1:$port" --workers 1 "${args[@]}" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

stop() {
  kill -INT "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

# measure SCENARIO -> "req_per_s cpu_us_per_req"
measure() {
  local scenario=$1 text reqs before after
  before=$(cpu_us "$pid")
  case $scenario in
    h2c | h2c-json)
      local path=/
      [[ $scenario == h2c-json ]] && path=/json
      text=$(taskset -c "$client_cpu" "$dir/h2load" -D "$duration" -c 16 -m 32 -t 1 \
        "http://127.0.0.1:$port$path" 2>&1)
      reqs=$(awk '/^requests:/ { print $8 }' <<<"$text")
      ;;
    handshake)
      text=$(taskset -c "$client_cpu" "$dir/wrk" -t1 -c64 -d"${duration}s" -H "Connection: close" \
        "https://127.0.0.1:$port/" 2>&1)
      reqs=$(awk '/^Requests\/sec/ { printf "%d", $2 * '"$duration"' }' <<<"$text")
      ;;
  esac
  after=$(cpu_us "$pid")
  if [[ -z ${reqs:-} || $reqs == 0 ]]; then
    echo "- -"
    return
  fi
  awk -v n="$reqs" -v d="$duration" -v cpu=$((after - before)) 'BEGIN { printf "%d %.2f\n", n / d, cpu / n }'
}

say "# bench/h2-device.sh $(date -u +%FT%TZ) on $(nproc) CPUs: 1 worker on CPU $server_cpu, client on CPU $client_cpu, ${duration}s x $rounds rounds"
say "$(printf '%-10s %-8s %12s %14s' scenario server req/s server_us/req)"
declare -A rates cpus
for scenario in "${scenarios[@]}"; do
  mode=h2c
  [[ $scenario == handshake ]] && mode=tls
  for ((round = 0; round < rounds; round++)); do
    for server in nucleus hyper; do
      if ! start "$server" "$mode"; then
        say "$scenario $server: did not start"
        stop
        continue
      fi
      read -r rate cpu < <(measure "$scenario")
      stop
      rates[$scenario.$server]+="$rate "
      cpus[$scenario.$server]+="$cpu "
    done
  done
  for server in nucleus hyper; do
    rate=$(tr ' ' '\n' <<<"${rates[$scenario.$server]:-}" | grep -E '^[0-9]' | median)
    cpu=$(tr ' ' '\n' <<<"${cpus[$scenario.$server]:-}" | grep -E '^[0-9]' | median)
    say "$(printf '%-10s %-8s %12s %14s   runs: %s/ %s' "$scenario" "$server" "$rate" "$cpu" \
      "${rates[$scenario.$server]:-}" "${cpus[$scenario.$server]:-}")"
  done
done
