#!/usr/bin/env bash
# What "the copy" in issue 6's echo bar costs: user-space instructions of one `memcpy` of
# SIZE bytes (glibc's, as Nucleus links it), measured with callgrind (NOT part of CI).
#
# usage: bench/copy-cost.sh            env: SIZE=4096 N1=1000 N2=11000
#
# A C loop copies SIZE bytes N1 and then N2 times under `valgrind --tool=callgrind`;
# instructions per copy = (Ir(N2) - Ir(N1)) / (N2 - N1). Needs gcc and valgrind.
set -euo pipefail
SIZE=${SIZE:-4096}
N1=${N1:-1000}
N2=${N2:-11000}
command -v gcc >/dev/null || { echo "error: gcc not installed" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "error: valgrind not installed" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/copy.c" <<C
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  char *from = malloc($SIZE + 64), *to = malloc($SIZE + 64);
  memset(from, 1, $SIZE);
  volatile char sink = 0;
  /* Alternate the destination's alignment, and read it back, so no copy is optimized out. */
  for (int i = 0; i < n; i++) { memcpy(to + (i & 1), from, $SIZE); sink += to[100]; }
  return sink == 42;
}
C
gcc -O2 -o "$dir/copy" "$dir/copy.c"
ir() {
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg.$1" "$dir/copy" "$1" >/dev/null 2>&1
  awk '/^totals:/ { print $2 }' "$dir/cg.$1"
}
a=$(ir "$N1")
b=$(ir "$N2")
echo "memcpy of $SIZE bytes: $(((b - a) / (N2 - N1))) instructions (callgrind, $N1 and $N2 copies)"
