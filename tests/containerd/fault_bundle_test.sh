#!/bin/bash
# A shim bundle containerd forgot (issue 11, item 2; docs/CONTAINERD.md,
# "Crashes and outages"): the state a daemon killed mid-grow can leave,
# made by hand so it happens every time. containerd 1.6 has dropped the task
# but its bundle <state>/io.containerd.runtime.v2.task/<ns>/<id> (address,
# config.json, log fifo, shim-binary-path, empty rootfs/, work -> <root>/...,
# no runtime file) stays, and so does its idle shim. Every Tasks.Create of
# the id then fails ("failed to start shim: mkdir <bundle>: file exists").
#
#  s1: its container record is still there, labelled ours (took over); a
#      stand-in shim (cwd = the bundle, argv containerd-shim-runc-v2
#      -namespace NS -id ID) is alive.
#  s2: the container record is gone too, the shim already dead.
# The next grow must start both, kill the stand-in, and leave alone what
# does not match: a process in the bundle with another -id, a process with
# the right argv and another cwd, and the bundle of another id.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
CTD_NS=fbun$$
ctd_setup
orchd_setup
export ORCH_CONTAINERD_ADOPT_GRACE_MS=5000
export ORCH_CONTAINERD_STATE=$CTD_DIR/state ORCH_CONTAINERD_ROOT=$CTD_DIR/root

PIDS=""
stale_cleanup() {
    local p
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    orchd_teardown
}
CTD_CLEANUP_EXTRA=stale_cleanup

cat >"$PROJ/Orchfile" <<EOF
SERVICE s1
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
RESTART always

SERVICE s2
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
RESTART always
EOF
ID1=$CTD_NS-s1 ID2=$CTD_NS-s2 ID3=$CTD_NS-other
TASKS=$CTD_DIR/state/io.containerd.runtime.v2.task/$CTD_NS
WORKS=$CTD_DIR/root/io.containerd.runtime.v2.task/$CTD_NS

o grow -f "$PROJ/Orchfile" >/dev/null 2>&1 || bad "first grow"
wait_cond 40 'state_is s1 running && state_is s2 running' || { bad "not running at first"; finish; }
d=$(daemon_pid)
kill -9 "$d"
wait_cond 5 '! kill -0 "$d"'
log "daemon $d killed; removing the tasks behind its back"
for id in "$ID1" "$ID2"; do
    wait_cond 10 "$CTD_CTR tasks delete --force $id" || bad "ctr tasks delete --force $id"
done
$CTD_CTR containers delete "$ID2" >/dev/null 2>&1 || bad "ctr containers delete $ID2"
$CTD_CTR containers ls -q | grep -qx "$ID1" || bad "the container record of s1 is gone"

# plant ID: a bundle the way containerd 1.6 leaves one
plant() {
    local b=$TASKS/$1 w=$WORKS/$1
    [ -e "$b" ] && { bad "$b still exists after ctr tasks delete"; return; }
    mkdir -m 0700 "$b" && mkdir -m 0711 "$b/rootfs" && mkdir -p -m 0711 "$w" || bad "mkdir $b"
    echo "unix:///run/containerd/s/0000test$1" >"$b/address"
    echo '{"ociVersion":"1.0.2"}' >"$b/config.json"
    printf /usr/bin/containerd-shim-runc-v2 >"$b/shim-binary-path"
    mkfifo "$b/log"
    ln -s "$w" "$b/work"
    echo stale >"$b/stale-marker"
    echo stale >"$w/stale-marker"
}
plant "$ID1"
plant "$ID2"
plant "$ID3"
# stand_in DIR ID: a process in DIR with a shim's command line. Debian's
# python3 by its path: a wrapper (pyenv) would exec again and lose argv[0].
stand_in() {
    (cd "$1" && exec -a containerd-shim-runc-v2 /usr/bin/python3 -c 'import time; time.sleep(1000)' \
        -namespace "$CTD_NS" -id "$2" -address "$CTD_SOCK") &
}
stand_in "$TASKS/$ID1" "$ID1"
SHIM=$!
stand_in "$TASKS/$ID1" "$ID3"
DECOY_ID=$!
mkdir "$CTD_DIR/elsewhere"
stand_in "$CTD_DIR/elsewhere" "$ID1"
DECOY_CWD=$!
stand_in "$TASKS/$ID3" "$ID3"
SHIM3=$!
PIDS="$SHIM $DECOY_ID $DECOY_CWD $SHIM3"
for p in $PIDS; do
    wait_cond 10 'grep -q "^containerd-shim-runc-v2" /proc/'"$p"'/cmdline' || bad "stand-in $p did not start"
