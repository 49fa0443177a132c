#!/bin/bash
# Containers: the log relay stamps and rotates a container's own log
# without losing or repeating a line (a container printing 30,000 numbered
# lines as fast as it can, rotation at 32 KiB), `orchd logs` reads across
# the files, and survey's usage numbers (memory against MEMORY, pids
# against TASKS_MAX, CPU time) match the container's cgroup files
# (/orchd/<ns>/<service> below each hierarchy's root).
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
CTD_NS=logu$$
ctd_setup
orchd_setup
CTD_CLEANUP_EXTRA='orchd_teardown'
export ORCH_LOG_MAX_SIZE=32K ORCH_LOG_KEEP=1000
N=30000
cat >"$PROJ/Orchfile" <<ORCHFILE
SERVICE counter
FROM localhost/orchd-test:latest
CMD sh -c 'seq 1 $N; echo end-of-numbers; sleep 1000 & sleep 1000 & wait'
MEMORY 80M
TASKS_MAX 30
ORCHFILE
o grow -f "$PROJ/Orchfile" || bad "grow"
log="$ORCH_STATE_DIR/logs/$CTD_NS.counter.log"
wait_cond 60 'grep -q end-of-numbers "$log"' && ok "the container wrote its numbers" || bad "no end-of-numbers"
files=$(ls "$log".* 2>/dev/null | wc -l)
[ "$files" -ge 10 ] && ok "$files rotated files" || bad "only $files rotated files"
all="$CTD_DIR/all.txt"
: >"$all"
for k in $(seq "$files" -1 1); do cat "$log.$k" >>"$all"; done
cat "$log" >>"$all"
nostamp=$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{15}Z ' "$all")
[ "$nostamp" = 0 ] && ok "every line stamped" || bad "$nostamp lines without a stamp"
sed 's/^[^ ]* //' "$all" | grep -E '^[0-9]+$' >"$CTD_DIR/nums.txt"
seq 1 $N | cmp -s - "$CTD_DIR/nums.txt" && ok "each of $N numbers exactly once, in order" ||
    bad "numbers: $(wc -l <"$CTD_DIR/nums.txt") lines, $(sort -n "$CTD_DIR/nums.txt" | uniq -d | wc -l) repeated"
o logs -n 2 counter | grep -qx end-of-numbers && ok "orchd logs reads it" || bad "orchd logs: $(o logs -n 2 counter)"

# usage against the cgroup files
cgf() { # FILE: in the v2 hierarchy, else in the controller's v1 one
    local rel="/orchd/$CTD_NS/counter"
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then cat "/sys/fs/cgroup$rel/$1"
    else cat "/sys/fs/cgroup/${1%%.*}$rel/$1"; fi
}
info() { o survey --json | python3 -c "import json,sys; s={x['service']:x for x in json.load(sys.stdin)}; print(s['counter']['runtime_info'].get('$1','absent'))"; }
mm=$(cgf memory.max 2>/dev/null || cgf memory.limit_in_bytes)
[ "$mm" = $((80 << 20)) ] && [ "$(info memory_max)" = "$mm" ] && ok "memory_max $mm" ||
    bad "memory_max: survey $(info memory_max), cgroup $mm"
[ "$(info pids_max)" = 30 ] && [ "$(cgf pids.max)" = 30 ] && ok "pids_max 30" ||
    bad "pids_max: survey $(info pids_max), cgroup $(cgf pids.max)"
[ "$(info pids)" = "$(cgf pids.current)" ] && ok "pids $(info pids)" ||
    bad "pids: survey $(info pids), cgroup $(cgf pids.current)"
m=$(info memory)
c=$(cgf memory.current 2>/dev/null || cgf memory.usage_in_bytes)
[ "$m" -gt 0 ] && [ "$m" -le $((c * 2)) ] && [ "$m" -ge $((c / 2)) ] && ok "memory $m (cgroup $c)" ||
    bad "memory: survey $m, cgroup $c"
cpu=$(info cpu_usec)
[ "$cpu" != absent ] && [ "$cpu" -gt 0 ] && ok "cpu_usec $cpu" || bad "cpu_usec $cpu"
o survey | grep -E '^counter .*/80M .* [0-9]+/30 ' >/dev/null && ok "the table shows them" ||
    bad "table: $(o survey)"
o fell >/dev/null || bad "fell"
assert_clean "after the last fell"
finish
