# shellcheck shell=bash
# Shared by the container lifecycle tests (sourced after lib.sh): the real
# orchd binary against the private containerd of ctd_setup, in namespace
# CTD_NS, asserting from outside with ctr and the kernel's files.
#
#   . "$SRC/tests/containerd/lib.sh"
#   . "$SRC/tests/containerd/orchd_lib.sh"
#   ctd_require; orchd_require; ctd_setup; orchd_setup
#   o grow -f "$PROJ/Orchfile"        # orchd with this test's settings
#
# Everything the test started (the daemon, containers, shims, containerd) is
# gone when it exits, whatever happens: the EXIT trap of ctd_setup runs
# orchd_teardown first (CTD_CLEANUP_EXTRA).

ORCHD=${ORCHD:-}
T0=$(date +%s%N)

orchd_require() {
    [ -n "$ORCHD" ] && [ -x "$ORCHD" ] || { echo "FAIL: ORCHD is not set"; exit 1; }
}

log() { echo "[$(( ($(date +%s%N) - T0) / 1000000 )) ms] $*"; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }
ok() { echo "ok: $*"; }

orchd_setup() {
    PROJ=$CTD_DIR/proj
    mkdir -p "$PROJ"
    export ORCH_STATE_DIR=$CTD_DIR/st ORCH_DATA=$CTD_DIR/data ORCH_PROJECT=$PROJ
    export ORCH_NAMESPACE=$CTD_NS ORCH_CONTAINERD_SOCKET=$CTD_SOCK
    ORCH_SNAPSHOTTER=$(cat "$CTD_DIR/snapshotter")
    export ORCH_SNAPSHOTTER
    unset ORCH_ORCHFILE ORCH_OVERLAYS ORCH_RUNTIME
    # shellcheck disable=SC2034 # read by ctd_cleanup (lib.sh)
    CTD_CLEANUP_EXTRA=orchd_teardown
}

o() { "$ORCHD" "$@"; }

# The pid in orchd.lock, only while it is a live daemon of this state dir:
# the file is empty while a daemon starts (truncated, then written) and
# names a dead daemon's pid, maybe reused by now, after it left.
daemon_pid() {
    local d
    d=$(cat "$ORCH_STATE_DIR/orchd.lock" 2>/dev/null) || return 0
    case "$d" in '' | *[!0-9]*) return 0 ;; esac
    case "$(tr '\0' ' ' <"/proc/$d/cmdline" 2>/dev/null)" in
    "orchd daemon --state-dir $ORCH_STATE_DIR "*) echo "$d" ;;
    esac
}

# Stops the daemon (fell), or kills it if that does not work.
orchd_teardown() {
    local pid
    pid=$(daemon_pid)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        timeout 60 "$ORCHD" fell >/dev/null 2>&1
        kill -0 "$pid" 2>/dev/null && { kill -9 "$pid" 2>/dev/null; sleep 0.2; }
    fi
    # runc removes a container's cgroup, not the parents it created
    # (/orchd/<namespace>): drop ours when empty.
    local d
    for d in /sys/fs/cgroup/*/orchd/"$CTD_NS" /sys/fs/cgroup/orchd/"$CTD_NS"; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
    if [ "${fail:-0}" != 0 ] && [ -f "$ORCH_STATE_DIR/orchd.log" ]; then
        echo "--- orchd.log:" >&2
        tail -n 40 "$ORCH_STATE_DIR/orchd.log" >&2
    fi
    return 0
}

# survey_field SERVICE FIELD: one field of `orchd survey --json`.
survey_field() {
    o survey --json 2>/dev/null | python3 -c '
import json, sys
svc, field = sys.argv[1], sys.argv[2]
for s in json.load(sys.stdin):
    if s["service"] == svc:
        v = s.get(field)
        print("null" if v is None else v)
' "$1" "$2"
}

# wait_for TIMEOUT_S CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
    local t=$1 i=0
    shift
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -ge $((t * 10)) ] && return 1
        sleep 0.1
    done
}

# wait_cond TIMEOUT_S 'shell condition': polls it (eval'ed here, so the
# functions above work in it) every 0.1 s.
wait_cond() {
    local i=0
    while ! eval "$2" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -ge $(($1 * 10)) ] && return 1
        sleep 0.1
    done
}

state_is() { [ "$(survey_field "$1" state)" = "$2" ]; }

task_pid() { $CTD_CTR tasks ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }

# The cgroup v1 (or v2) directory of a controller for a pid.
cgroup_dir() {
    local pid=$1 ctl=$2 line path
    line=$(grep -E "^[0-9]+:([^:]*,)?$ctl(,[^:]*)?:" "/proc/$pid/cgroup" | head -1)
    if [ -n "$line" ]; then
        path=${line#*:*:}
        echo "/sys/fs/cgroup/$ctl$path"
    else
        path=$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup")
        echo "/sys/fs/cgroup$path"
    fi
}

# Nothing of ours left in containerd: no container, task or snapshot other
# than the image's committed layers, no lease.
assert_clean() {
    local what=$1 c t s l
    c=$($CTD_CTR containers ls -q 2>&1)
    t=$($CTD_CTR tasks ls -q 2>&1)
    s=$($CTD_CTR snapshots --snapshotter "$ORCH_SNAPSHOTTER" ls 2>&1 | awk 'NR > 1 && $NF != "Committed"')
    l=$($CTD_CTR leases ls -q 2>&1)
    if [ -n "$c$t$s$l" ]; then
        bad "$what: containerd still holds: containers [$c] tasks [$t] snapshots [$s] leases [$l]"
        return 1
    fi
    ok "$what: no container, task, active snapshot or lease left in namespace $CTD_NS"
}

# Live (non-zombie) shims of this test's containerd.
live_shims() {
    local p n=0
    for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $CTD_SOCK" 2>/dev/null); do
        [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] && continue
        [ -e "/proc/$p" ] && n=$((n + 1))
    done
    echo $n
}

# Milliseconds since T0 (for timings).
now_ms() { echo $(( ($(date +%s%N) - T0) / 1000000 )); }

# Sanitizer builds (-DORCH_SANITIZE=ON): the daemons' reports (ASan, LSan at
# exit, UBSan) land in their orchd.log files.
check_sanitizer_reports() {
    local f
    for f in "$CTD_DIR"/st*/orchd.log; do
        [ -f "$f" ] || continue
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
            bad "sanitizer report in $f:"
            grep -A 30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" | head -60
        fi
    done
}

finish() {
    local pid
    pid=$(daemon_pid)
    # the daemon leaves after fell; its leak check runs at exit
    [ -n "$pid" ] && wait_cond 10 '! kill -0 "$pid"'
    check_sanitizer_reports
    [ $fail = 0 ] && echo PASS || echo FAILED
    exit $fail
}