done
log "planted bundles for $ID1 (shim $SHIM), $ID2 (no shim), $ID3 (shim $SHIM3, not a service)"

t0=$(now_ms)
o grow -f "$PROJ/Orchfile" >/dev/null 2>&1 || log "second grow returned non-zero"
for s in s1 s2; do
    if wait_cond 40 "state_is $s running"; then
        ok "$s running after its stale bundle was found ($(( $(now_ms) - t0 )) ms)"
    else
        bad "$s not running: $(survey_field $s state)"
        grep -E "creating task|bundle" "$ORCH_STATE_DIR/orchd.log" | tail -5
    fi
done
grep -q "file exists" "$ORCH_STATE_DIR/orchd.log" &&
    ok "the planted state reproduced 'file exists'" ||
    bad "no 'file exists' in orchd.log: the planted bundles were not in the way"

# the stand-in shim of s1 was killed (SIGKILL: 137), the decoys were not
# (bounded: a stand-in that was not killed must not hang the test)
# killed: a zombie, or already reaped by this shell (then gone from /proc)
wait_cond 5 '[ ! -e /proc/'"$SHIM"' ] || [ "$(awk "{print \$3}" /proc/'"$SHIM"'/stat 2>/dev/null)" = Z ]' || { bad "the shim stand-in $SHIM survived"; kill -9 "$SHIM"; }
wait "$SHIM"
rc=$?
[ "$rc" = 137 ] && ok "the shim stand-in in s1's bundle was SIGKILLed" ||
    bad "the shim stand-in ended with $rc, not 137"
PIDS="$DECOY_ID $DECOY_CWD $SHIM3"
for p in $PIDS; do
    [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = S ] ||
        bad "pid $p (does not match s1's shim) was touched: $(cat /proc/$p/stat 2>/dev/null)"
done
grep -q "pid $DECOY_ID works in the bundle but is not its shim" "$ORCH_STATE_DIR/orchd.log" &&
    ok "a process in the bundle with another -id was left alone" ||
    bad "no note about pid $DECOY_ID in orchd.log"
# the stale bundles are gone: the bundles now are containerd's new ones
for id in "$ID1" "$ID2"; do
    [ ! -e "$TASKS/$id/stale-marker" ] && [ ! -e "$WORKS/$id/stale-marker" ] &&
        ok "$id: the stale bundle and its work directory were removed" ||
        bad "$id: stale files left: $(ls "$TASKS/$id" "$WORKS/$id" 2>&1 | tr '\n' ' ')"
done
for f in address config.json shim-binary-path log work stale-marker rootfs; do
    [ -e "$TASKS/$ID3/$f" ] || [ -L "$TASKS/$ID3/$f" ] || bad "$ID3's bundle lost $f"
done
[ -e "$WORKS/$ID3/stale-marker" ] || bad "$ID3's work directory was touched"
ok "the bundle of $ID3 (no task of ours asked for it) is intact"
grep -E "forgot|killed its shim|left alone" "$ORCH_STATE_DIR/orchd.log" | sed 's/^/  log: /'

o fell >/dev/null || bad "fell"
for p in $PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
PIDS=""
rm -rf --one-file-system "${TASKS:?}/$ID3" "${WORKS:?}/$ID3"
assert_clean "after fell"
finish
