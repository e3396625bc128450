#!/usr/bin/env bash
# HTTP/2 and TLS benchmark (NOT part of CI; run by hand).
#
# usage: bench/h2.sh [SERVER...]     SERVER: hyper | nucleus | NAME=/path (default: hyper nucleus)
#                                    (hyper = bench/h2-peer's hyper-h2-server)
# env:   DURATION=10                 seconds per measured run (h2load -D, wrk -d)
#        RUNS=1                      repetitions; the table shows the median
#        SCENARIOS="h2c h2c-json h2-tls h1-tls handshake"   subset/order (also: handshake-full)
#        SERVER_CPU=0 CLIENT_CPU=1   taskset cores for the server and the client
#        SKIP_BUILD=1                do not build hyper-h2-server (bench/h2-peer)
#        CPU_QUOTA=50                hold each server to that percentage of its CPU (lib.sh's
#                                    limit_cpu), so that req/s measures the server, not the client
#
# Scenarios (every server runs with --workers 1, pinned to SERVER_CPU):
#   h2c        h2load, HTTP/2 with prior knowledge, GET /, 16 connections × 32 streams
#   h2c-json   the same on GET /json
#   h2-tls     h2load over TLS (ALPN h2), GET /, 16 connections × 32 streams
#   h1-tls     wrk over TLS, HTTP/1.1 keep-alive, GET /, 64 connections
#   handshake  wrk over TLS with `Connection: close`: a new TLS connection per request, 64
#              connections. wrk resumes TLS 1.3 sessions with the tickets each server sends,
#              so after the first these are resumed handshakes (PSK with an X25519 exchange,
#              no certificate or signature): what returning clients cost.
#   handshake-full  the same without resumption: CLIENTS=8 bench/tls_client.py processes side
#              by side on CLIENT_CPU, each a full handshake (X25519, ECDSA P-256 signature)
#              and one GET / per connection. One client core cannot keep a server core busy
#              with full handshakes (the client's half costs as much), so compare server_us/req,
#              the server's CPU per connection, rather than req/s.
#
# The servers need the same certificate: a P-256 self-signed one is made with openssl in the
# log directory. hyper is hyper-h2-server (bench/h2-peer, a workspace of its own so that
# hyper's `http2` feature stays out of the HTTP/1.1 peer hyper-server) with `--h2c`
# (hyper-util's auto builder, HTTP/1.1 and HTTP/2 on one port) or `--tls-cert/--tls-key`
# (rustls with the *ring* provider, TLS 1.3 and 1.2, session tickets: the same algorithms as
# Nucleus, which draws its random bytes and ticket nonces from a per-thread generator instead
# of a system call each). Results: bench/results/h2-<date-time>.txt.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10}
RUNS=${RUNS:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
read -r -a SCENARIO_LIST <<<"${SCENARIOS:-h2c h2c-json h2-tls h1-tls handshake}"

command -v h2load >/dev/null || die "h2load not installed (apt-get install -y nghttp2-client)"
command -v wrk >/dev/null || die "wrk not installed (apt-get install -y wrk)"
build_h2_peer
select_h2_servers "$@"

make_cert

# start SERVER tls|h2c: like lib.sh's start_server, with the flags each server needs.
start() {
  local s=$1 mode=$2 bin name args
  bin=$(h2_server_bin "$s")
  name=$(server_name "$s")
  SERVER_PORT=$((SERVER_PORT + 1))
  args=(--listen "$HOST:$SERVER_PORT" --workers 1)
  case "$name:$mode" in
    nucleus:tls) args+=(--tls-cert "$CERT" --tls-key "$KEY") ;;
    nucleus:h2c) ;;
    *:tls) args+=(--tls-cert "$CERT" --tls-key "$KEY") ;;
    *:h2c) args+=(--h2c) ;;
  esac
  SERVER_LOG="$LOG_DIR/$name.$SERVER_PORT.log"
  NUCLEUS_LOG=warn taskset -c "$SERVER_CPU" "$bin" "${args[@]}" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  limit_cpu "$SERVER_PID"
  local scheme=http t0=$SECONDS
  [[ $mode == tls ]] && scheme=https
  until curl -ks -o /dev/null --max-time 2 "$scheme://$HOST:$SERVER_PORT/health"; do
    ((SECONDS - t0 < 10)) || { log "$name did not start (log: $SERVER_LOG)"; stop_server; return 1; }
    sleep 0.1
  done
}

