#!/bin/bash
# A full log filesystem (issue 11, item 5): logs/ on a 1 MB tmpfs, a chatty
# container. It must keep running (its counter, kept inside, advances, and it
# does not sleep in pipe_write), survey
# and orchd.log report "log disk full: N lines dropped" once, and output
# resumes in the log once space is freed.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
CTD_NS=flog$$
ctd_setup
orchd_setup
mkdir -m 700 -p "$ORCH_STATE_DIR" && mkdir -p "$ORCH_STATE_DIR/logs"
mount -t tmpfs -o size=1m tmpfs "$ORCH_STATE_DIR/logs" || ctd_skip "cannot mount a tmpfs"
CTD_CLEANUP_EXTRA='orchd_teardown; umount "$ORCH_STATE_DIR/logs" 2>/dev/null'
cat >"$PROJ/Orchfile" <<'EOF'
SERVICE chatty
FROM localhost/orchd-test:latest
VOLUME counter:/work
CMD sh -c 'i=0; while :; do i=$((i+1)); echo $i > /work/count.new; mv /work/count.new /work/count; echo "line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; done'
EOF
o grow -f "$PROJ/Orchfile" || bad "grow"
log="$ORCH_STATE_DIR/logs/$CTD_NS.chatty.log"
wait_cond 30 '[ "$(df --output=avail "$ORCH_STATE_DIR/logs" | tail -1)" -lt 8 ]' &&
    ok "the log filesystem is full" || bad "the log filesystem did not fill"
pid=$(task_pid "$CTD_NS-chatty")
log "task pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
# the counter lives in a named volume: the host reads it where orchd keeps it
count() { # a read may fall between the shell's truncate and write: retry
    local c=""
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        c=$(cat "$ORCH_DATA/volumes/counter/count" 2>/dev/null)
        [ -n "$c" ] && break
        sleep 0.1
    done
    echo "$c"
}
c1=$(count); sleep 2; c2=$(count)
log "counter inside: $c1 -> $c2"
[ -n "$c1" ] && [ -n "$c2" ] && [ "$c2" -gt "$c1" ] && ok "the container keeps running on a full disk" ||
    bad "the container is blocked ($c1 -> $c2)"
# A writer blocked on its full pipe sleeps in pipe_write; the shell writes
# its lines itself (echo is a builtin), so sample its wait channel.
inpipe=0
for _ in $(seq 1 20); do
    [ "$(cat "/proc/$pid/wchan" 2>/dev/null)" = pipe_write ] && inpipe=$((inpipe + 1))
    sleep 0.05
done
[ "$inpipe" -lt 20 ] && ok "not stuck in pipe_write ($inpipe of 20 samples)" ||
    bad "the container sleeps in pipe_write (20 of 20 samples)"
wait_cond 10 'o survey | grep chatty | grep -qE "log: disk full: [0-9]+ lines? dropped"' &&
    ok "survey: $(o survey | grep -o '\[log: [^]]*\]')" || { bad "survey has no note"; o survey; }
wait_cond 10 'grep -qE "service chatty: log disk full: [0-9]+ lines? dropped" "$ORCH_STATE_DIR/orchd.log"' &&
    ok "orchd.log reports it" || bad "orchd.log has no report"
# The report settles for one watch tick (2 s) before it counts: a chatty
# container has lost far more than its first line by then.
first=$(grep -oE "service chatty: log disk full: [0-9]+" "$ORCH_STATE_DIR/orchd.log" | head -1 | grep -oE "[0-9]+$")
[ "${first:-0}" -gt 1 ] && ok "the first report counts $first lines" ||
    bad "the first report counts ${first:-no} lines (fired on the first drop)"
sleep 3
n=$(grep -c "chatty: log disk full" "$ORCH_STATE_DIR/orchd.log")
[ "$n" = 1 ] && ok "reported once" || bad "reported $n times"
: >"$log"   # free the space
wait_cond 10 '[ -s "$log" ]' && ok "output resumes after space is freed" || bad "no output after freeing space"
# The watch looks every 2 s; a container this chatty may fill the 1 MB
# again before it looks, and then the episode simply goes on (no
# "resumed" line, and no second "disk full" either).
if wait_cond 10 'grep -q "chatty: log output resumed" "$ORCH_STATE_DIR/orchd.log"'; then
    ok "orchd.log reports the resumption"
elif [ "$(grep -c "chatty: log disk full" "$ORCH_STATE_DIR/orchd.log")" = 1 ] && [ -s "$log" ]; then
    ok "output resumed and filled the disk again within one watch tick (one episode, reported once)"
else
    bad "no resumption report"
fi
o fell >/dev/null || bad "fell"
assert_clean "after the last fell"
finish
