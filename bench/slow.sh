#!/usr/bin/env bash
# Slow-client attacks against the nucleus binary with Debian's slowhttptest: slowloris (slow
# headers), slow body (R-U-Dead-Yet) and slow read. For each mode it reports whether the
# service stayed available throughout and whether the slow connections were closed.
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
    >"$out/$name.out" 2>&1 || true
  # CSV: Seconds,Closed,Pending,Connected,Service Available (the probe's status, 0 = no answer)
  python3 - "$out/$name.csv" "$name" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
available = all(int(r["Service Available"]) != 0 for r in rows)
peak = max(int(r["Connected"]) for r in rows)
closed = int(rows[-1]["Closed"])
first_close = next((int(r["Seconds"]) for r in rows if int(r["Closed"]) > 0), None)
print(f"{sys.argv[2]:<10} available={'yes' if available else 'NO':<4} peak_connected={peak:<5} "
      f"closed_by_server={closed:<5} first_close_s={first_close}")
PY
}

echo "# bench/slow.sh: $connections slow connections per mode, ${duration}s each, nucleus 1 worker, defaults"
run_mode slowloris -H -i 5 -x 24 -u "http://127.0.0.1:$port/"
run_mode slowbody -B -i 5 -s 1000000 -x 10 -u "http://127.0.0.1:$port/echo"
run_mode slowread -X -k 10 -n 5 -w 16 -y 32 -z 16 -u "http://127.0.0.1:$port/stream?n=100000"
echo "# raw reports (csv/html) in $out"
