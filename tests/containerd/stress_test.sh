#!/bin/bash
# Many containers, many times (issue 5): ten containers up at once on one
# channel; 20 grow/fell cycles after each of which containerd holds no task,
# container or snapshot of ours; no shim of ours left at the end. Prints the
# latencies (not asserted: bench/ territory): grow-to-running of one
# container, of 20 at once, and their teardown.
# Environment: ORCHD (ctest), SRC; CYCLES (default 20).
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
CTD_NS=stress$$
CYCLES=${CYCLES:-20}
ctd_setup
orchd_setup
log "containerd at $CTD_SOCK, namespace $CTD_NS"

svc() { # name
    printf 'SERVICE %s\nFROM localhost/orchd-test:latest\nCMD sh -c "trap '"'"'exit 0'"'"' TERM; sleep 600 & wait"\nDISABLED true\n\n' "$1"
}
{
    for i in $(seq 1 20); do svc "c$i"; done
    svc solo
} >"$PROJ/Orchfile"
names() { local i; for i in $(seq 1 "$1"); do echo "c$i"; done; }

running_tasks() { $CTD_CTR tasks ls 2>/dev/null | awk '$3 == "RUNNING"' | wc -l; }

# ---- ten at once
t=$(now_ms)
# shellcheck disable=SC2046
o grow -f "$PROJ/Orchfile" $(names 10) || bad "grow of ten failed"
dt=$(( $(now_ms) - t ))
n=$(running_tasks)
[ "$n" = 10 ] && ok "ten containers up at once ($dt ms, daemon start included)" || bad "$n of 10 running"
up=0
for i in $(seq 1 10); do [ "$(survey_field "c$i" state)" = running ] && up=$((up + 1)); done
[ $up = 10 ] || bad "survey shows $up of 10 running"
t=$(now_ms)
o fell || bad "fell of ten failed"
log "fell of ten: $(( $(now_ms) - t )) ms"
assert_clean "after fell of ten"

# ---- grow/fell cycles
for c in $(seq 1 "$CYCLES"); do
    # shellcheck disable=SC2046
    o grow -f "$PROJ/Orchfile" $(names 3) >/dev/null 2>&1 || bad "cycle $c: grow failed"
    n=$(running_tasks)
    [ "$n" = 3 ] || bad "cycle $c: $n of 3 running"
    o fell >/dev/null 2>&1 || bad "cycle $c: fell failed"
    c_=$($CTD_CTR containers ls -q)
    t_=$($CTD_CTR tasks ls -q)
    s_=$($CTD_CTR snapshots --snapshotter "$ORCH_SNAPSHOTTER" ls | awk 'NR > 1 && $NF != "Committed"')
    if [ -n "$c_$t_$s_" ]; then
        bad "cycle $c: left containers [$c_] tasks [$t_] snapshots [$s_]"
        break
    fi
done
[ $fail = 0 ] && ok "$CYCLES grow/fell cycles of 3 containers: nothing left after any of them"
assert_clean "after the cycles"

# ---- latencies (the daemon is up: grow is the container's start only)
o grow -f "$PROJ/Orchfile" solo >/dev/null 2>&1 && o fell solo >/dev/null 2>&1
sum=0
for _ in 1 2 3 4 5; do
    t=$(now_ms)
    o grow -f "$PROJ/Orchfile" solo >/dev/null 2>&1 || bad "grow solo"
    g=$(( $(now_ms) - t ))
    t=$(now_ms)
    o fell solo >/dev/null 2>&1 || bad "fell solo"
    f=$(( $(now_ms) - t ))
    sum=$((sum + g))
    log "one container: grow-to-running $g ms, fell $f ms"
done
log "one container: mean grow-to-running $((sum / 5)) ms"
t=$(now_ms)
# shellcheck disable=SC2046
o grow -f "$PROJ/Orchfile" $(names 20) >/dev/null 2>&1 || bad "grow of 20 failed"
g=$(( $(now_ms) - t ))
n=$(running_tasks)
[ "$n" = 20 ] || bad "$n of 20 running"
d=$(daemon_pid)
rss=$(awk '/VmRSS/ {print $2 " " $3}' "/proc/$d/status")
t=$(now_ms)
o fell >/dev/null 2>&1 || bad "fell of 20"
log "20 containers: grow-to-running $g ms, fell $(( $(now_ms) - t )) ms, daemon RSS with 20 running: $rss"
assert_clean "at the end"
wait_cond 5 '[ "$(live_shims)" = 0 ]'
[ "$(live_shims)" = 0 ] && ok "no shim of ours runs" || bad "$(live_shims) shims still run"
finish
