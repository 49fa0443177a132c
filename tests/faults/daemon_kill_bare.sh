# A kill -9 of the daemon leaves its host services running; the next daemon
# adopts them (one copy each, survey shows the old pids, their exits are
# supervised) and replaces one whose spec changed only after stopping it.
. "$SRC/tests/cli/lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root for cgroups"

cat > Orchfile <<'OF'
SERVICE a
RUN exec sleep 1000
RESTART on-failure
RESTART_DELAY 0s

SERVICE b
RUN trap 'echo stop >> b.events; exit 0' TERM; echo start >> b.events; while :; do sleep 0.1; done
RESTART on-failure
RESTART_DELAY 0s

SERVICE c
RUN exec sleep 1000
RESTART on-failure
RESTART_DELAY 0s
OF

cgroup_of() {
    d=$(find /sys/fs/cgroup -maxdepth 6 -type d -path "*/orchd/$ORCH_NAMESPACE/$1" 2>/dev/null | head -n 1)
    [ -n "$d" ] || fail "no tracking cgroup for $1"
    echo "$d"
}
# procs SERVICE [COMM]: the pids in its tracking cgroup (only those named COMM)
procs() {
    for p in $(cat "$(cgroup_of "$1")/cgroup.procs"); do
        [ -z "${2:-}" ] || [ "$(cat /proc/$p/comm 2>/dev/null)" = "$2" ] && echo "$p"
    done
}
# top_shells SERVICE: the shells in its cgroup whose parent is not in it, i.e.
# copies of the service itself. A child that b's loop has just forked is
# named sh until it execs sleep; its parent is b's shell, so it is not counted.
top_shells() {
    all=" $(procs "$1" | tr '\n' ' ') "
    for p in $(procs "$1" sh); do
        pp=$(awk '{print $4}' /proc/$p/stat 2>/dev/null) || continue
        case "$all" in *" $pp "*) ;; *) echo "$p" ;; esac
    done
}
kill_daemon() {
    d=$(cat "$ORCH_STATE_DIR/orchd.lock")
    kill -9 "$d"
    wait_for 5 sh -c "! kill -0 $d" || fail "daemon $d did not die"
}

"$ORCHD" grow || fail "grow"
for s in a b c; do eval "old_$s=$(sv "s['$s']['pid']")"; done
kill_daemon
for s in a c; do [ "$(procs $s | wc -l)" = 1 ] || fail "$s: not left running after kill -9 of the daemon"; done

"$ORCHD" grow || fail "second grow"
for s in a c; do
    n=$(procs $s | wc -l)
    [ "$n" = 1 ] || fail "$s: $n processes in its cgroup after the second grow, want 1: $(procs $s | tr '\n' ' ')"
done
[ "$(top_shells b | wc -l)" = 1 ] || fail "b: $(top_shells b | wc -l) shells in its cgroup, want 1"
for s in a b c; do
    eval "want=\$old_$s"
    [ "$(sv "s['$s']['pid']")" = "$want" ] || fail "$s: survey shows pid $(sv "s['$s']['pid']"), not the adopted $want: $(survey)"
    [ "$(sv "s['$s']['state']")" = running ] || fail "$s: not running: $(survey)"
done
grep -q "service a: adopted pid $old_a" "$ORCH_STATE_DIR/orchd.log" || fail "no adoption line in orchd.log"

# The exit of an adopted process is supervised: RESTART on-failure restarts
# it (the status of a non-child is unknown: a failure).
kill -9 "$old_a"
wait_for 10 sh -c "\"$ORCHD\" survey --json | python3 -c \"import json,sys; s={x['service']:x for x in json.load(sys.stdin)}; sys.exit(0 if s['a']['state']=='running' and s['a']['pid'] not in (None, $old_a) else 1)\"" ||
    fail "adopted a was not restarted after kill -9: $(survey)"
[ "$(sv "s['a']['restarts']")" = 1 ] || fail "a: restarts $(sv "s['a']['restarts']"), want 1"
sv "s['a']['error']" | grep -q "unknown" || fail "a: error does not say the exit status is unknown: $(survey)"
[ "$(procs a | wc -l)" = 1 ] || fail "a: $(procs a | wc -l) processes after its restart"

# Crash again, and grow with b's spec changed: the old b is stopped (its TERM
# trap runs) before the new one starts; never two.
kill_daemon
sed -i 's/^SERVICE b$/SERVICE b\nENV V=2/' Orchfile
"$ORCHD" grow || fail "third grow"
[ "$(top_shells b | wc -l)" = 1 ] || fail "b: $(top_shells b | wc -l) shells in its cgroup after the spec change, want 1"
[ "$(sv "s['b']['pid']")" != "$old_b" ] || fail "b still runs its old process $old_b under a new spec"
# (a zombie is dead: whoever inherited it reaps it, not orchd)
[ -e /proc/$old_b ] && [ "$(awk '{print $3}' /proc/$old_b/stat 2>/dev/null)" != Z ] && fail "the old b ($old_b) still runs"
# grow returns once the new b is started, maybe before its shell wrote "start"
wait_for 10 sh -c '[ "$(tr "\n" " " < b.events)" = "start stop start " ]' ||
    fail "b events: $(tr '\n' ' ' < b.events), want start stop start"
for s in a c; do [ "$(procs $s | wc -l)" = 1 ] || fail "$s: not exactly one process after the third grow"; done
echo PASS
