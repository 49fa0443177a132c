#!/bin/bash
# Soak (issue 11): CYCLES grow / fell cycles of a small mixed Orchfile (three
# host services and one container against a private containerd), with one
# daemon throughout (`fell NAME...` keeps it). Afterwards nothing may be
# left: the daemon's open fds are where they were after the first cycle, no
# process of the services, no tracking cgroup with a process in it, no
# container, task, lease or active snapshot in containerd, no mount under
# the private containerd's directories. Prints the figures; exits 1 if
# anything was left.
#
#   sudo bench/soak.sh [CYCLES]      # default 200; ORCHD=path/to/orchd
#
# Needs root, containerd, runc, busybox-static (tests/containerd/lib.sh).
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
ORCHD=${ORCHD:-$SRC/build/orchd}
CYCLES=${1:-200}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
CTD_NS=soak$$
ctd_setup
orchd_setup
cat >"$PROJ/Orchfile" <<'OF'
SERVICE sleeper
RUN exec sleep 1000

SERVICE talker
RUN while :; do echo tick; sleep 0.2; done

SERVICE oneshot
RUN echo done
ONESHOT true

SERVICE box
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; while :; do echo box; sleep 0.2; done"
OF
names="sleeper talker oneshot box"
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
# processes of the host services: whatever is in their tracking cgroups
host_procs() {
    local d n=0
    for d in $(find /sys/fs/cgroup -type d -path "*/orchd/$CTD_NS/*" 2>/dev/null); do
        [ -f "$d/cgroup.procs" ] && n=$((n + $(wc -l <"$d/cgroup.procs")))
    done
    echo $n
}
mounts() { grep -c "$CTD_DIR/root\|$CTD_DIR/state" /proc/self/mountinfo; }

t0=$(date +%s%N)
fd1="" fdmax=0 worst=0 failures=0
for c in $(seq 1 "$CYCLES"); do
    s=$(date +%s%N)
    o grow -f "$PROJ/Orchfile" >/dev/null 2>&1 || { failures=$((failures + 1)); log "cycle $c: grow failed"; }
    o fell $names >/dev/null 2>&1 || { failures=$((failures + 1)); log "cycle $c: fell failed"; }
    ms=$(( ($(date +%s%N) - s) / 1000000 ))
    [ "$ms" -gt "$worst" ] && worst=$ms
    d=$(daemon_pid)
    n=$(fds "$d")
    [ -z "$fd1" ] && fd1=$n
    [ "$n" -gt "$fdmax" ] && fdmax=$n
    [ $((c % 50)) = 0 ] && log "cycle $c: daemon fds $n, host procs $(host_procs), containers $($CTD_CTR c ls -q | wc -l), mounts $(mounts)"
done
total=$(( ($(date +%s%N) - t0) / 1000000 ))
d=$(daemon_pid)
fdn=$(fds "$d")
hp=$(host_procs)
mn=$(mounts)
echo "soak: $CYCLES cycles in $((total / 1000)).$((total % 1000 / 100)) s ($((total / CYCLES)) ms a cycle, worst $worst ms), $failures failed commands"
echo "soak: daemon $d fds: $fd1 after cycle 1, $fdn after cycle $CYCLES (max $fdmax); rss $(awk '/VmRSS/ {print $2 " kB"}' /proc/$d/status)"
echo "soak: left: host processes $hp, mounts $mn, shims $(live_shims)"
[ "$failures" = 0 ] || bad "$failures commands failed"
[ "$fdn" -le "$fd1" ] || bad "the daemon's fds grew: $fd1 -> $fdn"
[ "$hp" = 0 ] || bad "$hp host service processes left"
[ "$mn" = 0 ] || bad "$mn mounts left"
[ "$(live_shims)" = 0 ] || bad "shims left"
assert_clean "after $CYCLES cycles"
o fell >/dev/null 2>&1 || bad "the last fell"
finish
