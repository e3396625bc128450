#!/usr/bin/env bash
# Slow-client attacks against the nucleus binary with Debian's slowhttptest: slowloris (slow
# headers), slow body (R-U-Dead-Yet) and slow read. For each mode it reports how often the
# probe was answered, and how many slow connections the client saw closed and the server
# still held near the end.
#
# Usage: bench/slow.sh [path/to/nucleus]
#   DURATION=40 CONNECTIONS=500 bench/slow.sh
# Needs: apt-get install slowhttptest. Not part of CI: it runs for DURATION seconds per mode.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin=${1:-$root/target/release/nucleus}
duration=${DURATION:-40}
connections=${CONNECTIONS:-500}
port=${PORT:-18181}
out=$(mktemp -d /tmp/nucleus-slow.XXXXXX)

command -v slowhttptest >/dev/null || { echo "slowhttptest missing: apt-get install slowhttptest" >&2; exit 1; }
[ -x "$bin" ] || (cd "$root" && cargo build --release -p nucleus-cli)

"$bin" --listen "127.0.0.1:$port" --workers 1 >"$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

run_mode() {
  local name=$1; shift
  slowhttptest "$@" -c "$connections" -r 200 -l "$duration" -p 3 -g -o "$out/$name" \
    >"$out/$name.out" 2>&1 &
  local tester=$!
  # The server's own view, sampled just before the attack ends: slowhttptest cannot see a
  # close in slow-read mode while its tiny receive buffer still holds unread bytes.
  sleep $((duration - 2))
  local server_open
  server_open=$(ss -tn state established "( sport = :$port )" | tail -n +2 | wc -l)
  wait $tester || true
  # CSV: Seconds,Closed,Pending,Connected,Service Available (0 = the probe got no answer
  # within -p seconds)
  python3 - "$out/$name.csv" "$name" "$server_open" "$((duration - 2))" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
available = all(int(r["Service Available"]) != 0 for r in rows)
peak = max(int(r["Connected"]) for r in rows)
closed = int(rows[-1]["Closed"])
first_close = next((int(r["Seconds"]) for r in rows if int(r["Closed"]) > 0), None)
samples = len(rows)
up = sum(1 for r in rows if int(r["Service Available"]) != 0)
print(f"{sys.argv[2]:<10} probe_ok={up}/{samples:<3} peak_connected={peak:<5} "
      f"closes_seen_by_client={closed:<5} first_close_s={first_close} "
      f"open_on_server_at_{sys.argv[4]}s={sys.argv[3]}")
PY
}

echo "# bench/slow.sh: $connections slow connections per mode, ${duration}s each, nucleus 1 worker, defaults"
run_mode slowloris -H -i 5 -x 24 -u "http://127.0.0.1:$port/"
run_mode slowbody -B -i 5 -s 1000000 -x 10 -u "http://127.0.0.1:$port/echo"
run_mode slowread -X -k 10 -n 5 -w 16 -y 32 -z 16 -u "http://127.0.0.1:$port/stream?n=100000"
echo "# raw reports (csv/html) in $out"
