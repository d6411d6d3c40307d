#!/usr/bin/env bash
# Multi-perspective corroboration benchmark (issue 10): DNS Change validation latency with 0
# and with 5 remote perspectives, each perspective an httpd with mod_perspective in a network
# namespace of its own, interleaved in one run, and each perspective's own time alone; prints
# the added latency against 1.5 x the slowest single perspective's.
#   bash bench/mpic.sh          BENCH_N=40 names per series, BENCH_ROUNDS=3
# Needs root (network namespaces, the delegated DNS on port 53) and the test build, whose
# ecertctl takes ECertPerspectiveMinimum 1 for the one-perspective series (make test-build).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
[ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }
[ -x "$SRC/build-test/ecertctl" ] || make -C "$SRC" test-build >/dev/null
export BENCH_SRC="$SRC"
exec timeout 1800 /usr/bin/python3 "$SRC/bench/mpic_bench.py"
