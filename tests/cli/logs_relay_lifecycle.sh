# A bare service's log relay (runtimes/bare/log_relay.h) lives and ends with
# its service: it is orchd-log-relay, outside the service's cgroup; after a
# kill -9 of the daemon it drains on, the next daemon adopts the service
# without treating the relay as a second copy, and a fell ends the relay
# after the service, its last lines written, even when a process that left
# the service's cgroup still holds the pipe (so only the explicit end, not
# end of file, can stop the relay).
. "$(dirname "$0")/lib/common.sh"
export ORCH_LOG_RELAY=on # bare services get a relay only when asked (docs/LOGS.md)
[ "$(id -u)" = 0 ] || skip "needs root (escaping a cgroup)"
CG2=$(findmnt -t cgroup2 -n -o TARGET | head -1)
[ -n "$CG2" ] && [ -w "$CG2/cgroup.procs" ] || skip "no writable cgroup2 root"
relays=""
kill_extra() { # relays (no ORCH_STATE_DIR in their environment) and the escaped children
    for p in $relays $(cat "$T"/esc.*.pid 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
}
trap 'rc=$?; kill_extra; set +e; (exit $rc); cleanup' EXIT
# Each service starts a child that moves itself to the cgroup2 root (out of
# the service's cgroup) in a session of its own and sleeps, holding the pipe; the service says its
# last words on SIGTERM.
for s in one two; do
    cat >> Orchfile <<OF
SERVICE $s
RUN setsid sh -c 'echo \$\$ > $CG2/cgroup.procs; echo \$\$ > $T/esc.$s.pid; exec sleep 1000' & trap 'echo $s last-words; exit 0' TERM; i=0; while :; do echo "$s line \$i"; i=\$((i+1)); sleep 0.1; done

OF
done
"$ORCHD" grow 2>err.txt || fail "grow: $(cat err.txt)"
logs="$ORCH_STATE_DIR/logs"
relay_of() { # the relay writing to service $1's own log
    for p in /proc/[0-9]*; do
        if { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null |
            grep -q "^[^ ]*orchd-log-relay --stdin --stdout $logs/$ORCH_NAMESPACE.$1.log "; then
            echo "${p#/proc/}"
        fi
    done
}
wait_for 10 sh -c "[ -s $T/esc.one.pid ] && [ -s $T/esc.two.pid ] && grep -q 'two line 3' $logs/$ORCH_NAMESPACE.two.log" ||
    fail "services did not start"
r1=$(relay_of one) r2=$(relay_of two)
relays="$r1 $r2"
[ -n "$r1" ] && [ -n "$r2" ] || fail "no orchd-log-relay process per service: '$r1' '$r2'"
# the relay is outside the service's cgroup, named in its run record
for s in one two; do
    r=$(relay_of $s)
    pid=$(sv "s['$s']['pid']")
    [ "$(cut -d: -f3 /proc/$r/cgroup | sort -u)" != "$(cut -d: -f3 /proc/$pid/cgroup | sort -u)" ] ||
        fail "$s's relay is in its cgroup"
    [ "$(awk '{print $4}' "$ORCH_STATE_DIR/run/$ORCH_NAMESPACE.$s")" = "$r" ] ||
        fail "$s's run record does not name its relay $r: $(cat "$ORCH_STATE_DIR/run/$ORCH_NAMESPACE.$s")"
done

# fell of one: its relay ends, though its escaped child holds the pipe
"$ORCHD" fell one 2>err.txt || fail "fell one: $(cat err.txt)"
wait_for 10 sh -c "! kill -0 $r1 2>/dev/null" || fail "one's relay $r1 outlived its service"
kill -0 "$(cat $T/esc.one.pid)" || fail "one's escaped child is gone: the test proves nothing"
grep -q '^[0-9T:.-]*Z one last-words$' "$logs/$ORCH_NAMESPACE.one.log" ||
    fail "one's last words are not in its log: $(tail -3 "$logs/$ORCH_NAMESPACE.one.log")"

# kill -9 of the daemon: two and its relay live on, and are adopted
daemon=$(cat "$ORCH_STATE_DIR/orchd.pid" 2>/dev/null || true)
[ -n "$daemon" ] || daemon=$(ps -o ppid= -p "$(sv "s['two']['pid']")" | tr -d ' ')
pid2=$(sv "s['two']['pid']")
kill -9 "$daemon"
wait_for 5 sh -c "! kill -0 $daemon 2>/dev/null" || fail "the daemon did not die"
n0=$(grep -c 'two line' "$logs/$ORCH_NAMESPACE.two.log")
wait_for 5 sh -c "[ \$(grep -c 'two line' $logs/$ORCH_NAMESPACE.two.log) -gt $((n0 + 3)) ]" ||
    fail "two's relay stopped writing when the daemon died"
"$ORCHD" grow 2>err.txt || fail "grow after the crash: $(cat err.txt)"
state_is two running || fail "two is not running after adoption"
[ "$(sv "s['two']['pid']")" = "$pid2" ] || fail "two was restarted, not adopted"
[ "$(sv "s['two']['restarts']")" = 0 ] || fail "two counts a restart"
kill -0 "$r2" || fail "two's relay was killed on adoption"
[ "$(relay_of two)" = "$r2" ] || fail "a second relay for two: $(relay_of two)"
sleep 0.5
n1=$(grep -c '^[0-9T:.-]*Z two line' "$logs/$ORCH_NAMESPACE.two.log")
wait_for 5 sh -c "[ \$(grep -c '^[0-9T:.-]*Z two line' $logs/$ORCH_NAMESPACE.two.log) -gt $((n1 + 3)) ]" ||
    fail "two's adopted relay does not write stamped lines"

# fell of everything: the adopted relay ends too, after the service
"$ORCHD" fell 2>err.txt || fail "fell: $(cat err.txt)"
wait_for 10 sh -c "! kill -0 $r2 2>/dev/null" || fail "two's adopted relay $r2 outlived its service"
grep -q '^[0-9T:.-]*Z two last-words$' "$logs/$ORCH_NAMESPACE.two.log" ||
    fail "two's last words are not in its log: $(tail -3 "$logs/$ORCH_NAMESPACE.two.log")"
echo "ok: a relay per service outside its cgroup; ended after its service (own and adopted), last words kept"
