#!/usr/bin/env bash
# User-space instructions per HTTP/2 request (h2c, GET /), measured with callgrind
# (NOT part of CI; run by hand).
#
# usage: bench/h2-instructions.sh [SERVER...]   (default: hyper nucleus; hyper =
#                                                bench/h2-peer's hyper-h2-server)
# env:   N1=20000 N2=60000   request counts of the two runs
#        SKIP_BUILD=1       do not build hyper-h2-server (bench/h2-peer)
#
# As bench/instructions.sh, with h2load as the client: each server (--workers 1; hyper with
# --h2c) runs under callgrind twice, for N1 and N2 requests of `h2load -c 4 -m 16`, and
# instructions per request = (Ir(N2) - Ir(N1)) / (N2 - N1).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N1=${N1:-20000}
N2=${N2:-60000}
command -v valgrind >/dev/null || die "valgrind not installed (apt-get install -y valgrind)"
command -v h2load >/dev/null || die "h2load not installed (apt-get install -y nghttp2-client)"
build_h2_peer
select_h2_servers "$@"
export READY_TIMEOUT=60 STOP_TIMEOUT=120

# ir SERVER N: total Ir of a server run that answered N requests.
ir() {
  local s=$1 n=$2 name out extra=()
  name=$(server_name "$s")
  [[ $name == nucleus ]] || extra=(--h2c)
  out="$LOG_DIR/cg.$name.$n"
  SERVER_PORT=$((SERVER_PORT + 1))
  NUCLEUS_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$(h2_server_bin "$s")" --listen "$HOST:$SERVER_PORT" --workers 1 "${extra[@]}" \
    >"$LOG_DIR/$name.log" 2>&1 &
  SERVER_PID=$!
  wait_ready "$SERVER_PORT" "$READY_TIMEOUT" || die "$name did not start"
  h2load -n "$n" -c 4 -m 16 -t 1 "http://$HOST:$SERVER_PORT/" | grep -E '^requests:' >&2
  stop_server
  awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

for s in "${SERVERS[@]}"; do
  a=$(ir "$s" "$N1")
  b=$(ir "$s" "$N2")
  echo "$(server_name "$s") $(((b - a) / (N2 - N1))) instructions/request (h2c GET /)"
done
