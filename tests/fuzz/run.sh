#!/usr/bin/env bash
# Builds every libFuzzer target tests/fuzz/fuzz_*.c against the core (clang, ASan+UBSan)
# into build-fuzz/ and runs each for a bounded time.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]      (make fuzz FUZZ_SEC=60)
# Seeds: tests/fuzz/corpus/<target>/ (copied; the working corpus stays in build-fuzz/).
# A crash leaves its input in build-fuzz/<target>-crash-* and the script fails.
set -euo pipefail

SEC="${1:-60}"
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$SRC/build-fuzz"
CC="${FUZZ_CC:-clang}"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFLAGS="-O1 -g $SAN -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -I$SRC/core \
    $(apr-1-config --cflags --cppflags --includes) $(apu-1-config --includes) \
    $(pkg-config --cflags p11-kit-1 libidn2 openssl libcurl libpsl)"
LIBS="$(apu-1-config --link-ld) $(apr-1-config --link-ld) $(pkg-config --libs p11-kit-1 libidn2 openssl libcurl libpsl) -lunbound -lm"

mkdir -p "$OUT/core"
objs=()
for c in "$SRC"/core/ec_*.c; do
    o="$OUT/core/$(basename "${c%.c}").o"
    if [ ! -e "$o" ] || [ "$c" -nt "$o" ] || [ -n "$(find "$SRC/core" -name '*.h' -newer "$o" -print -quit)" ]; then
        # shellcheck disable=SC2086
        "$CC" $CFLAGS -fsanitize=fuzzer-no-link -c -o "$o" "$c"
    fi
    objs+=("$o")
done
rm -f "$OUT/libeccore-fuzz.a"
ar rcs "$OUT/libeccore-fuzz.a" "${objs[@]}"

status=0
for t in "$SRC"/tests/fuzz/fuzz_*.c; do
    name="$(basename "${t%.c}")"
    bin="$OUT/$name"
    # shellcheck disable=SC2086
    "$CC" $CFLAGS -fsanitize=fuzzer -o "$bin" "$t" "$OUT/libeccore-fuzz.a" $LIBS
    corpus="$OUT/corpus-$name"
    mkdir -p "$corpus"
    if [ -d "$SRC/tests/fuzz/corpus/$name" ]; then
        cp -n "$SRC/tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true
    fi
    echo "fuzz: $name for ${SEC}s"
    if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$bin" -max_total_time="$SEC" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$OUT/$name-" "$corpus" >"$OUT/$name.log" 2>&1; then
        echo "fuzz: $name FAILED (see $OUT/$name.log)"
        tail -40 "$OUT/$name.log"
        status=1
    else
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$OUT/$name.log" | sed "s/^/fuzz: $name /"
    fi
done
exit $status
