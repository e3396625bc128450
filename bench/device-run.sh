#!/usr/bin/env bash
# Everything a device session measures, in one call of about 8.5 minutes (the device is lent
# for 15 minutes, start-up included; a command may run 10: PARTS="multicore h2" takes about
# 6.5): bench/multicore.sh (8 workers against the peers, and the scaling factor; ~4.4 min),
# bench/obs-throughput.sh (issue 4's throughput bar), bench/run.sh on one core (issue 6's
# single-core bars: plaintext, JSON, pipelined, Connection: close, p99) and
# bench/h2-device.sh (issue 5's HTTP/2 and handshake bars). A part that fails does not stop
# the others. Reports go to $OUT.
#
# Usage (on the device, after bench/multicore-pack.sh filled DIR here):
#   OUT=$OUT bench/device-run.sh bench/.device
# env: PARTS="multicore obs single h2"
#      SINGLE_RUNS=1 SINGLE_SCENARIOS="plaintext json pipelined close" (the single-core part)
#      A smoke test on a small machine: SERVER_CPUS=0 CLIENT_CPUS=1 WORKERS=2 THREADS=1 CONNS=16
#      SINGLE_CLIENT_CPU=1 CLIENT_CPU=1 MC_DURATION=1 OBS_DURATION=1 SINGLE_DURATION=1 H2_DURATION=1
set -uo pipefail
dir=$(cd "${1:?usage: device-run.sh DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$dir}
export OUT=$out
export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$dir:$PATH"
read -r -a parts <<<"${PARTS:-multicore obs single h2}"
log() { echo "[$(date -u +%T)] $*" | tee -a "$out/device-run.log"; }

log "device: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), kernel $(uname -r)"
for part in "${parts[@]}"; do
  log "start $part"
  case $part in
    multicore) DURATION=${MC_DURATION:-5} "$here/multicore.sh" "$dir" ;;
    obs) DURATION=${OBS_DURATION:-5} ROUNDS=${OBS_ROUNDS:-3} "$here/obs-throughput.sh" "$dir" ;;
    single)
      SKIP_BUILD=1 NUCLEUS_BIN="$dir/nucleus" DURATION=${SINGLE_DURATION:-4} \
        RUNS=${SINGLE_RUNS:-1} SERVER_CPU=0 CLIENT_CPU=${SINGLE_CLIENT_CPU:-8} \
        SCENARIOS=${SINGLE_SCENARIOS:-"plaintext json pipelined close"} "$here/run.sh" \
        "hyper=$dir/hyper-server" "actix=$dir/actix-server" "xitca=$dir/xitca-web-server" \
        "may-minihttp=$dir/may-minihttp-server" nucleus
      cp "$here"/results/*.txt "$out/" 2>/dev/null
      ;;
    h2) DURATION=${H2_DURATION:-5} ROUNDS=${H2_ROUNDS:-3} "$here/h2-device.sh" "$dir" ;;
    *) log "unknown part $part" ;;
  esac
  log "end $part (status $?)"
done
