#!/bin/bash
# Crash mid-grow (issue 11, item 2): the daemon is killed 100-200 ms into a
# grow of 10 containers; the next grow must bring all 10 to running, although
# containerd is still tidying the task creations the dead daemon abandoned
# ("mkdir .../<id>: file exists"): orchd retries them, never fails for good.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
CTD_NS=fgrow$$
ctd_setup
orchd_setup
export ORCH_CONTAINERD_ADOPT_GRACE_MS=1500
: >"$PROJ/Orchfile"
for i in $(seq 1 10); do
    cat >>"$PROJ/Orchfile" <<EOF
SERVICE c$i
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
RESTART always

EOF
done
for round in 1 2 3; do
    o grow -f "$PROJ/Orchfile" >/dev/null 2>&1 &
    gp=$!
    sleep "0.$(( 10 + RANDOM % 10 ))"
    # the daemon this grow started (not the last round's: gone, its pid
    # maybe reused), once it runs and has written its pid
    d=""
    wait_cond 10 'd=$(daemon_pid); [ -n "$d" ] && [ "$d" != "${prev:-}" ]' || d=""
    [ -n "$d" ] && kill -9 "$d"
    prev=$d
    wait "$gp" 2>/dev/null
    [ -n "$d" ] && wait_cond 5 '! kill -0 "$d" 2>/dev/null'
    log "round $round: daemon ${d:-(none found)} killed mid-grow"
    o grow -f "$PROJ/Orchfile" >/tmp/ctdf_grow.$$ 2>&1 || { log "grow said: $(tail -3 /tmp/ctdf_grow.$$)"; }
    running=0
    for i in $(seq 1 10); do
        wait_cond 40 'state_is c'$i' running' && running=$((running + 1))
    done
    [ "$running" = 10 ] && ok "round $round: all 10 running after the crash" ||
        { bad "round $round: only $running of 10 running"; o survey; }
    n=$(grep -c "trying again" "$ORCH_STATE_DIR/orchd.log")
    log "round $round: Tasks.Create retries so far: $n"
    if [ "$round" != 3 ]; then
        o fell >/dev/null 2>&1 || bad "fell after round $round"
    fi
done
rm -f /tmp/ctdf_grow.$$
o fell >/dev/null || bad "fell"
assert_clean "after the last fell"
finish
