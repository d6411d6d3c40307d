#!/usr/bin/env bash
# Subscriber pages benchmark: p50/p99 and requests/s of each page type (login form,
# search with results, confirm, CSR, certificate, download, the CSS asset) with 16 concurrent
# clients (wrk), against a stock httpd serving the same rendered pages as static files; the
# login POST (scrypt, slow on purpose) apart. bench/pages_bench.py says what it measures.
# Starts its own private stack and the stock httpd on free ports of 127.0.0.1 under /tmp and
# stops them. About 5 minutes (BENCH_SEC=5 seconds per run, BENCH_ROUNDS=3 rounds per page).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
command -v wrk >/dev/null || { echo "bench: wrk is missing (make deps)" >&2; exit 1; }
[ -x "$SRC/build/ecertctl" ] && [ -f "$SRC/build/mod_ecert.so" ] || { echo "bench: run make first" >&2; exit 1; }
exec timeout 1500 /usr/bin/python3 "$SRC/bench/pages_bench.py"
