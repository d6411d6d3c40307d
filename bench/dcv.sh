#!/usr/bin/env bash
# DCV benchmark (issue 9): 100 DNS Change validations and 100 CAA checks (RFC 8659 climb) with
# DNSSEC validation, against the signed zones of a private Knot DNS, side by side in the same
# run with Debian's delv resolving the same records with validation, interleaved rounds.
#   bash bench/dcv.sh            BENCH_N=100 names, BENCH_ROUNDS=3
# Needs root for the delegated zones on 127.0.53.x:53 (else the flat root zone on a high port).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
for tool in delv knotd; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (make deps)" >&2; exit 1; }
done
[ -x "$SRC/build/ecertctl" ] || { echo "bench: run make first" >&2; exit 1; }
export BENCH_SRC="$SRC"
exec timeout 1800 /usr/bin/python3 "$SRC/bench/dcv_bench.py"
