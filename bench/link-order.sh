#!/usr/bin/env bash
# Regenerates nucleus-cli/link-order.txt, the order the linker lays out the `nucleus`
# binary's functions in (NOT part of CI; see nucleus-cli/build.rs and docs/PERFORMANCE.md).
#
# usage: bench/link-order.sh           (env: SKIP_BUILD=1 to use target/release/nucleus)
#
# With SKIP_BUILD=1, build the binary with `cargo build --release` first: `cargo test --release`
# also writes target/release/nucleus, with the tests' features, and its symbol names differ.
#
# Runs the release binary under callgrind (mangled names), starts it with the defaults,
# serves a spread of demo requests, and lists (sorted) every function of the binary that ran:
# start-up and the serving path. The linker places those first, side by side, so the pages
# a running server touches are few and dense. The kernel maps a file-backed page fault's
# 64 KiB neighbourhood at once, so code scattered over the whole text section made almost
# all of it resident.
#
# Symbol names carry hashes that change with the compiler version and with dependency
# versions (and with a workspace crate's list of dependencies): after a toolchain or
# Cargo.lock update, or a dependency added to or removed from a crate, run this again. Stale names are
# ignored by the linker (the build never fails over them); the script prints how many of
# the listed names the current binary still has.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v valgrind >/dev/null || die "valgrind is needed (apt-get install valgrind)"
OUT_FILE="$ROOT_DIR/nucleus-cli/link-order.txt"
PROFILE="$LOG_DIR/callgrind.order"
[[ ${SKIP_BUILD:-0} == 1 ]] || (cd "$ROOT_DIR" && cargo build --release --quiet -p nucleus-cli)
build_bench

READY_TIMEOUT=120 start_server nucleus valgrind --tool=callgrind --demangle=no \
  --callgrind-out-file="$PROFILE" || die "nucleus did not start under valgrind"
addr="$HOST:$SERVER_PORT"
for path in / /json /health; do
  "$LOADGEN" --addr "$addr" -n 200 -c 2 --path "$path" --quiet
done
"$LOADGEN" --addr "$addr" -n 100 -c 2 --path /missing --expect-status 404 --quiet
"$LOADGEN" --addr "$addr" -n 200 -c 2 --method POST --path /echo --body-size 4096 --quiet
"$LOADGEN" --addr "$addr" -n 100 -c 1 --close --quiet
STOP_TIMEOUT=60 stop_server

# The names of the functions that ran, for the binary's own object only (`ob=`), without
# callgrind's recursion suffixes ('2), each once. Sorted: what matters is that they sit
# together, and a sorted list changes only where the code did.
awk -v bin="$(basename "$NUCLEUS_BIN")" '
  /^ob=\(/ { id = $1; sub(/^ob=/, "", id); if (NF > 1) { name = $2; objs[id] = name } ours = (objs[id] ~ ("/" bin "$")) ; next }
  /^c?ob=\(/ { id = $1; sub(/^c?ob=/, "", id); if (NF > 1) objs[id] = $2; next }
  /^cfn=\(/ { id = $1; sub(/^cfn=/, "", id); if (NF > 1) fns[id] = $2; next }
  /^fn=\(/ { id = $1; sub(/^fn=/, "", id); if (NF > 1) fns[id] = $2; f = fns[id]; sub(/'"'"'[0-9]+$/, "", f); if (ours && f != "" && !seen[f]++) print f }
' "$PROFILE" | LC_ALL=C sort -u >"$OUT_FILE.new"
mv "$OUT_FILE.new" "$OUT_FILE"
listed=$(wc -l <"$OUT_FILE")
present=$(nm --defined-only "$NUCLEUS_BIN" | awk '{print $3}' | sort -u | comm -12 - <(sort -u "$OUT_FILE") | wc -l)
log "wrote $OUT_FILE: $listed functions ($present of them in $NUCLEUS_BIN)"
