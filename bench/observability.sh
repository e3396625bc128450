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

# Everything is off by default; each setting turns on what it names.
run "all off (the defaults)"
export SKIP_BUILD=1
run "metrics" NUCLEUS_METRICS_PATH=/metrics
run "metrics + access log (combined, /dev/null)" NUCLEUS_METRICS_PATH=/metrics \
  NUCLEUS_ACCESS_LOG=combined NUCLEUS_ACCESS_LOG_FILE=/dev/null
run "metrics + access log (json, /dev/null)" NUCLEUS_METRICS_PATH=/metrics \
  NUCLEUS_ACCESS_LOG=json NUCLEUS_ACCESS_LOG_FILE=/dev/null
run "request IDs" NUCLEUS_REQUEST_ID_HEADER=x-request-id
