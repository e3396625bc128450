# shellcheck shell=bash disable=SC2034 # variables here are used by the scripts that source it
# Shared helpers for bench/*.sh (sourced, not run). Not part of CI.
#
# Servers are named on the command line of each script:
#   hyper | axum | actix | xitca | may-minihttp
#                             peers built from bench/peers (release); xitca = xitca-web-server,
#                             may-minihttp (alias minihttp) = may-minihttp-server
#   hyper-h2                  bench/h2-peer's hyper-h2-server (hyper with `http2`, rustls; its
#                             own workspace, built by build_h2_peer). The HTTP/2 and TLS
#                             scripts (h2_server_bin) take `hyper` to mean this one.
#   nucleus                   $NUCLEUS_BIN or <repo>/target/release/nucleus (not built here)
#   NAME=/path/to/binary      anything else taking `--listen ADDR --workers N`
# With no names: the five peers, plus nucleus when its binary exists.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(dirname "$BENCH_DIR")
REL="$BENCH_DIR/target/release"
NUCLEUS_BIN=${NUCLEUS_BIN:-$ROOT_DIR/target/release/nucleus}
LOADGEN="$REL/loadgen"
H2_BIN="$BENCH_DIR/h2-peer/target/release/hyper-h2-server"
HOST=127.0.0.1
PORT_BASE=${PORT_BASE:-18080}
SERVER_PORT=$PORT_BASE
SERVER_PID=
LOG_DIR=${LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/nucleus-bench.XXXXXX")}

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# Build peers + loadgen (release). Cargo makes this a no-op when up to date.
build_bench() {
  [[ ${SKIP_BUILD:-0} == 1 ]] && return 0
  log "cargo build --release (bench workspace)"
  cargo build --release --quiet --manifest-path "$BENCH_DIR/Cargo.toml"
}

# Build hyper-h2-server (release), the HTTP/2 + TLS hyper peer. A workspace of its own
# (bench/h2-peer, own Cargo.lock and target dir): in the bench workspace, Cargo's feature
# unification would compile hyper's `http2` into the HTTP/1.1 peer `hyper-server` too.
build_h2_peer() {
  [[ ${SKIP_BUILD:-0} == 1 ]] && return 0
  log "cargo build --release (bench/h2-peer workspace: hyper-h2-server)"
  cargo build --release --quiet --manifest-path "$BENCH_DIR/h2-peer/Cargo.toml"
}

server_bin() {
  case "$1" in
    hyper) echo "$REL/hyper-server" ;;
    hyper-h2) echo "$H2_BIN" ;;
    axum) echo "$REL/axum-server" ;;
    actix) echo "$REL/actix-server" ;;
    xitca) echo "$REL/xitca-web-server" ;;
    may-minihttp | minihttp) echo "$REL/may-minihttp-server" ;;
    nucleus) echo "$NUCLEUS_BIN" ;;
    *=*) echo "${1#*=}" ;;
    *) die "unknown server '$1' (hyper|hyper-h2|axum|actix|xitca|may-minihttp|nucleus|NAME=/path)" ;;
  esac
}

server_name() { echo "${1%%=*}"; }

