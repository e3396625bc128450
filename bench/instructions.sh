#!/usr/bin/env bash
# User-space instructions per request, measured with callgrind (NOT part of CI).
#
# usage: bench/instructions.sh [SERVER...]
#   SERVER: hyper | axum | actix | xitca | may-minihttp | nucleus | NAME=/path/to/binary
#           (default: hyper axum actix xitca may-minihttp, + nucleus if
#           target/release/nucleus exists)
# env:    N1=5000 N2=25000   request counts of the two runs
#         CONNS=1            loadgen connections (1 = no batching: the most repeatable)
#         SCENARIOS="get json echo4k"  (also: close, GET / with `Connection: close`, a new
#                            connection per request: accept, set-up and close are then part
#                            of every request; N1=1000 N2=5000 is plenty; browser, GET / with
#                            the 12 more fields a desktop browser sends, about 650 bytes)
#         SKIP_BUILD=1
#
# For each server and scenario the server (--workers 1) runs twice under
# `valgrind --tool=callgrind`: once while loadgen sends N1 requests, once for N2.
# Each run ends with SIGTERM; the server must exit for callgrind to write its totals
# (the peers exit 0 on SIGINT/SIGTERM). Instructions per request =
# (Ir(N2) - Ir(N1)) / (N2 - N1), so start-up, the readiness probe, connection set-up
# and shutdown cancel out (quanta's clock calibration, which runs for a fixed time rather
# than a fixed count, is subtracted from each run). Counts are user-space only (no kernel work), and are
# stable to well under 1% between runs, unlike wall-clock numbers on a shared box.
# The N2 profiles are kept in bench/results/callgrind/ for callgrind_annotate.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N1=${N1:-5000}
N2=${N2:-25000}
CONNS=${CONNS:-1}
read -r -a SCENARIO_LIST <<<"${SCENARIOS:-get json echo4k}"
((N2 > N1)) || die "N2 must be larger than N1"
command -v valgrind >/dev/null || die "valgrind not installed (apt-get install -y valgrind)"

build_bench
select_servers "$@"
export READY_TIMEOUT=60 STOP_TIMEOUT=120

scenario_args() {
  case "$1" in
    get) echo "--path /" ;;
    json) echo "--path /json" ;;
    echo4k) echo "--method POST --path /echo --body-size 4096" ;;
    close) echo "--close --path /" ;;
    browser) echo "--browser-headers --path /" ;;
    *) die "unknown scenario $1 (get json echo4k close browser)" ;;
  esac
}

CG_DIR="$BENCH_DIR/results/callgrind"
mkdir -p "$CG_DIR"
OUT="$BENCH_DIR/results/instructions-$(date +%Y-%m-%d-%H%M%S).txt"
echo "# bench/instructions.sh N1=$N1 N2=$N2 CONNS=$CONNS; scenario server Ir(N1) Ir(N2) Ir_per_req" >"$OUT"

# callgrind_ir SERVER N SCENARIO OUTFILE -> prints total Ir (or nothing on failure)
callgrind_ir() {
  local s=$1 n=$2 scen=$3 out=$4
  rm -f "$out"
  start_server "$s" valgrind --tool=callgrind --callgrind-out-file="$out" || return 0
  # shellcheck disable=SC2046 # word-splitting the fixed argument list is intended
  if ! "$LOADGEN" --addr "$HOST:$SERVER_PORT" -n "$n" -c "$CONNS" --quiet $(scenario_args "$scen") >&2; then
    log "loadgen failed against $(server_name "$s") ($scen)"
  fi
  stop_server
  [[ -s $out ]] || return 0
  # "totals:" is the whole run (all threads; one file since --separate-threads=no), less
  # quanta's one-off calibration (Nucleus's request clock, started with metrics, access logs
  # or request IDs): it loops for a fixed time, not a fixed count, so under valgrind it can
  # differ by millions of instructions between the two runs, hundreds per request.
  local total calibration
  total=$(awk '/^totals:/ { print $2; exit }' "$out")
  calibration=$(callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
    awk '/quanta::Clock::new \[/ { gsub(",", "", $1); print $1; exit }')
  echo $((total - ${calibration:-0}))
}

declare -A IPR
for scen in "${SCENARIO_LIST[@]}"; do
  scenario_args "$scen" >/dev/null
  for s in "${SERVERS[@]}"; do
    name=$(server_name "$s")
    log "$scen $name: N1=$N1"
    ir1=$(callgrind_ir "$s" "$N1" "$scen" "$LOG_DIR/cg.$name.$scen.n1")
    log "$scen $name: N2=$N2"
    ir2=$(callgrind_ir "$s" "$N2" "$scen" "$CG_DIR/$name-$scen.callgrind.out")
    if [[ -z $ir1 || -z $ir2 ]]; then
      log "$scen $name: no callgrind totals (did the server exit on SIGTERM? log: $SERVER_LOG)"
      IPR[$scen.$name]=-
      echo "$scen $name ${ir1:--} ${ir2:--} -" >>"$OUT"
      continue
    fi
    IPR[$scen.$name]=$(((ir2 - ir1) / (N2 - N1)))
    echo "$scen $name $ir1 $ir2 ${IPR[$scen.$name]}" >>"$OUT"
    log "$scen $name: ${IPR[$scen.$name]} instructions/request"
  done
done

{
  echo
  echo "## user-space instructions per request (callgrind, (Ir(N2)-Ir(N1))/(N2-N1), N1=$N1 N2=$N2, $CONNS conn)"
  printf '%-12s' server
  for scen in "${SCENARIO_LIST[@]}"; do printf ' %12s %9s' "$scen" "vs hyper"; done
  echo
  for s in "${SERVERS[@]}"; do
    name=$(server_name "$s")
    printf '%-12s' "$name"
    for scen in "${SCENARIO_LIST[@]}"; do
      v=${IPR[$scen.$name]:--} h=${IPR[$scen.hyper]:--}
      if [[ $v != - && $h != - && $h != 0 ]]; then
        r=$(awk -v v="$v" -v h="$h" 'BEGIN { printf "%.2f", v / h }')
      else
        r=-
      fi
      printf ' %12s %9s' "$v" "$r"
    done
    echo
  done
} | tee -a "$OUT"
echo
log "raw results: $OUT; N2 profiles: $CG_DIR (callgrind_annotate FILE | head -40)"
