#!/usr/bin/env bash
# Regression guard: Nucleus's user-space instructions per request against recorded
# reference figures (callgrind; needs valgrind). `.ci/run` runs it after the tests.
#
# usage: bench/check.sh [--record]
#   --record        measure and rewrite the reference file instead of comparing
# env:    N1=1000 N2=5000      request counts of the two callgrind runs per scenario
#         TOLERANCE=10         percent above the reference that still passes
#         BASELINE=bench/baseline.txt
#         NUCLEUS_BIN=...      binary to measure (default target/release/nucleus)
#         SKIP_BUILD=1         do not run `cargo build --release -p nucleus-cli` (root)
#                              and `cargo build --release -p loadgen` (bench) first
#
# Same method as bench/instructions.sh: per scenario the server (--workers 1) runs
# twice under `valgrind --tool=callgrind`, while loadgen sends N1 and then N2
# requests on one keep-alive connection; instructions per request =
# (Ir(N2) - Ir(N1)) / (N2 - N1). Scenarios: get (GET /), json (GET /json),
# echo4k (POST /echo, 4 KiB body), browser (GET / with the fields a desktop browser sends,
# about 650 bytes: per-field and per-byte costs show there), api (GET of one 29-byte path,
# a 404: the parser's memo of targets answers it), unique (the same with a new number in
# the path every request: the memo's miss path) and, where h2load is installed, h2c
# (HTTP/2 `GET /` on 4 connections × 16 streams, H2_N1=20000 H2_N2=60000 requests).
# Takes about a minute and a half.
#
# Then system calls per request, counted with `strace -f -c` attached to the server (not under
# valgrind) while loadgen sends SYS_N=4000 requests (pipelined: 4 × SYS_N) on one keep-alive
# connection, against fixed limits rather than references: on one connection the floor that
# issue 6 asks for is exact. `get` is one read, one write and one epoll_wait per request (3.00,
# limit 3.10; an extra read to EAGAIN makes it 4); `pipelined16` sends 16 requests per write
# and expects one read, one write and one epoll_wait per batch (0.19, limit 0.22; an extra read
# per batch makes it 0.25, a write per response 1.1 or more). Needs strace.
#
# Exit status: 0 all within TOLERANCE and the syscall limits; 1 a scenario is more than
# TOLERANCE percent above its reference (or has none), or above its syscall limit; 2 a
# measurement failed (server did not start or exit, loadgen error, no callgrind totals, no
# strace summary) or bad usage. It never passes without fresh measurements of every scenario.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RECORD=0
for a in "$@"; do
  case "$a" in
    --record) RECORD=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) echo "error: unknown argument '$a' (usage: bench/check.sh [--record])" >&2 && exit 2 ;;
  esac
done

N1=${N1:-1000}
N2=${N2:-5000}
TOLERANCE=${TOLERANCE:-10}
BASELINE=${BASELINE:-$BENCH_DIR/baseline.txt}
SCENARIO_LIST=(get json echo4k browser api unique)
# HTTP/2 too where h2load is installed: h2c `GET /`, h2load -c 4 -m 16 (as
# bench/h2-instructions.sh), with H2_N1/H2_N2 requests (the per-request figure of a
# multiplexed connection needs more requests to settle than HTTP/1.1's).
H2_N1=${H2_N1:-20000}
H2_N2=${H2_N2:-60000}
command -v h2load >/dev/null && SCENARIO_LIST+=(h2c)
fail() { echo "error: $*" >&2; exit 2; }
((N2 > N1)) || fail "N2 must be larger than N1"
command -v valgrind >/dev/null ||
  fail "valgrind not installed; bench/check.sh needs it (apt-get install -y valgrind)"
command -v strace >/dev/null ||
  fail "strace not installed; bench/check.sh needs it (apt-get install -y strace)"
