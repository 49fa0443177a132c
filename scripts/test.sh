#!/bin/sh
# The whole test suite, as CI runs it: install dependencies, build plain and
# with AddressSanitizer/UBSan, run ctest on both, then fuzz the parsers for a
# bounded time. Exits non-zero if anything failed.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh

echo "== plain build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
(cd build && ctest --output-on-failure -j"$JOBS")

echo "== AddressSanitizer + UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DORCH_SANITIZE=ON -DORCH_FUZZ=ON \
      -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build-asan -j"$JOBS"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$JOBS")

echo "== fuzzing (${ORCH_FUZZ_SECONDS:-60}s per target)"
"$ROOT/tests/fuzz/run.sh" "$ROOT/build-asan" "${ORCH_FUZZ_SECONDS:-60}"
