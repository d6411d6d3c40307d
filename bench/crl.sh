#!/usr/bin/env bash
# CRL benchmark (issue 7): generation of 1,000 / 100,000 / 1,000,000 entries against
# `openssl ca -gencrl`, and serving the 1,000,000-entry CRL against a stock httpd serving the
# same bytes from a file. Starts its own private stack under /tmp and stops it.
#   bash bench/crl.sh              BENCH_SEC=10 (wrk seconds), BENCH_ROUNDS=3,
#                                  BENCH_SIZES=1000,100000,1000000
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
for tool in wrk openssl curl; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (make deps)" >&2; exit 1; }
done
[ -x "$SRC/build/ecertctl" ] && [ -f "$SRC/build/mod_ecert.so" ] || { echo "bench: run make first" >&2; exit 1; }
mkdir -p "$SRC/build/bench"
gcc -O2 -Wall -Wextra -Werror -o "$SRC/build/bench/peak" "$SRC/bench/peak.c"
export BENCH_PEAK="$SRC/build/bench/peak"
export BENCH_SRC="$SRC"
exec timeout 3600 /usr/bin/python3 "$SRC/bench/crl_bench.py"