# Where strace may not attach to a running process (a container without ptrace rights, or
# Yama's ptrace_scope for a non-root user), say so and check instructions only, rather than
# report the environment as a regression. The probe attaches to a sleeping process, the way
# the measurement attaches to the server.
strace_can_attach() {
  sleep 5 &
  local victim=$! tracer status
  strace -o /dev/null -p "$victim" 2>/dev/null &
  tracer=$!
  sleep 0.3
  kill "$victim" 2>/dev/null || true
  wait "$tracer"
  status=$?
  wait "$victim" 2>/dev/null || true
  return "$status"
}
STRACE_WORKS=1
if ! strace_can_attach; then
  STRACE_WORKS=0
  log "strace cannot attach to a process here (ptrace not permitted?): the syscall limits are NOT checked"
fi

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  if [[ $NUCLEUS_BIN == "$ROOT_DIR/target/release/nucleus" ]]; then
    log "cargo build --release -p nucleus-cli"
    (cd "$ROOT_DIR" && cargo build --release --quiet -p nucleus-cli) || fail "building nucleus failed"
  fi
  log "cargo build --release -p loadgen (bench workspace)"
  cargo build --release --quiet --manifest-path "$BENCH_DIR/Cargo.toml" -p loadgen || fail "building loadgen failed"
fi
[[ -x $NUCLEUS_BIN ]] || fail "$NUCLEUS_BIN is not an executable (cargo build --release -p nucleus-cli)"
[[ -x $LOADGEN ]] || fail "$LOADGEN is not an executable (cd bench && cargo build --release -p loadgen)"

scenario_args() {
  case "$1" in
    get) echo "--path /" ;;
    json) echo "--path /json" ;;
    echo4k) echo "--method POST --path /echo --body-size 4096" ;;
    browser) echo "--browser-headers --path /" ;;
    api) echo "--path /api/v1/users/00012345/orders --expect-status 404" ;;
    unique) echo "--path /api/v1/users/{n}/orders --expect-status 404" ;;
  esac
}

export READY_TIMEOUT=60 STOP_TIMEOUT=120
CG_DIR="$BENCH_DIR/results/check"
mkdir -p "$CG_DIR"

# measure_ir N SCENARIO OUTFILE: sets IR to callgrind's total Ir of one server run that
# served exactly N requests; returns 1 (with a message) on any failure.
measure_ir() {
  local n=$1 scen=$2 out=$3 res
  IR=
  rm -f "$out"
  start_server nucleus valgrind --tool=callgrind --callgrind-out-file="$out" || {
    log "$scen: nucleus did not start under valgrind (log: $SERVER_LOG)"
    return 1
  }
  if [[ $scen == h2c ]]; then
    if ! res=$(h2load -n "$n" -c 4 -m 16 -t 1 "http://$HOST:$SERVER_PORT/" 2>&1) ||
      [[ $res != *" $n succeeded, 0 failed"* ]]; then
      log "$scen: h2load failed (N=$n): $res"
      stop_server
      return 1
    fi
  # shellcheck disable=SC2046 # word-splitting the fixed argument list is intended
  elif ! res=$("$LOADGEN" --addr "$HOST:$SERVER_PORT" -n "$n" -c 1 $(scenario_args "$scen") 2>&1) ||
    [[ $res != *" ok=$n failed=0 "* ]]; then
    log "$scen: loadgen failed (N=$n): $res"
    stop_server
    return 1
  fi
  stop_server
  if [[ -s $out ]]; then
    IR=$(awk '/^totals:/ { print $2; exit }' "$out")
  fi
  if [[ ! $IR =~ ^[0-9]+$ ]] || ((IR == 0)); then
    log "$scen: no callgrind totals in $out (did nucleus exit on SIGTERM? log: $SERVER_LOG)"
    IR=
    return 1
  fi
}

