#!/bin/bash
# Helper commands of container services run inside the container
# (runtimes/containerd/exec.c: Tasks.Exec): a HEALTHCHECK that tests a file
# only the image has makes the service ready, one that needs a tool only
# the host has does not (survey shows the probe's exit code); STOP and RELOAD
# run inside (the image's marker file, the container's hostname, WORKDIR
# and ENV, output in the service's log, no side effect on the
# host); a hanging HEALTHCHECK is killed at the 10 s timeout while the
# service keeps running; every finished exec process is deleted from the
# shim; a service named web--api shows in survey under the container id ctr
# lists; nothing is left after fell.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
[ -e /only-in-image ] && ctd_skip "the host has /only-in-image: the test could not tell inside from outside"
CTD_NS=exec$$
ctd_setup
orchd_setup
log "containerd at $CTD_SOCK (snapshotter $ORCH_SNAPSHOTTER), namespace $CTD_NS"

HOST_MARK=/tmp/orchd-exec-test-$$.host
rm -f "$HOST_MARK"
CTD_CLEANUP_EXTRA="orchd_teardown; rm -f '$HOST_MARK'"

cat >"$PROJ/Orchfile" <<EOF
SERVICE hcok
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
HEALTHCHECK test -f /only-in-image

SERVICE hchost
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
HEALTHCHECK /usr/bin/python3 -c 1
READINESS_TIMEOUT 3s
RESTART no

# STOP asks with USR1 (SIGTERM is ignored): only the STOP command can stop
# it before TIMEOUT_STOP
SERVICE cmds
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' USR1; trap '' TERM; sleep 600 & wait"
WORKDIR /home/app
ENV FOO=bar
VOLUME cmdvol:/v
TIMEOUT_STOP 20s
STOP sh -c 'cat /only-in-image > /v/stop.txt; hostname >> /v/stop.txt; id -u >> /v/stop.txt; kill -USR1 1'
RELOAD echo "reload: \$(cat /only-in-image) host=\$(hostname) uid=\$(id -u) cwd=\$(pwd) foo=\$FOO"; echo reload-stderr >&2; touch $HOST_MARK

SERVICE web--api
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"

SERVICE hang
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
HEALTHCHECK sleep 60
READINESS_TIMEOUT 120s
DISABLED true
EOF

t=$(now_ms)
o grow -f "$PROJ/Orchfile" >"$CTD_DIR/grow.out" 2>&1 # hchost fails: rc 1
cat "$CTD_DIR/grow.out"
log "grow (hchost fails after READINESS_TIMEOUT 3s): $(( $(now_ms) - t )) ms"

# ---- 4 (started first, it takes 10 s): a hanging HEALTHCHECK is killed
o grow -f "$PROJ/Orchfile" hang >/dev/null 2>&1 &
hang_grow=$!
CTD_CLEANUP_EXTRA="kill $hang_grow 2>/dev/null; $CTD_CLEANUP_EXTRA"
hang_t0=$(now_ms)

# ---- 1: a check that needs a file only the image has
state_is hcok ready && ok "hcok: HEALTHCHECK test -f /only-in-image passes inside: ready" ||
    bad "hcok is $(survey_field hcok state) ($(survey_field hcok error))"

# ---- 2: a check that needs a tool only the host has
e=$(survey_field hchost error)
if state_is hchost failed && grep -q "healthcheck exited with code 127" <<<"$e"; then
    ok "hchost: /usr/bin/python3 is not in the image: failed, survey says '$e'"
else
    bad "hchost is $(survey_field hchost state), error '$e'"
fi

# ---- finished exec processes are deleted (their pid files in the bundle go)
bundle=$CTD_DIR/state/io.containerd.runtime.v2.task/$CTD_NS/$CTD_NS-hcok
sleep 2.5 # one more probe (every 2 s once ready)
if [ -d "$bundle" ] && wait_cond 5 '[ -z "$(ls "$bundle" | grep "^orchd-exec-.*\.pid$")" ]'; then
    ok "hcok: no exec process left in the shim between probes"
else
    bad "hcok's bundle holds exec pid files: $(ls "$bundle" 2>&1 | tr '\n' ' ')"
fi

# ---- 5: web--api under the id ctr lists
cid=$(survey_field web--api container)
lid=$($CTD_CTR containers ls -q 2>/dev/null | while read -r c; do
    $CTD_CTR containers info "$c" 2>/dev/null | grep -q '"orchd.service": "web--api"' && echo "$c"
done)
if [ -n "$cid" ] && [ "$cid" = "$lid" ] && [ "${cid#orchd-}" != "$cid" ]; then
    ok "web--api: survey's container $cid is the id ctr containers ls lists"
