#!/bin/bash
# The daemon's memory with 20 containers (issue 15): a private containerd,
# the test image imported with ctr (no pull), one bare service and 20
# container services as bench/lib/containers.py runs them; 1 s after grow
# returns, the daemon's smaps_rollup and the breakdown by mapping
# (bench/lib/smaps_breakdown.py). No registry pull happens, so libcurl is
# not mapped (it is dlopen()ed at the first pull).
#
#   bench/mem20.sh [ORCHD]     # default build/orchd; as root; run it under
#                              # flock -o /tmp/orchd-ctd.lock like the tests
# Prints the breakdown table and a "daemon PID: PSS ... RSS ... threads" line.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
ORCHD=$(readlink -f "${1:-$SRC/build/orchd}")
IMAGE=localhost/orchd-test:latest
NS=mem20$$
D=$(mktemp -d /tmp/om20.XXXXXX)
env_run() {
    env HOME="$D" ORCH_STATE_DIR="$D/st" ORCH_NAMESPACE="$NS" ORCH_CONTAINERD_SOCKET="$SOCK" \
        ORCH_SNAPSHOTTER="$SNAP" "$ORCHD" "$@"
}
# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
    [ -n "${SOCK:-}" ] && env_run fell -f "$D/Orchfile" >/dev/null 2>&1
    "$SRC/scripts/containerd-stop.sh" "$D" >/dev/null 2>&1
    for c in /sys/fs/cgroup/*/orchd/"$NS" /sys/fs/cgroup/orchd/"$NS"; do
        [ -d "$c" ] && rmdir "$c" 2>/dev/null
    done
    rm -rf "$D"
}
trap cleanup EXIT
SOCK=$("$SRC/scripts/containerd-start.sh" "$D") || { echo "containerd did not start" >&2; exit 1; }
SNAP=$(cat "$D/snapshotter")
"$SRC/scripts/build-test-image.sh" "$D/img.tar" "$IMAGE" >/dev/null 2>&1 || { echo "no test image" >&2; exit 1; }
ctr -a "$SOCK" -n "$NS" images import --snapshotter "$SNAP" "$D/img.tar" >/dev/null || exit 1
{
    printf 'ORCH_VERSION 0.2.1\n\nSERVICE anchor\nRUN exec sleep 71999990\n\n'
    for i in $(seq 0 19); do
        printf 'SERVICE c%d\nFROM %s\nCMD sh -c '"'"'trap "exit 0" TERM; sleep 100000 & wait'"'"'\nRESTART always\n\n' "$i" "$IMAGE"
    done
} >"$D/Orchfile"
env_run grow -f "$D/Orchfile" >"$D/grow.log" 2>&1 || { echo "grow failed:" >&2; tail "$D/grow.log" >&2; exit 1; }
sleep 1
pid=$(cat "$D/st/orchd.lock")
running=$(ctr -a "$SOCK" -n "$NS" tasks ls | grep -c RUNNING)
python3 "$SRC/bench/lib/smaps_breakdown.py" "$pid"
awk -v pid="$pid" -v n="$running" '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 }
    END { printf "daemon %s, %d containers running: PSS %.2f MB, RSS %.2f MB, ", pid, n, p / 1024, r / 1024 }' \
    "/proc/$pid/smaps_rollup"
echo "threads $(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 | wc -l), libcurl mapped: $(grep -c libcurl "/proc/$pid/maps")"
