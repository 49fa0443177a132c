#!/bin/sh
# Fuzz the Orchfile parsers, the control protocol and the OCI archive reader for a bounded time: tests/fuzz/run.sh BUILD_DIR SECONDS
# BUILD_DIR is a build configured with -DORCH_FUZZ=ON -DCMAKE_C_COMPILER=clang
# (and usually -DORCH_SANITIZE=ON). Each target runs SECONDS on a temporary
# copy of its seeds and regressions, so the repository is never written.
# Crashing inputs are kept under BUILD_DIR/fuzz-artifacts/<target>/; the
# script prints their paths and exits non-zero if there is any. To keep one
# as a regression: fix the bug, then copy it into tests/fuzz/regressions/<kind>/.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
BUILD=$(cd "$1" && pwd)
SECS=$2
HERE=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/orch-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

failed=0
for kind in text yaml protocol archive; do
    bin="$BUILD/tests/fuzz/fuzz_$kind"
    if [ ! -x "$bin" ]; then
        echo "run.sh: $bin not found; configure $BUILD with -DORCH_FUZZ=ON -DCMAKE_C_COMPILER=clang" >&2
        exit 1
    fi
    corpus="$work/$kind"
    # an archive holds a few 512-byte headers and blocks: room for them
    maxlen=4096
    [ "$kind" = archive ] && maxlen=16384
    artifacts="$BUILD/fuzz-artifacts/fuzz_$kind"
    mkdir -p "$corpus" "$artifacts"
    # Seeds and past crashes start the corpus; "cp dir/." also takes dotfiles.
    cp -R "$HERE/corpus/$kind/." "$corpus/"
    cp -R "$HERE/regressions/$kind/." "$corpus/"
    rm -f "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* \
          "$artifacts"/oom-* "$artifacts"/slow-unit-*

    echo "== fuzz_$kind for ${SECS}s"
    rc=0
    (cd "$work" && ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        "$bin" -max_total_time="$SECS" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
               -print_final_stats=1 -dict="$HERE/$kind.dict" \
               -artifact_prefix="$artifacts/" "$corpus" \
               >"$work/fuzz_$kind.log" 2>&1) || rc=$?
    # The last status line (coverage, corpus size) and the final stats.
    grep -E '^#[0-9]+' "$work/fuzz_$kind.log" | tail -n 1 || true
    grep '^stat::' "$work/fuzz_$kind.log" || true
    found=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
            -o -name 'oom-*' \) | sort)
    if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
        failed=1
        tail -n 60 "$work/fuzz_$kind.log" >&2
        echo "run.sh: fuzz_$kind FAILED (exit $rc)" >&2
        for f in $found; do
            echo "run.sh: crashing input: $f" >&2
            echo "run.sh:   reproduce with: $bin $f" >&2
        done
    else
        echo "run.sh: fuzz_$kind: no crash"
    fi
done
exit "$failed"
