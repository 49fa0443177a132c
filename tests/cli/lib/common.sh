# Shared helpers for the shell tests that drive the real orchd binary.
# Each test gets a private state dir under a temp dir, and an EXIT trap that
# fells its daemon and kills anything left in its process tree, so nothing
# outlives the test even when it fails.
set -eu

: "${ORCHD:?ORCHD must point at the orchd binary}"
T=$(mktemp -d /tmp/orchd-test.XXXXXX)
export ORCH_STATE_DIR="$T/state"
export ORCH_DATA="$T/data"
export ORCH_NAMESPACE="t$$"
cd "$T"

fail() {
    echo "FAIL: $*" >&2
    if [ -f "$ORCH_STATE_DIR/orchd.log" ]; then
        echo "--- daemon log" >&2
        tail -n 30 "$ORCH_STATE_DIR/orchd.log" >&2
    fi
    exit 1
}

skip() {
    echo "SKIP: $*"
    exit 77
}

# Every process whose environment or cwd says it belongs to this test.
leftovers() {
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$pid" = "$$" ] && continue
        cwd=$(readlink "$p/cwd" 2>/dev/null || true)
        if { tr '\0' '\n' < "$p/environ"; } 2>/dev/null | grep -qx "ORCH_STATE_DIR=$ORCH_STATE_DIR" ||
           [ "${cwd#"$T"}" != "$cwd" ]; then
            # our own shell's children (this script's subshells) are not leftovers
            ppid=$(awk '{print $4}' "$p/stat" 2>/dev/null || echo 0)
            [ "$ppid" = "$$" ] && continue
            echo "$pid"
        fi
    done
}

# no_leftovers: true once nothing of this test runs (for wait_for: fell
# returns when the daemon released its lock, it may still be exiting).
no_leftovers() { [ -z "$(leftovers)" ]; }

cleanup() {
    rc=$?
    timeout 30 "$ORCHD" fell >/dev/null 2>&1 || true
    for pid in $(leftovers); do kill -9 "$pid" 2>/dev/null || true; done
    # cgroups of this test's namespace
    for d in /sys/fs/cgroup/*/orchd/"$ORCH_NAMESPACE" /sys/fs/cgroup/orchd/"$ORCH_NAMESPACE"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT INT TERM

# json EXPR: evaluates a Python expression over the survey JSON (as `s`, a
# dict by service name) and prints the result.
survey() {
    "$ORCHD" survey --json
}
sv() {
    survey | python3 -c "import json,sys; s={x['service']:x for x in json.load(sys.stdin)}; print($1)"
}

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds.
wait_for() {
    limit=$1
    shift
    end=$(( $(date +%s) + limit ))
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.1
    done
}

state_is() { [ "$(sv "s['$1']['state']")" = "$2" ]; }

# throwaway_user PREFIX: creates a user PREFIX<pid> (printed in $U) and
# makes the EXIT trap remove it after the test's daemon is gone (userdel
# refuses a user that still runs processes: those are killed by pid).
throwaway_user() {
    [ "$(id -u)" = 0 ] || skip "needs root (useradd)"
    command -v useradd >/dev/null || skip "useradd is not installed"
    U=$1$$
    useradd --no-create-home --shell /usr/sbin/nologin "$U" || skip "cannot useradd $U"
    trap user_cleanup EXIT INT TERM
}
user_cleanup() {
    rc=$?
    set +e # the (exit $rc) below must not end the trap before cleanup
    timeout 30 "$ORCHD" fell >/dev/null 2>&1 || true
    for pid in $(pgrep -u "$U" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        userdel "$U" 2>/dev/null && break
        sleep 0.2
    done
    (exit $rc)
    cleanup
}
