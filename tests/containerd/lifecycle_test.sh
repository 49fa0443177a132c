#!/bin/bash
# The container lifecycle through the real orchd binary and a private
# containerd (issue 5): a container runs and its exit code reaches the
# supervisor; env, ENV_FILE and volumes seen inside; MEMORY/CPUS/TASKS_MAX in
# the task's cgroup (CPUS 0.5 with CPU_QUOTA 150%: the stricter, 50000 us, the
# rule of every runtime) and LIMIT_NOFILE/LIMIT_NPROC in /proc/PID/limits;
# STDOUT/STDERR in separate files (the log relay) and the default log; a
# oneshot runs once and is cleaned up; a crash loop restarts under RESTART
# on-failure until fell stops it; a SIGTERM-deaf container is killed after
# TIMEOUT_STOP; after fell nothing is left in containerd and no shim runs.
# Asserted from outside: ctr, /proc and the cgroup files.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
CTD_NS=life$$
ctd_setup
orchd_setup
log "containerd at $CTD_SOCK (snapshotter $ORCH_SNAPSHOTTER), namespace $CTD_NS"

mkdir -p "$PROJ/vol"
printf '# env file\nFROMFILE=from-env-file\nexport SHARED="file value"\n' >"$PROJ/app.env"
cat >"$PROJ/Orchfile" <<'EOF'
SERVICE app
FROM localhost/orchd-test:latest
CMD sh -c "echo \"$GREETING $FROMFILE\" > /data/env.txt; echo to-stdout; echo to-stderr >&2; trap 'exit 0' TERM; sleep 600 & wait"
ENV GREETING=hello
ENV SHARED=env-wins
ENV_FILE app.env
VOLUME ./vol:/data
VOLUME named-vol:/named
STDOUT ${ORCH_STATE_DIR}/app.out
STDERR ${ORCH_STATE_DIR}/app.err
MEMORY 64M
CPUS 0.5
CPU_QUOTA 150%
TASKS_MAX 32
LIMIT_NOFILE 4096
LIMIT_NPROC 512

SERVICE deflog
FROM localhost/orchd-test:latest
CMD sh -c "echo default-out; echo default-err >&2; trap 'exit 0' TERM; sleep 600 & wait"

# grown by name below
SERVICE code
FROM localhost/orchd-test:latest
CMD sh -c "exit 7"
DISABLED true

SERVICE killed
FROM localhost/orchd-test:latest
CMD sleep 600
DISABLED true

SERVICE once
FROM localhost/orchd-test:latest
CMD sh -c "echo ran >> /data/once.log"
VOLUME ./vol:/data
ONESHOT true
DISABLED true

SERVICE crash
FROM localhost/orchd-test:latest
CMD sh -c "echo x >> /data/crash.log; sleep 0.2; exit 1"
VOLUME ./vol:/data
RESTART on-failure
RESTART_DELAY 0s
START_LIMIT_BURST 0
DISABLED true

# sleep as PID 1 of its pid namespace ignores SIGTERM
SERVICE deaf
FROM localhost/orchd-test:latest
CMD sleep 600
TIMEOUT_STOP 2s
DISABLED true
EOF

t=$(now_ms)
o grow -f "$PROJ/Orchfile" || bad "grow failed"
log "grow of 2 containers (daemon start and module load included): $(( $(now_ms) - t )) ms"

# ---- it runs: the pid the supervisor reports is containerd's task
pid=$(survey_field app pid)
tpid=$(task_pid "$CTD_NS-app")
if [ "$(survey_field app state)" = running ] && [ -n "$tpid" ] && [ "$pid" = "$tpid" ]; then
    ok "app runs as container $CTD_NS-app, task pid $tpid = survey pid"
else
    bad "app: state $(survey_field app state), survey pid $pid, task pid '$tpid'"
fi
[ "$(survey_field app container)" = "$CTD_NS-app" ] && ok "survey names the container $CTD_NS-app" ||
    bad "survey's container field is '$(survey_field app container)'"
info=$($CTD_CTR containers info "$CTD_NS-app" 2>&1)
for l in "\"orchd.namespace\": \"$CTD_NS\"" '"orchd.service": "app"' '"orchd.spec-hash": "'; do
    grep -qF "$l" <<<"$info" || bad "container labels lack $l"
done
grep -q '"Runtime": {' <<<"$info" && grep -q 'io.containerd.runc.v2' <<<"$info" ||
    bad "container runtime is not io.containerd.runc.v2"

