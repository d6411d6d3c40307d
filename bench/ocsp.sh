#!/usr/bin/env bash
# OCSP responder benchmark (issues 3 and 11, R-13): bench/ocsp_bench.py says what it measures.
# Starts its own private stack and a stock httpd under /tmp and stops them. About 25 minutes
# with the 1,000,000-certificate phase (most of it signing 2,000,000 answers in the token).
#   make bench    (or: bash bench/ocsp.sh; BENCH_SEC=5 for shorter phases, BENCH_MILLION=0 to
#                  skip the 1,000,000 phase, BENCH_CERTS=N for another store size)
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
for tool in wrk ab openssl gcc unshare mdb_stat; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (make deps)" >&2; exit 1; }
done
[ -x "$SRC/build/ecertctl" ] && [ -f "$SRC/build/mod_ocsp.so" ] || { echo "bench: run make first" >&2; exit 1; }
mkdir -p "$SRC/build/bench"
gcc -O2 -Wall -Wextra -Werror $(pkg-config --cflags p11-kit-1) -o "$SRC/build/bench/p11sign" \
    "$SRC/bench/p11sign.c" -ldl -lpthread
export BENCH_SRC="$SRC" BENCH_P11SIGN="$SRC/build/bench/p11sign"
exec timeout 7200 /usr/bin/python3 "$SRC/bench/ocsp_bench.py"
