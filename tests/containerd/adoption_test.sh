#!/bin/bash
# Start-up adoption and containerd restarts (issue 5, step 7):
#  - the daemon dies (kill -9) with its containers running; a new daemon
#    adopts the one whose spec is unchanged (same task pid, no restart),
#    recreates the one whose spec changed, and removes the one no longer in
#    the Orchfile (after the grace period, ORCH_CONTAINERD_ADOPT_GRACE_MS);
#  - containerd restarts under running containers: the tasks live on, and an
#    exit that happens after the restart still reaches the supervisor (the
#    Wait is re-issued once containerd is back);
#  - fell then leaves nothing behind.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
CTD_NS=adopt$$
ctd_setup
orchd_setup
export ORCH_CONTAINERD_ADOPT_GRACE_MS=1500
log "containerd at $CTD_SOCK, namespace $CTD_NS"

orchfile() { # $1: the value of `change`'s ENV; $2: whether `gone` is there
    cat >"$PROJ/Orchfile" <<EOF
SERVICE keep
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"

SERVICE change
FROM localhost/orchd-test:latest
CMD sh -c "echo \$V > /tmp/v; trap 'exit 0' TERM; sleep 600 & wait"
ENV V=$1
EOF
    [ "$2" = yes ] && cat >>"$PROJ/Orchfile" <<'EOF'

SERVICE gone
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
EOF
    return 0
}

orchfile one yes
o grow -f "$PROJ/Orchfile" || bad "first grow"
keep1=$(task_pid "$CTD_NS-keep")
change1=$(task_pid "$CTD_NS-change")
gone1=$(task_pid "$CTD_NS-gone")
log "running: keep $keep1, change $change1, gone $gone1"

# ---- the daemon dies; its containers run on
d=$(daemon_pid)
kill -9 "$d"
wait_cond 5 '! kill -0 "$d"'
[ "$(task_pid "$CTD_NS-keep")" = "$keep1" ] && ok "daemon $d killed; containers run on" ||
    bad "keep's task changed after the daemon died"

orchfile two no
t=$(now_ms)
o grow -f "$PROJ/Orchfile" || bad "second grow"
log "grow with a new daemon: $(( $(now_ms) - t )) ms"
[ "$(survey_field keep pid)" = "$keep1" ] && [ "$(task_pid "$CTD_NS-keep")" = "$keep1" ] &&
    [ "$(survey_field keep restarts)" = 0 ] &&
    ok "unchanged 'keep' adopted: same task pid $keep1" ||
    bad "keep: survey pid $(survey_field keep pid), task $(task_pid "$CTD_NS-keep"), was $keep1"
grep -q "adopted running container $CTD_NS-keep" "$ORCH_STATE_DIR/orchd.log" ||
    bad "the daemon log does not say it adopted keep"
change2=$(task_pid "$CTD_NS-change")
v=$($CTD_CTR tasks exec --exec-id v "$CTD_NS-change" cat /tmp/v 2>&1)
[ -n "$change2" ] && [ "$change2" != "$change1" ] && [ "$v" = two ] &&
    ok "changed 'change' recreated: pid $change1 -> $change2, sees V=two" ||
    bad "change: pid $change1 -> $change2, V '$v'"
kill -0 "$change1" 2>/dev/null && bad "the old 'change' process $change1 still runs"
wait_cond 10 '[ -z "$($CTD_CTR containers ls -q | grep -x "$CTD_NS-gone")" ]'
[ -z "$($CTD_CTR containers ls -q | grep -x "$CTD_NS-gone")" ] && ! kill -0 "$gone1" 2>/dev/null &&
    ok "'gone' (not in the Orchfile any more) removed after the grace period" ||
    bad "gone still there: $($CTD_CTR containers ls -q)"

# ---- containerd restarts under running containers
cat >>"$PROJ/Orchfile" <<'EOF'

SERVICE later
FROM localhost/orchd-test:latest
CMD sh -c "trap '' TERM; sleep 4; exit 5"
EOF
o grow -f "$PROJ/Orchfile" || bad "grow later"
wait_cond 5 '[ -n "$(task_pid "$CTD_NS-later")" ]'
cpid=$(cat "$CTD_DIR/containerd.pid")
kill "$cpid"
wait_cond 20 '! kill -0 "$cpid"' || bad "containerd did not stop"
log "containerd $cpid stopped"
sleep 0.5
"$SRC/scripts/containerd-start.sh" "$CTD_DIR" >/dev/null || bad "containerd did not restart"
log "containerd restarted ($(cat "$CTD_DIR/containerd.pid"))"
[ "$(task_pid "$CTD_NS-keep")" = "$keep1" ] && ok "keep's task survived the restart" ||
    bad "keep after the restart: $(task_pid "$CTD_NS-keep")"
wait_cond 15 'state_is later failed'
[ "$(survey_field later exit_code)" = 5 ] &&
    ok "an exit after containerd's restart reached the supervisor (exit code 5)" ||
    bad "later: state $(survey_field later state), exit_code $(survey_field later exit_code), error $(survey_field later error)"
[ "$(survey_field keep state)" = running ] && [ "$(survey_field keep pid)" = "$keep1" ] ||
    bad "keep is $(survey_field keep state) after the restart"
# the re-attached Wait still sees keep's exit: fell works as before
t=$(now_ms)
o fell || bad "fell failed"
log "fell: $(( $(now_ms) - t )) ms"
kill -0 "$keep1" 2>/dev/null && bad "keep's process $keep1 survived fell"
assert_clean "after fell"
wait_cond 5 '[ "$(live_shims)" = 0 ]'
[ "$(live_shims)" = 0 ] && ok "no shim of ours runs" || bad "$(live_shims) shims still run"
finish
