#!/usr/bin/env bash
# Issuance benchmark (issue 4): CSR submission -> issued certificate page over HTTP,
# against `openssl ca -batch` issuing the same CSRs with its key on disk, in the same run.
#   bench/issue.sh [N]        (default 200 issuances; bounded in count and time)
# Starts its own private stack on free ports under a temporary directory and stops it.
# Logs in once per application (scrypt costs ~100 ms) and measures only CSR -> certificate.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-200}"
cd "$SRC"
[ -x build/ecertctl ] && [ -f build/mod_ecert.so ] || { echo "bench: run make first" >&2; exit 1; }
exec timeout 1800 /usr/bin/python3 "$SRC/bench/issue_bench.py" "$N"