else
    bad "web--api: survey says '$cid', ctr lists '$lid'"
fi
[ "$(survey_field web--api pid)" = "$(task_pid "$cid")" ] ||
    bad "web--api: survey pid $(survey_field web--api pid), task pid $(task_pid "$cid")"

# ---- 3: RELOAD inside: output in the service's log, no side effect on the host
o reload cmds || bad "reload cmds failed"
want="reload: inside the orchd test image host=cmds uid=0 cwd=/home/app foo=bar"
if wait_cond 5 'o logs cmds 2>/dev/null | grep -qxF "$want"'; then
    ok "RELOAD ran inside (marker file, hostname, WORKDIR, ENV) and its stdout is in the log"
else
    bad "RELOAD output not in the log: '$(o logs cmds 2>&1 | tail -n 3)'"
fi
# stderr has its own pipe: it may reach the log after stdout
wait_cond 5 'o logs cmds 2>/dev/null | grep -qx reload-stderr' && ok "RELOAD's stderr is in the log too" ||
    bad "RELOAD's stderr is not in the log"
[ -e "$HOST_MARK" ] && bad "RELOAD touched $HOST_MARK on the host" ||
    ok "RELOAD's touch $HOST_MARK stayed inside the container"
[ -z "$(survey_field cmds error | grep -v '^null$')" ] || bad "cmds error: $(survey_field cmds error)"

# ---- 3: STOP inside: it writes the proof into the named volume and stops it
t=$(now_ms)
o fell cmds >/dev/null 2>&1 || bad "fell cmds failed"
stop_ms=$(( $(now_ms) - t ))
proof=$(tr '\n' '|' <"$ORCH_DATA/volumes/cmdvol/stop.txt" 2>/dev/null)
[ "$proof" = "inside the orchd test image|cmds|0|" ] &&
    ok "STOP ran inside (marker file and hostname cmds in the named volume)" ||
    bad "STOP's proof: '$proof'"
[ "$stop_ms" -lt 10000 ] && state_is cmds stopped &&
    ok "STOP's kill -USR1 1 stopped cmds in $stop_ms ms (TIMEOUT_STOP 20s, SIGTERM ignored)" ||
    bad "cmds: stop took $stop_ms ms, state $(survey_field cmds state)"

# ---- 4: the hanging check: its sleep is killed at 10 s, the service still runs
hcid=$CTD_NS-hang
sleep_pid=""
wait_cond 10 '[ -n "$(task_pid "$hcid")" ]'
# the probe's process: the task's pid (ctr tasks ps) running "sleep 60"
probe_pid() {
    local p
    for p in $($CTD_CTR tasks ps "$hcid" 2>/dev/null | awk 'NR > 1 { print $1 }'); do
        [ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" = "sleep 60 " ] && echo "$p"
    done
}
wait_cond 5 'sleep_pid=$(probe_pid); [ -n "$sleep_pid" ]'
if [ -z "$sleep_pid" ]; then
    bad "hang: no exec process seen in ctr tasks ps: $($CTD_CTR tasks ps "$hcid" 2>&1)"
else
    log "hang: probe process $sleep_pid (sleep 60), $(( $(now_ms) - hang_t0 )) ms after grow"
    if wait_cond 14 '! kill -0 "$sleep_pid"'; then
        gone_ms=$(( $(now_ms) - hang_t0 ))
        st=$(survey_field hang state)
        if [ "$st" = running ] && ! $CTD_CTR tasks ps "$hcid" 2>/dev/null | awk '{print $1}' | grep -qx "$sleep_pid"; then
            ok "hang: the probe's sleep 60 was killed ~${gone_ms} ms after the start (10 s timeout), service still $st, ctr no longer lists it"
        else
            bad "hang: probe gone but state $st / ctr still lists $sleep_pid"
        fi
        [ "$gone_ms" -ge 9000 ] || bad "hang: the probe died after $gone_ms ms, before the timeout"
    else
        bad "hang: the probe's sleep $sleep_pid still runs after 14 s"
    fi
fi
o fell hang >/dev/null 2>&1 || bad "fell hang failed"
wait "$hang_grow" 2>/dev/null

# ---- 6: nothing left
t=$(now_ms)
o fell || bad "fell failed"
log "fell: $(( $(now_ms) - t )) ms"
assert_clean "after fell"
wait_cond 5 '[ "$(live_shims)" = 0 ]'
[ "$(live_shims)" = 0 ] && ok "no shim of ours runs" || bad "$(live_shims) shims still run"
[ -e "$HOST_MARK" ] && bad "$HOST_MARK exists on the host"
finish
