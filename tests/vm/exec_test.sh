#!/bin/bash
# Helper commands in a vm guest (docs/RUNTIME-VM.md "Helper commands"):
# `HEALTHCHECK test -f /only-in-image` runs in the guest over the agent
# channel (the host has no such file) and the service becomes ready; a
# HEALTHCHECK that fails (exit 1 in the guest) keeps it unready and survey
# says why; a STOP command runs in the guest (its kill -TERM 1 asks the
# guest's process 1 to stop the service); `orchd reload` runs RELOAD in the
# guest with the service's ENV and WORKDIR (its marker file is not on the
# host).
# Run under flock /tmp/orchd-vm.lock.
set -u
: "${ORCHD:?}" "${SRC:?}"
. "$SRC/tests/vm/lib.sh"
[ ! -e /only-in-image ] || { echo "SKIP: the host has /only-in-image"; exit 77; }
vm_setup
cat >Orchfile <<ORCH
SERVICE good
FROM oci-archive:img.tar
CMD sh -c 'echo good-up; while :; do sleep 1; done'
HEALTHCHECK test -f /only-in-image && echo health-ran-in-guest
STOP echo stop-command-in-guest; kill -TERM 1
RELOAD echo "reload: \$(cat /only-in-image | head -c 20) uid=\$(id -u) cwd=\$(pwd) foo=\$FOO"; touch /tmp/orchd-vm-reload-mark-$$
ENV FOO=bar
WORKDIR /tmp
TIMEOUT_STOP 60s

SERVICE bad
FROM oci-archive:img.tar
CMD sh -c 'while :; do sleep 1; done'
HEALTHCHECK test -f /not-there
TIMEOUT_START 45s
ORCH
# grow fails: bad never becomes ready (and is stopped)
"$ORCHD" grow --runtime vm --vm-kernel "$K" >"$T/grow.out" 2>&1 && fail "grow succeeded with bad's failing check"
echo "$(sv "s['good']['pid']")" >>"$T/qemu.pids"
grep -q "service bad: failed: did not become ready within 45s: healthcheck exited with code 1" "$T/grow.out" ||
    fail "bad's failing check in the guest not reported: $(cat "$T/grow.out")"
for _ in $(seq 1 240); do [ "$(sv "s['good']['state']")" = ready ] && break; sleep 0.5; done
[ "$(sv "s['good']['state']")" = ready ] || fail "good never became ready: $(sv "s['good']")"
grep -aq "^health-ran-in-guest" "$T/state/logs/$ORCH_NAMESPACE.good.log" || fail "the check's output is not in the log"
"$ORCHD" reload good >"$T/reload.out" 2>&1 || fail "reload: $(cat "$T/reload.out")"
wait_log "$T/state/logs/$ORCH_NAMESPACE.good.log" "^reload: .* uid=0 cwd=/tmp foo=bar" 30 ||
    fail "RELOAD did not run in the guest with the service's ENV and WORKDIR"
[ -e /tmp/orchd-vm-reload-mark-$$ ] && { rm -f /tmp/orchd-vm-reload-mark-$$; fail "RELOAD ran on the host"; }
t0=$(date +%s.%N)
"$ORCHD" fell >/dev/null 2>&1
t1=$(date +%s.%N)
took=$(echo "$t1 - $t0" | bc)
[ "$(echo "$took < 40" | bc)" = 1 ] || fail "fell took $took s"
grep -aq "^stop-command-in-guest" "$T/state/logs/$ORCH_NAMESPACE.good.log" || fail "the STOP command did not run in the guest"
echo PASS
