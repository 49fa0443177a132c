#!/bin/bash
# The vm runtime end to end (docs/RUNTIME-VM.md): a ONESHOT FROM service
# boots as a qemu guest, its output and the guest console reach its log,
# MEMORY/CPUS shape the guest, its exit code comes back (3); a RESTART
# always service whose qemu is killed -9 is restarted; fell leaves no qemu,
# no socket and no per-start file (the graceful stop itself: stop_test.sh). Run under flock /tmp/orchd-vm.lock.
set -u
: "${ORCHD:?}" "${SRC:?}"
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 not installed"; exit 77; }
T=$(mktemp -d /tmp/orchd-vm-test.XXXXXX)
export ORCH_STATE_DIR=$T/state ORCH_DATA=$T/data ORCH_PROJECT=$T ORCH_VM_ACCEL=${ORCH_VM_ACCEL:-tcg}
# a namespace of its own (as tests/vm/lib.sh): the containerd tests may run
# meanwhile (another ctest lock) with services of the same names
export ORCH_NAMESPACE=vm$$
cleanup() {
    "$ORCHD" fell >/dev/null 2>&1
    for p in $(cat "$T"/qemu.pids 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    for d in /sys/fs/cgroup/*/orchd/"$ORCH_NAMESPACE" /sys/fs/cgroup/orchd/"$ORCH_NAMESPACE"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -n 30 "$T"/state/logs/*.log 2>/dev/null; exit 1; }
KDIR=${ORCH_VM_KERNEL:-/var/cache/orchd-vm-kernel}
if ! K=$(bash "$SRC/examples/inception/fetch-kernel.sh" "$KDIR" 2>"$T/fetch.err"); then
    echo "SKIP: no guest kernel: $(tail -n1 "$T/fetch.err")"; exit 77
fi
sh "$SRC/scripts/build-test-image.sh" "$T/img.tar" >/dev/null 2>&1 || { echo "SKIP: cannot build the busybox image"; exit 77; }
cd "$T"
cat >Orchfile <<'ORCH'
SERVICE hello
FROM oci-archive:img.tar
CMD sh -c 'echo hello-from-guest; cat /proc/meminfo | head -1; nproc; exit 3'
ONESHOT true
MEMORY 192M
CPUS 2
ORCH
sv() { "$ORCHD" survey --json | python3 -c "import json,sys; s={x['service']:x for x in json.load(sys.stdin)}; print($1)"; }
t0=$(date +%s.%N)
"$ORCHD" grow --runtime vm --vm-kernel "$K" >"$T/grow.out" 2>&1
t1=$(date +%s.%N)
[ "$(sv "s['hello']['state']")" = exited ] || fail "state: $(cat "$T/grow.out")"
[ "$(sv "s['hello']['exit_code']")" = 3 ] || fail "exit code $(sv "s['hello']['exit_code']")"
[ "$(sv "s['hello']['runtime_info']['accel']")" = "$ORCH_VM_ACCEL" ] || fail "accel not shown"
LOG=$T/state/logs/$ORCH_NAMESPACE.hello.log
grep -q "vm guest init: starting" "$LOG" || fail "no guest console in the log"
grep -q "Linux version" "$LOG" || fail "no kernel boot messages in the log"
grep -q "^hello-from-guest" "$LOG" || fail "no service output"
mem=$(awk '/^MemTotal:/ {print $2}' "$LOG")
[ -n "$mem" ] && [ "$mem" -gt 120000 ] && [ "$mem" -le 196608 ] || fail "MemTotal $mem kB for MEMORY 192M"
tr -d "\r" <"$LOG" | grep -qx 2 || fail "nproc is not 2"
echo "oneshot: grow to exit $(echo "$t1 - $t0" | bc) s"

# RESTART always: kill -9 of qemu is an exit like any other
cat >Orchfile <<'ORCH'
SERVICE spin
FROM oci-archive:img.tar
CMD sh -c 'echo spin-up; while :; do sleep 1; done'
RESTART always
RESTART_DELAY 1s
TIMEOUT_STOP 20s
ORCH
"$ORCHD" grow --runtime vm --vm-kernel "$K" >"$T/grow2.out" 2>&1 || fail "grow spin: $(cat "$T/grow2.out")"
p1=$(sv "s['spin']['pid']")
echo "$p1" >>"$T/qemu.pids"
[ "$(cat /proc/"$p1"/comm 2>/dev/null)" = qemu-system-x86 ] || fail "pid $p1 is not qemu"
for _ in $(seq 1 120); do grep -q "^spin-up" "$T/state/logs/$ORCH_NAMESPACE.spin.log" && break; sleep 0.5; done
grep -q "^spin-up" "$T/state/logs/$ORCH_NAMESPACE.spin.log" || fail "spin never ran"
kill -9 "$p1"
for _ in $(seq 1 60); do
    p2=$(sv "s['spin']['pid']")
    [ "$p2" != None ] && [ "$p2" != "$p1" ] && break
    sleep 0.5
done
[ "$p2" != None ] && [ "$p2" != "$p1" ] || fail "not restarted after kill -9"
echo "$p2" >>"$T/qemu.pids"
[ "$(sv "s['spin']['restarts']")" -ge 1 ] || fail "restarts not counted"
rss=$(awk '/^VmRSS:/ {print $2}' /proc/"$p2"/status)
# wait until the new guest runs the service, then stop it gracefully
for _ in $(seq 1 120); do [ "$(grep -c "^spin-up" "$T/state/logs/$ORCH_NAMESPACE.spin.log")" -ge 2 ] && break; sleep 0.5; done
t2=$(date +%s.%N)
"$ORCHD" fell >/dev/null 2>&1 || fail "fell"
t3=$(date +%s.%N)
kill -0 "$p2" 2>/dev/null && fail "qemu $p2 outlived fell"
grep -aq "stopping the service" "$T/state/logs/$ORCH_NAMESPACE.spin.log" || fail "the guest did not log the stop request"
left=$(find "$T/state/vm" -mindepth 1 2>/dev/null)
[ -z "$left" ] || fail "left after fell: $left"
echo "restart: qemu RSS ${rss} kB for MEMORY 256M default; fell to qemu gone $(echo "$t3 - $t2" | bc) s"
echo PASS