declare -A MEASURED
ERRORS=0
for scen in "${SCENARIO_LIST[@]}"; do
  n1=$N1 n2=$N2
  [[ $scen == h2c ]] && n1=$H2_N1 n2=$H2_N2
  log "$scen: N1=$n1"
  if ! measure_ir "$n1" "$scen" "$CG_DIR/$scen.n1.callgrind.out"; then
    ERRORS=1
    continue
  fi
  ir1=$IR
  log "$scen: N2=$n2"
  if ! measure_ir "$n2" "$scen" "$CG_DIR/$scen.n2.callgrind.out"; then
    ERRORS=1
    continue
  fi
  ir2=$IR
  if ((ir2 <= ir1)); then
    log "$scen: Ir(N2)=$ir2 is not above Ir(N1)=$ir1: measurement broken"
    ERRORS=1
    continue
  fi
  MEASURED[$scen]=$(((ir2 - ir1) / (n2 - n1)))
  log "$scen: ${MEASURED[$scen]} instructions/request"
done

# System calls per request on one keep-alive connection: fixed limits (see the header).
# The limits sit between the floor and the first regression worth catching: `get` 3.00 against
# 4.00 with an extra read; `pipelined16` 0.1875 (3 per batch of 16) against 0.25 with an extra
# read per batch. The housekeeping tick's few calls a second stay well under the margins.
SYS_N=${SYS_N:-4000}
SYSCALL_SCENARIOS=(get pipelined16)
declare -A SYSCALL_LIMIT=([get]=3.10 [pipelined16]=0.22)
declare -A SYSCALL_N=([get]=$SYS_N [pipelined16]=$((SYS_N * 4)))
syscall_args() {
  case "$1" in
    get) echo "--path /" ;;
    pipelined16) echo "--path / -p 16" ;;
  esac
}
# measure_syscalls SCENARIO: sets SYSCALLS to strace's total per request, or returns 1.
measure_syscalls() {
  local scen=$1 summary res total n=${SYSCALL_N[$1]}
  SYSCALLS=
  summary="$CG_DIR/$scen.strace"
  rm -f "$summary" "$summary.err"
  start_server nucleus || { log "$scen: nucleus did not start (log: $SERVER_LOG)"; return 1; }
  # shellcheck disable=SC2046 # word-splitting the fixed argument list is intended
  "$LOADGEN" --addr "$HOST:$SERVER_PORT" -n 500 -c 1 --quiet $(syscall_args "$scen") || true
  strace_attach "$summary"
  # shellcheck disable=SC2046
  res=$("$LOADGEN" --addr "$HOST:$SERVER_PORT" -n "$n" -c 1 $(syscall_args "$scen") 2>&1) || true
  strace_detach
  stop_server
  if [[ $res != *" ok=$n failed=0 "* ]]; then
    log "$scen: loadgen failed under strace (N=$n): $res"
    return 1
  fi
  total=$(strace_total "$summary")
  if [[ ! $total =~ ^[0-9]+$ ]]; then
    log "$scen: no strace summary in $summary ($(head -c 300 "$summary.err" 2>/dev/null))"
    return 1
  fi
  SYSCALLS=$(awk -v t="$total" -v n="$n" 'BEGIN { printf "%.3f", t / n }')
}

declare -A SYSCALLS_MEASURED
((STRACE_WORKS)) || SYSCALL_SCENARIOS=()
for scen in "${SYSCALL_SCENARIOS[@]}"; do
  log "syscalls $scen: N=${SYSCALL_N[$scen]} under strace"
  if measure_syscalls "$scen"; then
    SYSCALLS_MEASURED[$scen]=$SYSCALLS
    log "syscalls $scen: $SYSCALLS per request"
  else
    ERRORS=1
  fi
done

