#!/bin/bash
# VOLUMEs in a vm guest (docs/RUNTIME-VM.md "Volumes"): a ONESHOT guest
# writes into a named volume (<data>/volumes/NAME, made on first use) and the
# host sees the file with the guest's content; a path volume's host file is
# read in the guest; a volume nested in another one (declared first) is
# mounted after its parent, so it stays visible. Run under flock /tmp/orchd-vm.lock.
set -u
: "${ORCHD:?}" "${SRC:?}"
. "$SRC/tests/vm/lib.sh"
vm_setup
mkdir -p "$T/share"
echo "from-the-host-$$" >"$T/share/in.txt"
mkdir -p "$T/share2" && echo "nested-$$" >"$T/share2/deep.txt"
cat >Orchfile <<'ORCH'
SERVICE vol
FROM oci-archive:img.tar
CMD sh -c 'cat /in/in.txt; cat /in/deeper/deep.txt; echo written-in-guest >/out/made.txt; mkdir -p /out/sub; echo deep >/out/sub/f; echo vol-done'
ONESHOT true
VOLUME ./share2:/in/deeper
VOLUME ./share:/in
VOLUME results:/out
ORCH
"$ORCHD" grow --runtime vm --vm-kernel "$K" >"$T/grow.out" 2>&1
LOG=$T/state/logs/$ORCH_NAMESPACE.vol.log
[ "$(sv "s['vol']['state']")" = exited ] || fail "state: $(cat "$T/grow.out")"
[ "$(sv "s['vol']['exit_code']")" = 0 ] || fail "exit code $(sv "s['vol']['exit_code']")"
grep -aq "mounted volume /in (9p orchd1)" "$LOG" || fail "/in not mounted"
grep -aq "^nested-$$" "$LOG" || fail "/in/deeper (declared first) is hidden under /in"
grep -aq "^from-the-host-$$" "$LOG" || fail "the guest did not read the path volume's file"
[ "$(cat "$T/data/volumes/results/made.txt" 2>/dev/null)" = written-in-guest ] ||
    fail "the host does not see the guest's file in the named volume"
[ "$(cat "$T/data/volumes/results/sub/f" 2>/dev/null)" = deep ] || fail "no sub/f"
echo PASS
