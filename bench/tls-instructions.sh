#!/usr/bin/env bash
# User-space instructions per new TLS connection (full handshake + one `GET /` with
# `Connection: close`), measured with callgrind (NOT part of CI; run by hand).
#
# usage: bench/tls-instructions.sh [SERVER...]   (default: hyper nucleus; hyper =
#                                                 bench/h2-peer's hyper-h2-server)
# env:   N1=200 N2=1000   connection counts of the two runs
#        TLS12=1          cap the client at TLS 1.2 (default: TLS 1.3)
#        SKIP_BUILD=1     do not build hyper-h2-server (bench/h2-peer)
#
# As bench/instructions.sh, with bench/tls_client.py as the client (one connection at a time,
# a full handshake each, no resumption; Python's OpenSSL: X25519, AES-256-GCM): each server
# (--workers 1, --tls-cert/--tls-key with a P-256 self-signed certificate made here) runs
# under callgrind twice, for N1 and N2 connections, and instructions per connection =
# (Ir(N2) - Ir(N1)) / (N2 - N1). The N2 profiles stay in bench/results/callgrind/
# (tls-SERVER.callgrind.out).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N1=${N1:-200}
N2=${N2:-1000}
command -v valgrind >/dev/null || die "valgrind not installed (apt-get install -y valgrind)"
build_h2_peer
select_h2_servers "$@"
CLIENT_ARGS=()
[[ ${TLS12:-0} == 1 ]] && CLIENT_ARGS+=(--tls12)

make_cert
CG_DIR="$BENCH_DIR/results/callgrind"
mkdir -p "$CG_DIR"

# ir SERVER N OUT: total Ir of a server run that served N TLS connections.
ir() {
  local s=$1 n=$2 out=$3 name t0=$SECONDS
  name=$(server_name "$s")
  SERVER_PORT=$((SERVER_PORT + 1))
  NUCLEUS_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$(h2_server_bin "$s")" --listen "$HOST:$SERVER_PORT" --workers 1 \
    --tls-cert "$CERT" --tls-key "$KEY" >"$LOG_DIR/$name.log" 2>&1 &
  SERVER_PID=$!
  until curl -ks -o /dev/null --max-time 2 "https://$HOST:$SERVER_PORT/health"; do
    ((SECONDS - t0 < 60)) || die "$name did not start (log: $LOG_DIR/$name.log)"
    sleep 0.2
  done
  python3 "$BENCH_DIR/tls_client.py" --addr "$HOST:$SERVER_PORT" -n "$n" "${CLIENT_ARGS[@]}" >&2 ||
    log "tls_client reported failures against $name"
  STOP_TIMEOUT=120 stop_server
  awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

for s in "${SERVERS[@]}"; do
  name=$(server_name "$s")
  a=$(ir "$s" "$N1" "$LOG_DIR/cg.tls.$name.n1")
  b=$(ir "$s" "$N2" "$CG_DIR/tls-$name.callgrind.out")
  echo "$name $(((b - a) / (N2 - N1))) instructions/connection (TLS${TLS12:+ 1.2} handshake + GET /, Connection: close)"
done