# run SCENARIO PORT -> "req_per_s cpu_us_per_req"
measure() {
  local scenario=$1 port=$2 out before after reqs
  local client=(taskset -c "$CLIENT_CPU")
  before=$(cpu_us "$SERVER_PID")
  case "$scenario" in
    h2c | h2c-json | h2-tls)
      local path=/ scheme=http
      [[ $scenario == h2c-json ]] && path=/json
      [[ $scenario == h2-tls ]] && scheme=https
      out=$("${client[@]}" h2load -D "$DURATION" -c 16 -m 32 -t 1 \
        "$scheme://$HOST:$port$path" 2>&1)
      reqs=$(awk '/^requests:/ { print $8 }' <<<"$out")
      ;;
    h1-tls | handshake)
      local extra=()
      [[ $scenario == handshake ]] && extra=(-H "Connection: close")
      out=$("${client[@]}" wrk -t1 -c64 -d"${DURATION}s" "${extra[@]}" "https://$HOST:$port/" 2>&1)
      reqs=$(awk '/^Requests\/sec/ { printf "%d", $2 * '"$DURATION"' }' <<<"$out")
      ;;
    handshake-full)
      local i
      out=$(for ((i = 0; i < ${CLIENTS:-8}; i++)); do
        "${client[@]}" python3 "$BENCH_DIR/tls_client.py" --addr "$HOST:$port" \
          --duration "$DURATION" &
      done
      wait)
      reqs=$(awk -F'[ =]' '/^connections=/ { n += $2; f += $4 } END { if (!f) print n }' <<<"$out")
      ;;
  esac
  after=$(cpu_us "$SERVER_PID")
  echo "$out" >>"$RAW"
  if [[ -z $reqs || $reqs == 0 ]]; then
    echo "- -"
    return
  fi
  awk -v n="$reqs" -v d="$DURATION" -v cpu=$((after - before)) \
    'BEGIN { printf "%d %.1f\n", n / d, cpu / n }'
}

mkdir -p "$BENCH_DIR/results"
STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT="$BENCH_DIR/results/h2-$STAMP.txt"
RAW="$LOG_DIR/raw.txt"
{
  echo "# bench/h2.sh $STAMP  DURATION=$DURATION RUNS=$RUNS servers: ${SERVERS[*]}"
  echo "# host: $(nproc) CPUs, $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), kernel $(uname -r)"
  printf '%-10s %-10s %12s %14s\n' scenario server req/s "server_us/req"
} | tee "$OUT"

# Interleaved (scenario → run → server), as run.sh: drift on a shared machine hits every
# server alike.
declare -A RATES CPUS
for scenario in "${SCENARIO_LIST[@]}"; do
  mode=tls
  [[ $scenario == h2c* ]] && mode=h2c
  for ((run = 0; run < RUNS; run++)); do
    for s in "${SERVERS[@]}"; do
      start "$s" "$mode" || continue
      read -r rate cpu < <(measure "$scenario" "$SERVER_PORT")
      stop_server
      RATES[$scenario.$s]+="$rate "
      CPUS[$scenario.$s]+="$cpu "
    done
  done
  for s in "${SERVERS[@]}"; do
    rate=$(tr ' ' '\n' <<<"${RATES[$scenario.$s]:-}" | grep -E '^[0-9]' | median)
    cpu=$(tr ' ' '\n' <<<"${CPUS[$scenario.$s]:-}" | grep -E '^[0-9]' | median)
    printf '%-10s %-10s %12s %14s   runs: %s\n' "$scenario" "$(server_name "$s")" "$rate" "$cpu" \
      "${RATES[$scenario.$s]:-}" | tee -a "$OUT"
  done
done
log "raw client output: $RAW"
