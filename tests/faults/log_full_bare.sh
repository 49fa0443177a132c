# A host service whose log filesystem is full (issue 11, item 5): its STDOUT
# file lies on a 1 MB tmpfs that it fills itself; it writes until a write
# fails (ENOSPC) and dies of it. The reason orchd gives must say why, since
# the exit code alone does not: "(its log filesystem is full: PATH: ...)"
# (src/daemon/supervisor.c, with_log_full_note). A service that fails the
# same way on a filesystem with room left gets no such note.
. "$SRC/tests/cli/lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root (mount)"
mkdir -p "$T/logs"
mount -t tmpfs -o size=1m tmpfs "$T/logs" || skip "cannot mount a tmpfs"
logfull_cleanup() {
    rc=$?
    set +e
    timeout 30 "$ORCHD" fell >/dev/null 2>&1 || true
    umount "$T/logs" 2>/dev/null || umount -l "$T/logs" 2>/dev/null
    (exit $rc)
    cleanup
}
trap logfull_cleanup EXIT INT TERM

# filler: writes 4 KiB blocks to stdout until a write fails, then exits 1
# (what a program does that checks its writes). dd from /dev/zero stops at
# the first failed write with a non-zero status.
cat > Orchfile <<OF
SERVICE filler
RUN exec dd if=/dev/zero bs=4096 count=100000
STDOUT $T/logs/filler.log
RESTART no

SERVICE roomy
RUN exit 3
STDOUT $T/roomy.log
RESTART no
OF

"$ORCHD" grow >/dev/null 2>&1 || true
wait_for 20 state_is filler failed || fail "filler did not fail: $(survey)"
avail=$(df --output=avail "$T/logs" | tail -1)
[ "$avail" -lt 8 ] || fail "the log filesystem is not full ($avail KiB free)"
why=$(sv "s['filler'].get('error') or s['filler'].get('detail')")
echo "filler: $why"
case $why in
*"(its log filesystem is full: $T/logs/filler.log: No space left on device)"*) ;;
*) fail "filler's reason does not name the full log filesystem: $why" ;;
esac

wait_for 20 state_is roomy failed || fail "roomy did not fail: $(survey)"
why=$(sv "s['roomy'].get('error') or s['roomy'].get('detail')")
echo "roomy: $why"
case $why in
*"log filesystem is full"*) fail "roomy's log has room, yet: $why" ;;
esac
echo "PASS"
