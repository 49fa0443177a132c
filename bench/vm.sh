#!/bin/bash
# bench/vm.sh [BUILD]: the two-deep inception (tests/vm/inception2_test.sh)
# once per qemu machine type, in one run: grow → the guest's init, → the
# guest's container answering on the host port, kill -9 → answering again,
# fell → qemu gone, and qemu's RSS against MEMORY 1G. Machines: microvm
# (under TCG with tsc_early_khz=, docs/RUNTIME-VM.md; stopped by the agent's
# stop request, it has no keyboard), q35 and pc; BENCH_MACHINES="q35
# microvm" picks some (a failing step is reported in its column).
# ORCH_VM_ACCEL is tcg unless set. Output: one block per machine, then a markdown table.
# Takes the VM lock (/tmp/orchd-vm.lock) per run.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
export ORCHD=$BUILD/orchd SRC
[ -x "$ORCHD" ] || { echo "$0: $ORCHD is not built" >&2; exit 1; }
OUT=$(mktemp -d /tmp/orchd-bench-vm.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
rows=()
for m in ${BENCH_MACHINES:-q35 pc microvm}; do
    limit=180
    echo "== $m" >&2
    ORCH_VM_MACHINE=$m INCEPTION2_INIT_LIMIT=$limit flock /tmp/orchd-vm.lock \
        bash "$SRC/tests/vm/inception2_test.sh" >"$OUT/$m.out" 2>&1
    rc=$?
    cat "$OUT/$m.out" | grep -v '^\(Linux\|\[\)' | grep -E "^(grow|guest|kill|fell|PASS|FAIL|SKIP)" >&2
    g() { sed -n "s/.*$1 \([0-9.]*\) s.*/\1/p" "$OUT/$m.out" | head -n1; }
    rss=$(sed -n 's/.*qemu RSS \([0-9]*\) kB.*/\1/p' "$OUT/$m.out")
    if [ $rc -eq 0 ]; then
        rows+=("| $m | $(g 'grow to guest init') | $(g 'container answers') | $(g 'answering again') | $(g 'fell to qemu gone') | $((rss / 1024)) MB |")
    else
        why=$(grep -m1 -E '^(FAIL|SKIP)' "$OUT/$m.out")
        rows+=("| $m | $(g 'grow to guest init') | $(g 'container answers') | $(g 'answering again') | ${why:-exit $rc} | ${rss:+$((rss / 1024)) MB} |")
    fi
done
echo
echo "| machine | grow → guest init (s) | grow → container answers (s) | kill -9 → answers again (s) | fell → qemu gone (s) | qemu RSS (MEMORY 1G) |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
