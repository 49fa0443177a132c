#!/bin/bash
# Graceful stop of a vm guest (docs/RUNTIME-VM.md "Stop"): fell of a running
# service asks the guest over QMP (ctrl-alt-delete → SIGINT for the guest's
# process 1), the guest logs the request, stops its service (which traps
# SIGTERM and says so) and powers off, well before TIMEOUT_STOP (60 s); no
# qemu is left. Also: every kernel module of the kernel directory loaded.
# Run under flock /tmp/orchd-vm.lock.
set -u
: "${ORCHD:?}" "${SRC:?}"
. "$SRC/tests/vm/lib.sh"
vm_setup
cat >Orchfile <<'ORCH'
SERVICE spin
FROM oci-archive:img.tar
CMD sh -c 'trap "echo got-sigterm; exit 0" TERM; echo spin-up; while :; do sleep 1; done'
TIMEOUT_STOP 60s
ORCH
t0=$(date +%s.%N)
"$ORCHD" grow --runtime vm --vm-kernel "$K" >"$T/grow.out" 2>&1 || fail "grow: $(cat "$T/grow.out")"
p=$(sv "s['spin']['pid']")
echo "$p" >>"$T/qemu.pids"
LOG=$T/state/logs/orch.spin.log
wait_log "$LOG" "vm guest init: starting" 120 || fail "the guest init never started"
t1=$(date +%s.%N)
wait_log "$LOG" "^spin-up" 120 || fail "spin never ran"
t2=$(date +%s.%N)
if grep -a "orchd-vm: module\|init: module" "$LOG"; then fail "a kernel module did not load"; fi
grep -aq "loaded [0-9]* kernel modules" "$LOG" || fail "no module summary in the log"
t3=$(date +%s.%N)
"$ORCHD" fell >"$T/fell.out" 2>&1 || fail "fell: $(cat "$T/fell.out")"
t4=$(date +%s.%N)
kill -0 "$p" 2>/dev/null && fail "qemu $p outlived fell"
grep -aq "stop requested (ctrl-alt-delete)" "$LOG" || fail "the QMP request was not answered"
grep -aq "Interrupt: stopping the service" "$LOG" || fail "the guest did not log the stop request"
grep -aq "^got-sigterm" "$LOG" || fail "the service did not get SIGTERM"
took=$(echo "$t4 - $t3" | bc)
[ "$(echo "$took < 30" | bc)" = 1 ] || fail "fell took $took s (TIMEOUT_STOP is 60 s: no graceful stop)"
left=$(find "$T/state/vm" -mindepth 1 2>/dev/null)
[ -z "$left" ] || fail "left after fell: $left"
# warm: the rootfs and initramfs caches exist now
mv "$LOG" "$LOG.1"
t5=$(date +%s.%N)
"$ORCHD" grow --runtime vm --vm-kernel "$K" >"$T/grow2.out" 2>&1 || fail "grow 2: $(cat "$T/grow2.out")"
p=$(sv "s['spin']['pid']")
echo "$p" >>"$T/qemu.pids"
wait_log "$LOG" "vm guest init: starting" 120 || fail "the guest init never started (2)"
t6=$(date +%s.%N)
wait_log "$LOG" "^spin-up" 120 || fail "spin never ran (2)"
t7=$(date +%s.%N)
rss=$(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status)
"$ORCHD" fell >/dev/null 2>&1 || fail "fell 2"
kill -0 "$p" 2>/dev/null && fail "qemu $p outlived fell (2)"
echo "stop (warm caches): grow to guest init $(echo "$t6 - $t5" | bc) s, to service output $(echo "$t7 - $t5" | bc) s; qemu RSS $rss kB for MEMORY 256M (default)"
echo "stop (cold caches): grow to guest init $(echo "$t1 - $t0" | bc) s, to service output $(echo "$t2 - $t0" | bc) s; fell to qemu gone $took s"
echo PASS
