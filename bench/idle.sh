#!/usr/bin/env bash
# Memory per idle keep-alive connection, from the server's RSS (NOT part of CI).
#
# usage: bench/idle.sh [SERVER...]
#   SERVER: hyper | axum | actix | xitca | may-minihttp | nucleus | NAME=/path/to/binary
#           (default: hyper axum actix xitca may-minihttp, + nucleus if
#           target/release/nucleus exists)
# env:    N=10000        idle connections
#         SETTLE=3       seconds the connections stay idle before the last RSS reading
#                        (Nucleus frees an idle keep-alive connection's read and write
#                        buffers after about 1 s idle)
#         SERVER_ENV=""  extra environment for the server, space-separated NAME=VALUE
#                        words, e.g. SERVER_ENV="MIMALLOC_PURGE_DELAY=0" (mimalloc then
#                        returns freed memory to the OS at once)
#         PARALLEL=256   connects in flight at once (keeps the listen backlog from
#                        overflowing; the measurement does not depend on it)
#         SKIP_BUILD=1
#
# Per server: start it with --workers 1 (pinned to CPU 0 with taskset when there
# are 2+ CPUs; the client runs on CPU 1), read VmRSS from /proc/PID/status, then
# bench/conn_client.py opens N keep-alive connections, sends one `GET / HTTP/1.1`
# on each and reads the whole response. VmRSS is read again at once ("loaded") and
# after SETTLE seconds with every connection idle ("idle"); the client then confirms
# that all N are still open (none closed by the server) and closes them.
# Reported: RSS before / loaded / idle in KiB, and (RSS - RSS before) / N in bytes.
# RSS is user-space memory only: the kernel's socket buffers are not in it.
# Exit status 1 if any server failed to start, any connection failed, or the
# server closed idle connections before the idle reading was taken.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-10000}
SETTLE=${SETTLE:-3}
PARALLEL=${PARALLEL:-256}
parse_server_env
((N >= 1)) || die "N must be at least 1"
command -v python3 >/dev/null || die "python3 not found"
raise_nofile $((N + 1024))

build_bench
select_servers "$@"

pin_server_and_client

OUT="$BENCH_DIR/results/idle-$(date +%Y-%m-%d-%H%M%S).txt"
mkdir -p "$BENCH_DIR/results"
echo "# bench/idle.sh N=$N SETTLE=$SETTLE SERVER_ENV='${SERVER_ENV:-}' ulimit-n=$(ulimit -n)" >"$OUT"

CLIENT_PID=
# shellcheck disable=SC2317 # called from the EXIT trap
stop_client() {
  [[ -z $CLIENT_PID ]] && return 0
  kill -TERM "$CLIENT_PID" 2>/dev/null || true
  wait "$CLIENT_PID" 2>/dev/null || true
  CLIENT_PID=
}
trap 'stop_client; stop_server' EXIT

# field NAME LINE: the value of NAME=value in a `key=value ...` line ("" if absent)
field() { sed -n "s/.*\\<$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

declare -A ROW
FAILED=0
for s in "${SERVERS[@]}"; do
  name=$(server_name "$s")
  ROW[$name]="- - - - - - start-failed"
  log "$name: starting (env: ${SERVER_ENV:-none})"
  if ! start_server "$s" env "${SENV[@]}" "${SERVER_PIN[@]}"; then
    FAILED=1
    continue
  fi
  sleep 0.5
  rss0=$(rss_kib "$SERVER_PID") fd0=$(fd_count "$SERVER_PID")
  log "$name: RSS ${rss0} KiB, $fd0 fds; opening $N connections"

  coproc CL { exec "${CLIENT_PIN[@]}" python3 "$BENCH_DIR/conn_client.py" idle \
    --host "$HOST" --port "$SERVER_PORT" -n "$N" --parallel "$PARALLEL"; }
  CLIENT_PID=$!
  cin=${CL[1]:-} cout=${CL[0]:-}
  ready='' status='' closed=''
  if ! read -r -t $((60 + N / 100)) ready <&"$cout"; then
    log "$name: the client did not report (timeout or crash)"
  fi
  rss1=$(rss_kib "$SERVER_PID")
  ok=$(field ok "$ready") failed=$(field failed "$ready")
  if [[ -n $ok ]]; then
    log "$name: $ready; RSS ${rss1} KiB; idle for ${SETTLE}s"
    sleep "$SETTLE"
    kill -0 "$SERVER_PID" 2>/dev/null || log "$name: server died"
    rss2=$(rss_kib "$SERVER_PID" || echo -) fd2=$(fd_count "$SERVER_PID" || echo -)
    echo status >&"$cin"
    read -r -t 30 status <&"$cout" || true
  fi
  exec {cin}>&-
  read -r -t 30 closed <&"$cout" || true
  wait "$CLIENT_PID" || true
  CLIENT_PID=
  stop_server
  open=$(field open "$status")
  echo "$name before=$rss0 loaded=$rss1 idle=${rss2:--} fds_before=$fd0 fds_idle=${fd2:--} client: $ready | $status | $closed" >>"$OUT"
  if [[ -z $ok || -z $open || $failed != 0 || $ok != "$N" || $open != "$N" ]]; then
    log "$name: FAILED: client said '${ready:-nothing}' then '${status:-nothing}' (wanted ok=$N failed=0 open=$N)"
    ROW[$name]="$rss0 $rss1 ${rss2:--} - - ${fd2:--} failed(ok=${ok:-?},open=${open:-?})"
    FAILED=1
    continue
  fi
  per1=$(((rss1 - rss0) * 1024 / N)) per2=$(((rss2 - rss0) * 1024 / N))
  ROW[$name]="$rss0 $rss1 $rss2 $per1 $per2 $fd2 ok"
  log "$name: idle RSS $rss2 KiB: $per2 bytes per idle connection"
  rss2=
done

{
  echo
  echo "## RSS with $N keep-alive connections (1 worker; GET / once each, then idle ${SETTLE}s; SERVER_ENV='${SERVER_ENV:-}')"
  printf '%-12s %12s %12s %12s %14s %14s %9s  %s\n' server "before KiB" "loaded KiB" "idle KiB" "B/conn loaded" "B/conn idle" "fds idle" result
  for s in "${SERVERS[@]}"; do
    name=$(server_name "$s")
    read -r b l i p1 p2 f r <<<"${ROW[$name]}"
    printf '%-12s %12s %12s %12s %14s %14s %9s  %s\n' "$name" "$b" "$l" "$i" "$p1" "$p2" "$f" "$r"
  done
} | tee -a "$OUT"
echo
log "raw results: $OUT"
exit "$FAILED"