# ---- env, env file, volumes
wait_for 5 test -s "$PROJ/vol/env.txt"
[ "$(cat "$PROJ/vol/env.txt" 2>/dev/null)" = "hello from-env-file" ] &&
    ok "ENV and ENV_FILE reached the container (through the bind volume)" ||
    bad "env.txt: '$(cat "$PROJ/vol/env.txt" 2>/dev/null)'"
inside=$($CTD_CTR tasks exec --exec-id t1 "$CTD_NS-app" sh -c 'echo "$SHARED|$FROMFILE|$PATH"' 2>&1)
[ "$inside" = "env-wins|from-env-file|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" ] &&
    ok "ctr tasks exec sees ENV over ENV_FILE over the image's env" || bad "exec env: '$inside'"
[ -d "$ORCH_DATA/volumes/named-vol" ] && ok "named volume created under ORCH_DATA/volumes" ||
    bad "named volume dir missing"
$CTD_CTR tasks exec --exec-id t2 "$CTD_NS-app" sh -c 'echo inside > /named/f' >/dev/null 2>&1
[ "$(cat "$ORCH_DATA/volumes/named-vol/f" 2>/dev/null)" = inside ] &&
    ok "a write inside the named volume shows on the host" || bad "named volume write not seen"

# ---- limits: cgroup files and /proc/PID/limits
if [ -n "$tpid" ]; then
    mem=$(cgroup_dir "$tpid" memory)
    cpu=$(cgroup_dir "$tpid" cpu)
    pids=$(cgroup_dir "$tpid" pids)
    if [ -f "$mem/memory.limit_in_bytes" ]; then
        [ "$(cat "$mem/memory.limit_in_bytes")" = 67108864 ] && ok "memory.limit_in_bytes 64M ($mem)" ||
            bad "memory.limit_in_bytes = $(cat "$mem/memory.limit_in_bytes")"
        [ "$(cat "$cpu/cpu.cfs_quota_us")" = 50000 ] && [ "$(cat "$cpu/cpu.cfs_period_us")" = 100000 ] &&
            ok "cpu.cfs_quota_us 50000 / period 100000 (CPUS 0.5 stricter than CPU_QUOTA 150%)" || bad "cpu quota $(cat "$cpu/cpu.cfs_quota_us")"
        [ "$(cat "$pids/pids.max")" = 32 ] && ok "pids.max 32" || bad "pids.max = $(cat "$pids/pids.max")"
    else
        [ "$(cat "$mem/memory.max")" = 67108864 ] && ok "memory.max 64M" || bad "memory.max"
        [ "$(cat "$mem/cpu.max")" = "50000 100000" ] && ok "cpu.max (CPUS 0.5 stricter than CPU_QUOTA 150%)" || bad "cpu.max = $(cat "$mem/cpu.max")"
        [ "$(cat "$mem/pids.max")" = 32 ] && ok "pids.max 32" || bad "pids.max"
    fi
    lim=$(cat "/proc/$tpid/limits")
    grep -Eq '^Max open files +4096 +4096' <<<"$lim" && ok "nofile 4096 in /proc/$tpid/limits" ||
        bad "nofile: $(grep 'open files' <<<"$lim")"
    grep -Eq '^Max processes +512 +512' <<<"$lim" && ok "nproc 512 in /proc/$tpid/limits" ||
        bad "nproc: $(grep 'Max processes' <<<"$lim")"
fi

# ---- output: STDOUT/STDERR apart (binary:// log relay), the default log (file://)
wait_for 5 grep -q to-stderr "$ORCH_STATE_DIR/app.err"
if grep -q to-stdout "$ORCH_STATE_DIR/app.out" && grep -q to-stderr "$ORCH_STATE_DIR/app.err" &&
    ! grep -q to-stderr "$ORCH_STATE_DIR/app.out" && ! grep -q to-stdout "$ORCH_STATE_DIR/app.err"; then
    ok "STDOUT and STDERR went to their own files"
else
    bad "app.out: '$(cat "$ORCH_STATE_DIR/app.out" 2>&1)' app.err: '$(cat "$ORCH_STATE_DIR/app.err" 2>&1)'"
fi
deflog="$ORCH_STATE_DIR/logs/$CTD_NS.deflog.log"
wait_for 5 grep -q default-err "$deflog"
grep -q default-out "$deflog" && grep -q default-err "$deflog" &&
    ok "both streams in the default log $deflog" || bad "default log: '$(cat "$deflog" 2>&1)'"