print_syscalls() {
  if ((!STRACE_WORKS)); then
    echo
    echo "## syscalls/request: NOT CHECKED (strace cannot attach to a process on this machine)"
    return
  fi
  echo
  echo "## syscalls/request on one keep-alive connection (strace -f -c; N=$SYS_N, pipelined 4x; fixed limits)"
  printf '%-12s %7s %9s  %s\n' scenario limit measured result
  local scen got result
  for scen in "${SYSCALL_SCENARIOS[@]}"; do
    got=${SYSCALLS_MEASURED[$scen]:-}
    if [[ -z $got ]]; then
      result="ERROR (measurement failed)"
    elif awk -v m="$got" -v l="${SYSCALL_LIMIT[$scen]}" 'BEGIN { exit !(m > l) }'; then
      result=FAIL
      SYSCALL_STATUS=1
    else
      result=PASS
    fi
    printf '%-12s %7s %9s  %s\n' "$scen" "${SYSCALL_LIMIT[$scen]}" "${got:--}" "$result"
  done
}
SYSCALL_STATUS=0

if ((RECORD)); then
  ((ERRORS == 0)) || fail "a measurement failed; $BASELINE left unchanged"
  {
    echo "# bench/check.sh reference: user-space instructions per request (callgrind, N1=$N1 N2=$N2, 1 connection; h2c: H2_N1=$H2_N1 H2_N2=$H2_N2, 4 connections x 16 streams)"
    echo "# recorded $(date +%Y-%m-%d) at $(git -C "$ROOT_DIR" rev-parse --short HEAD 2>/dev/null || echo '?') with $(valgrind --version); rewrite with bench/check.sh --record"
    for scen in "${SCENARIO_LIST[@]}"; do echo "$scen ${MEASURED[$scen]}"; done
  } >"$BASELINE"
  log "recorded $BASELINE:"
  cat "$BASELINE"
  print_syscalls
  exit 0
fi

[[ -r $BASELINE ]] || fail "no reference file $BASELINE (create it with bench/check.sh --record)"
declare -A REF
while read -r key val _; do
  [[ -z $key || $key == \#* ]] && continue
  [[ $val =~ ^[0-9]+$ ]] || fail "$BASELINE: bad line '$key $val'"
  REF[$key]=$val
done <"$BASELINE"

STATUS=0
echo
echo "## instructions/request vs $BASELINE (fail above +$TOLERANCE%; N1=$N1 N2=$N2)"
printf '%-8s %10s %10s %7s  %s\n' scenario reference measured ratio result
for scen in "${SCENARIO_LIST[@]}"; do
  ref=${REF[$scen]:-} got=${MEASURED[$scen]:-}
  ratio=- result=
  if [[ -z $got ]]; then
    result="ERROR (measurement failed)"
  elif [[ -z $ref ]]; then
    result="FAIL (no reference)"
    STATUS=1
  else
    ratio=$(awk -v m="$got" -v r="$ref" 'BEGIN { printf "%.3f", m / r }')
    if awk -v m="$got" -v r="$ref" -v t="$TOLERANCE" 'BEGIN { exit !(m > r * (1 + t / 100)) }'; then
      result=FAIL
      STATUS=1
    else
      result=PASS
      if awk -v m="$got" -v r="$ref" -v t="$TOLERANCE" 'BEGIN { exit !(m < r * (1 - t / 100)) }'; then
        result="PASS (more than $TOLERANCE% below: bench/check.sh --record to lock it in)"
      fi
    fi
  fi
  printf '%-8s %10s %10s %7s  %s\n' "$scen" "${ref:--}" "${got:--}" "$ratio" "$result"
done
print_syscalls
echo
if ((ERRORS)); then
  echo "check.sh: ERROR: a measurement failed (see the log above), so not every scenario was checked" >&2
  exit 2
fi
if ((STATUS)); then
  echo "check.sh: FAIL: instructions/request regressed more than $TOLERANCE% (profiles: $CG_DIR)" >&2
fi
if ((SYSCALL_STATUS)); then
  echo "check.sh: FAIL: syscalls/request above the limit (strace summaries: $CG_DIR/*.strace)" >&2
fi
((STATUS || SYSCALL_STATUS)) && exit 1
if ((STRACE_WORKS)); then
  echo "check.sh: PASS (profiles: $CG_DIR)"
else
  echo "check.sh: PASS for instructions; syscalls NOT checked (strace cannot attach here)"
fi
