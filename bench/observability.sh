#!/usr/bin/env bash
# Cost of observability: instructions per `GET /` with metrics, access log and request IDs
# off and on (NOT part of CI). Runs bench/instructions.sh once per setting; the settings are
# passed as NUCLEUS_* environment variables, which the server inherits.
#
# usage: bench/observability.sh            (env as for instructions.sh: N1, N2, SKIP_BUILD)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

run() {
  local label=$1
  shift
  local line
  line=$(env "$@" SCENARIOS="${SCENARIOS:-get}" ./instructions.sh nucleus 2>/dev/null | grep -E '^nucleus ' || true)
  printf '%-44s %s\n' "$label" "$line"
}

off=(NUCLEUS_METRICS_PATH=off NUCLEUS_ACCESS_LOG=off NUCLEUS_REQUEST_ID_HEADER=off)
run "all off" "${off[@]}"
export SKIP_BUILD=1
run "metrics" NUCLEUS_ACCESS_LOG=off NUCLEUS_REQUEST_ID_HEADER=off
run "metrics + access log (combined, file)" NUCLEUS_ACCESS_LOG=combined \
  NUCLEUS_ACCESS_LOG_FILE=/dev/null NUCLEUS_REQUEST_ID_HEADER=off
run "request IDs" NUCLEUS_METRICS_PATH=off NUCLEUS_ACCESS_LOG=off
run "defaults (metrics + request IDs)"