[ "$(o logs deflog 2>/dev/null | grep -c default-)" = 2 ] && ok "orchd logs shows them" ||
    bad "orchd logs deflog: '$(o logs deflog 2>&1)'"

# ---- the exit code reaches the supervisor; a oneshot runs once
o grow -f "$PROJ/Orchfile" code once killed >/dev/null 2>&1
wait_cond 5 '[ -n "$(task_pid "$CTD_NS-killed")" ]'
kpid=$(task_pid "$CTD_NS-killed")
[ -n "$kpid" ] && kill -9 "$kpid"
wait_for 10 state_is code failed
[ "$(survey_field code exit_code)" = 7 ] && ok "exit code 7 reached the supervisor (survey exit_code)" ||
    bad "code: state $(survey_field code state) exit_code $(survey_field code exit_code) error $(survey_field code error)"
wait_for 10 state_is killed failed
case "$(survey_field killed error)" in
*SIGKILL*) ok "a death by signal shows as such: $(survey_field killed error)" ;;
*) bad "killed: $(survey_field killed error)" ;;
esac
wait_for 10 state_is once exited
[ "$(survey_field once exit_code)" = 0 ] && ok "oneshot exited 0" || bad "once: $(survey_field once state)"
sleep 1
[ "$(grep -c ran "$PROJ/vol/once.log" 2>/dev/null)" = 1 ] && ok "the oneshot ran once" ||
    bad "once.log has $(grep -c ran "$PROJ/vol/once.log" 2>/dev/null) lines"
wait_cond 5 '! $CTD_CTR containers ls -q | grep -qE "^$CTD_NS-(once|code|killed)\$"' 
left=$($CTD_CTR containers ls -q | grep -E "^$CTD_NS-(once|code|killed)$")
[ -z "$left" ] && ok "finished containers were deleted (task, container, snapshot)" ||
    bad "left after exit: $left"

# ---- a crash loop restarts under RESTART on-failure; fell stops it
o grow -f "$PROJ/Orchfile" crash >/dev/null 2>&1
wait_cond 20 '[ "$(wc -l <"$PROJ/vol/crash.log")" -ge 4 ]' 
r=$(survey_field crash restarts)
[ "${r:-0}" -ge 3 ] 2>/dev/null && ok "crash loop: $r restarts, $(wc -l <"$PROJ/vol/crash.log") runs" ||
    bad "crash: restarts '$r', runs $(wc -l <"$PROJ/vol/crash.log" 2>/dev/null)"
o fell crash || bad "fell crash failed"
n1=$(wc -l <"$PROJ/vol/crash.log")
sleep 1.5
n2=$(wc -l <"$PROJ/vol/crash.log")
[ "$n1" = "$n2" ] && [ "$(survey_field crash state)" = stopped ] &&
    ok "fell stopped the loop (no run after it, state stopped)" || bad "after fell: $n1 -> $n2 runs, state $(survey_field crash state)"
[ -z "$($CTD_CTR containers ls -q | grep -x "$CTD_NS-crash")" ] || bad "crash container left"

# ---- SIGTERM-deaf (sleep as PID 1 of its pid namespace ignores SIGTERM)
o grow -f "$PROJ/Orchfile" deaf >/dev/null 2>&1 || bad "grow deaf"
dpid=$(task_pid "$CTD_NS-deaf")
t=$(now_ms)
o fell deaf || bad "fell deaf failed"
dt=$(( $(now_ms) - t ))
if [ $dt -ge 1900 ] && [ $dt -lt 8000 ] && ! kill -0 "$dpid" 2>/dev/null; then
    ok "SIGTERM-deaf container killed after TIMEOUT_STOP 2s (fell took $dt ms)"
else
    bad "deaf: fell took $dt ms; pid $dpid alive: $(kill -0 "$dpid" 2>/dev/null && echo yes || echo no)"
fi
[ -z "$($CTD_CTR containers ls -q | grep -x "$CTD_NS-deaf")" ] || bad "deaf container left"

# ---- fell everything: nothing left
t=$(now_ms)
o fell || bad "fell failed"
log "fell of app and deflog: $(( $(now_ms) - t )) ms"
assert_clean "after fell"
wait_cond 5 '[ "$(pgrep -fc "$ORCH_STATE_DIR/orchd-log-relay")" = 0 ]' || bad "a log relay still runs"
wait_cond 5 '[ "$(live_shims)" = 0 ]'
[ "$(live_shims)" = 0 ] && ok "no shim of ours runs" || bad "$(live_shims) shims still run"
finish