# Fills the global SERVERS array from "$@" (or the defaults); `minihttp` becomes
# `may-minihttp` so results and tables use one name.
select_servers() {
  SERVERS=()
  local s
  for s in "$@"; do
    [[ $s == minihttp ]] && s=may-minihttp
    SERVERS+=("$s")
  done
  if ((${#SERVERS[@]} == 0)); then
    SERVERS=(hyper axum actix xitca may-minihttp)
    if [[ -x $NUCLEUS_BIN ]]; then
      SERVERS+=(nucleus)
    else
      log "nucleus: $NUCLEUS_BIN not built; skipping (cd $ROOT_DIR && cargo build --release)"
    fi
  fi
  for s in "${SERVERS[@]}"; do
    [[ -x $(server_bin "$s") ]] || die "$(server_bin "$s") is not an executable"
  done
}

# The HTTP/2 and TLS scripts compare hyper and nucleus unless told otherwise: fills SERVERS.
select_h2_servers() {
  SERVERS=("$@")
  ((${#SERVERS[@]})) || SERVERS=(hyper nucleus)
  local s
  for s in "${SERVERS[@]}"; do
    [[ -x $(h2_server_bin "$s") ]] || die "$(h2_server_bin "$s") is not an executable"
  done
}

# h2_server_bin SERVER: server_bin for the HTTP/2 and TLS scripts, where `hyper` is
# hyper-h2-server (the HTTP/1.1 peer hyper-server has no --h2c or --tls-cert).
h2_server_bin() {
  case "$1" in
    hyper) echo "$H2_BIN" ;;
    *) server_bin "$1" ;;
  esac
}

# make_cert: a P-256 self-signed certificate for localhost/127.0.0.1 in $LOG_DIR; sets CERT
# and KEY (the same for every server of a run).
make_cert() {
  command -v openssl >/dev/null || die "openssl not installed"
  CERT="$LOG_DIR/cert.pem"
  KEY="$LOG_DIR/key.pem"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$KEY" -out "$CERT" 2>/dev/null
}

# wait_ready PORT [TIMEOUT_S]: until GET /health (or GET /) answers with any HTTP status.
wait_ready() {
  local port=$1 timeout=${2:-10} t0=$SECONDS
  while ((SECONDS - t0 < timeout)); do
    if [[ -n $SERVER_PID ]] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
      return 1
    fi
    if curl -s -o /dev/null --max-time 2 "http://$HOST:$port/health"; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# limit_cpu PID: with CPU_QUOTA set (a percentage of one CPU), moves process PID, and every
# thread it starts later, into a cgroup that holds it to that share (cgroup v1 or v2 cpu
# controller; needs root). On a machine where the load generator has a single core of its
# own, this keeps the server the bottleneck, so that req/s measures the server. Latency
# percentiles then include the quota's stalls and mean nothing.
limit_cpu() {
  [[ -n ${CPU_QUOTA:-} ]] || return 0
  local cgroup quota=$((CPU_QUOTA * 1000))
  if [[ -d /sys/fs/cgroup/cpu ]]; then
    cgroup=/sys/fs/cgroup/cpu/nucleus-bench
    mkdir -p "$cgroup"
    echo 100000 >"$cgroup/cpu.cfs_period_us"
    echo "$quota" >"$cgroup/cpu.cfs_quota_us"
  else
    cgroup=/sys/fs/cgroup/nucleus-bench
    echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    mkdir -p "$cgroup"
    echo "$quota 100000" >"$cgroup/cpu.max"
  fi
  echo "$1" >"$cgroup/cgroup.procs"
}

# start_server SERVER [WRAPPER...]: runs `WRAPPER... BIN --listen HOST:PORT --workers 1`
# on a fresh port; sets SERVER_PID (the wrapper must exec the server: taskset, valgrind).
# Returns 1 (after cleaning up) if it does not answer within READY_TIMEOUT seconds.
start_server() {
  local s=$1
  shift
  local bin name
  bin=$(server_bin "$s")
  name=$(server_name "$s")
  SERVER_PORT=$((SERVER_PORT + 1))
  SERVER_LOG="$LOG_DIR/$name.$SERVER_PORT.log"
  "$@" "$bin" --listen "$HOST:$SERVER_PORT" --workers 1 >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  limit_cpu "$SERVER_PID"
  if ! wait_ready "$SERVER_PORT" "${READY_TIMEOUT:-10}"; then
    log "$name did not answer on $HOST:$SERVER_PORT (log: $SERVER_LOG)"
    stop_server
    return 1
  fi
}

# stop_server: SIGTERM, wait up to STOP_TIMEOUT s (valgrind needs time to write), then SIGKILL.
stop_server() {
  [[ -z $SERVER_PID ]] && return 0
  local pid=$SERVER_PID t0=$SECONDS
  SERVER_PID=
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((SECONDS - t0 < ${STOP_TIMEOUT:-10})); do
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM for ${STOP_TIMEOUT:-10}s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# strace_attach SUMMARY: attaches `strace -f -c -o SUMMARY` to SERVER_PID (all its threads),
# waits until it has attached, and sets STRACE_PID. Its messages go to SUMMARY.err.
STRACE_PID=
strace_attach() {
  strace -f -c -o "$1" -p "$SERVER_PID" 2>"$1.err" &
  STRACE_PID=$!
  for _ in $(seq 100); do grep -q attached "$1.err" 2>/dev/null && break; sleep 0.05; done
  sleep 0.3 # until strace has attached the remaining threads
}

# strace_detach: stops the strace of strace_attach, which writes its summary on SIGINT.
strace_detach() {
  [[ -z $STRACE_PID ]] && return 0
  kill -INT "$STRACE_PID" 2>/dev/null || true
  wait "$STRACE_PID" 2>/dev/null || true
  STRACE_PID=
}

# strace_total SUMMARY: the total number of calls in a `strace -c` summary (empty if none).
strace_total() { awk '$NF == "total" { print $4 }' "$1" 2>/dev/null; }

# CPU time (utime+stime, all threads) of PID in microseconds.
cpu_us() {
  local stat rest
  # A server that already exited has no CPU left to count.
  stat=$(<"/proc/$1/stat") 2>/dev/null || { echo 0; return; }
  rest=${stat##*) }
  # fields after "comm)": state=1 ... utime=12 stime=13
  awk -v tck="$(getconf CLK_TCK)" '{ printf "%d\n", ($12 + $13) * 1000000 / tck }' <<<"$rest"
}

# Peak RSS (VmHWM) of PID in KiB.
peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# Current RSS (VmRSS) of PID in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# Open file descriptors of PID (sockets, listeners, epoll, ...).
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# raise_nofile NEED: raises this shell's soft open-file limit (inherited by the servers
# and clients it starts) to 65536, or to the hard limit when that is lower; dies when
# the result is still below NEED.
raise_nofile() {
  local need=$1 cur
  cur=$(ulimit -n)
  if [[ $cur != unlimited ]] && ((cur < 65536)); then
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  fi
  cur=$(ulimit -n)
  if [[ $cur != unlimited ]] && ((cur < need)); then
    die "open-file limit is $cur (hard limit $(ulimit -Hn)), need $need: raise it (ulimit -n, /etc/security/limits.conf, or docker --ulimit nofile=65536:65536), or lower N"
  fi
}

# median of numbers on stdin ("-" if none)
median() {
  sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

cleanup_server() { strace_detach; stop_server; }
trap cleanup_server EXIT
trap 'exit 130' INT TERM

# parse_server_env: splits SERVER_ENV ("NAME=VALUE ...") into the array SENV, or dies.
parse_server_env() {
  read -r -a SENV <<<"${SERVER_ENV:-}"
  local kv
  for kv in "${SENV[@]}"; do
    [[ $kv == [A-Za-z_]*=* ]] || die "SERVER_ENV: '$kv' is not NAME=VALUE"
  done
}

# pin_server_and_client: sets SERVER_PIN / CLIENT_PIN to taskset prefixes for CPU 0 and 1,
# or to nothing on a one-core machine or without taskset.
pin_server_and_client() {
  SERVER_PIN=() CLIENT_PIN=()
  if command -v taskset >/dev/null && (($(nproc) >= 2)); then
    SERVER_PIN=(taskset -c 0) CLIENT_PIN=(taskset -c 1)
  fi
}
