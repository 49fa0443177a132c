#!/bin/bash
# orchd init as process 1 of a new pid + mount namespace (no VM):
#   unshare --pid --fork --mount-proc orchd init --no-mount --orchfile F --state-dir D
# Asserts that
#   - orphans are reaped: by the daemon (a child subreaper) for services that
#     double-fork, and by process 1 for processes orphaned outside the daemon
#     (nsenter'ed into the namespace) and for the services of a killed daemon;
#     no zombie is left in the namespace;
#   - a daemon killed with SIGKILL is restarted and the Orchfile grown again,
#     without a second copy of any service;
#   - SIGTERM to process 1 (from outside) stops the services in reverse
#     dependency order and process 1 exits 0 (a pid namespace's init exits
#     instead of calling reboot(2), see docs/PID1.md);
#   - `orchd fell` restarts the daemon idle, `orchd fell --poweroff` ends it all;
#   - a missing or broken Orchfile prints its errors and keeps process 1 up
#     (idle) until SIGTERM.
# Nothing of the host is remounted: --no-mount skips the machine setup.
# Run by ctest with ORCHD=<binary>; exit 77 means skipped.
set -u

ORCHD=${ORCHD:?set ORCHD to the orchd binary}
NAME=pid1_unshare.sh

skip() {
    echo "SKIP: $*"
    exit 77
}
[ -x "$ORCHD" ] || skip "$ORCHD is not executable"
[ "$(id -u)" = 0 ] || skip "needs root (unshare --pid, nsenter)"
for b in unshare nsenter ps timeout; do
    command -v $b >/dev/null 2>&1 || skip "$b is not installed"
done
unshare --pid --fork --mount-proc true 2>/dev/null || skip "unshare --pid --fork --mount-proc does not work here"

T=$(mktemp -d /tmp/orchd-pid1.XXXXXX)
NS="pid1-$$"
export ORCH_NAMESPACE=$NS
UPID=""  # the unshare process of the running scenario
INIT=""  # its child: process 1 of the namespace (host pid)
checks=0
start_s=$(date +%s)

cleanup() {
    local rc=$?
    if [ -n "$INIT" ] && kill -0 "$INIT" 2>/dev/null; then
        kill -KILL "$INIT" 2>/dev/null # kills the whole pid namespace
    fi
    if [ -n "$UPID" ]; then
        wait "$UPID" 2>/dev/null
    fi
    # A namespace killed mid-test leaves its services' cgroups (named after
    # our unique namespace) behind: remove them once their processes are gone.
    local i d
    for ((i = 0; i < 20; i++)); do
        d=$(find /sys/fs/cgroup -maxdepth 8 -type d -path "*/orchd/$NS" 2>/dev/null)
        [ -z "$d" ] && break
        find $d -depth -type d -exec rmdir {} + 2>/dev/null
        sleep 0.1
    done
    if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -f "$T/console" ]; then
        echo "--- console of the last scenario:" >&2
        tail -n 60 "$T/console" >&2
    fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "$NAME: FAIL: $*" >&2
    exit 1
}
ok() {
    checks=$((checks + 1))
    echo "ok $checks - $*"
}

# wait_for PATTERN SECONDS: waits until the console has a line matching
# PATTERN (grep -E), at most SECONDS.
wait_for() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        grep -qE "$1" "$T/console" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "no console line matching '$1' within $2 s"
}
count() {
    grep -cE "$1" "$T/console" 2>/dev/null || true
}

# boot ORCHFILE|--cmdline FILE: starts orchd init as process 1 of a new pid
# namespace, with that Orchfile (or the one a kernel command line names).
boot() {
    : >"$T/console"
    local how=(--orchfile "$1")
    [ "$1" = --cmdline ] && how=(--cmdline "$2")
    unshare --pid --fork --mount-proc "$ORCHD" init --no-mount "${how[@]}" \
        --state-dir "$T/state" >"$T/console" 2>&1 &
    UPID=$!
    local i
    INIT=""
    for ((i = 0; i < 50; i++)); do
        INIT=$(ps -o pid= --ppid "$UPID" | tr -d ' ' | head -n1)
        [ -n "$INIT" ] && break
        sleep 0.1
    done
    [ -n "$INIT" ] || fail "unshare did not start orchd init"
}

# finish WANT_RC SECONDS: waits for the scenario's unshare to exit.
finish() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        kill -0 "$UPID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$UPID" 2>/dev/null && fail "process 1 did not exit within $2 s"
    local rc=0
    wait "$UPID" || rc=$?
    UPID=""
    INIT=""
    [ "$rc" = "$1" ] || fail "unshare (process 1) exited $rc, want $1"
    if grep -qE 'Sanitizer|runtime error:' "$T/console"; then
        fail "sanitizer report on the console"
    fi
}

# in_ns CMD...: runs a shell command in the namespace (its own /proc).
in_ns() {
    nsenter -t "$INIT" -p -m -- /bin/sh -c "$1"
}

# The zombies of the namespace, one line each.
ZOMBIES='for f in /proc/[0-9]*/stat; do
  read -r line < "$f" 2>/dev/null || continue
  rest=${line##*) }; set -- $rest
  [ "$1" = Z ] && echo "zombie: $line"
done; true'

no_zombies() {
    local i z
    for ((i = 0; i < 50; i++)); do
        z=$(in_ns "$ZOMBIES")
        [ -z "$z" ] && { ok "no zombie in the namespace ($1)"; return 0; }
        sleep 0.1
    done
    fail "zombies in the namespace ($1): $z"
}

# The daemon's host pid: the child of process 1 running `orchd daemon`.
daemon_pid() {
    local p
    for p in $(ps -o pid= --ppid "$INIT"); do
        if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q '^orchd daemon '; then
            echo "$p"
            return
        fi
    done
}

# ---- scenario 1: reaping, daemon restart, SIGTERM in reverse order ---------
cat >"$T/Orchfile" <<EOF
ORCH_VERSION 0.2.1

SERVICE a
RUN trap 'sleep 0.2; echo stop a >> $T/order; exit 0' TERM; sleep 1001 & wait

SERVICE b
RUN trap 'sleep 0.2; echo stop b >> $T/order; exit 0' TERM; sleep 1002 & wait
REQUIRES a

SERVICE c
RUN trap 'sleep 0.2; echo stop c >> $T/order; exit 0' TERM; sleep 1003 & wait
REQUIRES b

# Double-forks all the time: each grandchild is orphaned and exits.
SERVICE forker
RUN trap 'exit 0' TERM; while :; do sh -c '(sleep 0.1; exit 3) & exit 0'; sleep 0.3; done

# A oneshot that leaves an orphan behind when it exits.
SERVICE leaver
RUN sh -c 'sleep 0.5 &'; echo left
ONESHOT true
EOF

boot "$T/Orchfile"
wait_for 'every service is up' 30
ok "process 1 grew the Orchfile"
grep -q 'orchd: c: running (pid' "$T/console" || fail "no state-change line for c"
ok "state changes are printed ('orchd: c: running (pid N)')"
grep -q 'is process 1' "$T/console" || fail "no start line"
grep -q 'mounted /' "$T/console" && fail "--no-mount mounted something"
ok "--no-mount mounts nothing"

# Orphans of process 1 itself: processes nsenter'ed into the namespace whose
# parent exits are re-parented to process 1, which must reap them.
# (long sleeps, polled until both have exec'd sleep, then killed: no race
# with a child that is still a shell, nor with sleeps that end too early)
in_ns 'sleep 61.5 & sleep 61.6 & exit 0'
ORPHANS='for f in /proc/[0-9]*/cmdline; do
  c=$({ tr "\0" " " < $f; } 2>/dev/null); case "$c" in "sleep 61.5 "|"sleep 61.6 ")
  d=${f%/cmdline}; set -- $(sed "s/.*) //" $d/stat); echo "${d#/proc/} $2";; esac; done'
for ((i = 0; i < 100; i++)); do
    orphans=$(in_ns "$ORPHANS")
    [ "$(echo "$orphans" | grep -c .)" = 2 ] && break
    sleep 0.1
done
ppids=$(echo "$orphans" | awk '{print $2}')
[ "$(echo $ppids)" = "1 1" ] || fail "the orphans' parent is '$ppids', want process 1 (1 1)"
ok "orphans outside the daemon are re-parented to process 1"
opids=$(echo "$orphans" | awk '{print $1}')
in_ns "kill $(echo $opids)"
# a dead orphan that process 1 does not reap stays in /proc as a zombie
for ((i = 0; i < 100; i++)); do
    left=$(in_ns "for p in $(echo $opids); do [ -e /proc/\$p ] && echo \$p; done; true")
    [ -z "$left" ] && break
    sleep 0.1
done
[ -z "$left" ] || fail "the killed orphans $left were not reaped by process 1"
no_zombies "orphans of process 1 and double-forking services"
[ -n "$(in_ns 'ls /proc/1/stat')" ] || fail "process 1 is gone"

# Kill the daemon: process 1 restarts it and grows the Orchfile again, after
# killing the services the dead daemon left behind.
D=$(daemon_pid)
[ -n "$D" ] || fail "no daemon child of process 1"
kill -KILL "$D"
wait_for 'the daemon was killed by SIGKILL; restarting it in 1s' 10
ok "a killed daemon is noticed"
wait_for 'killed [0-9]+ leftover process(es)? of the dead daemon' 10
ok "process 1 killed the dead daemon's services (by cgroup, else by ORCH_SERVICE)"
for ((i = 0; i < 300; i++)); do
    [ "$(count 'every service is up')" -ge 2 ] && break
    sleep 0.1
done
[ "$(count 'every service is up')" -ge 2 ] || fail "the Orchfile was not grown again"
D2=$(daemon_pid)
[ -n "$D2" ] && [ "$D2" != "$D" ] || fail "no new daemon"
ok "the daemon was restarted (pid $D -> $D2) and the Orchfile grown again"
for s in 1001 1002 1003; do
    n=$(in_ns "for f in /proc/[0-9]*/cmdline; do { tr '\0' ' ' < \$f; } 2>/dev/null; echo; done" |
        grep -c "^sleep $s ")
    [ "$n" = 1 ] || fail "$n copies of 'sleep $s' run after the restart, want 1"
done
ok "no service runs twice after the restart"
no_zombies "after the daemon restart"
"$ORCHD" survey --state-dir "$T/state" >"$T/survey" 2>&1 || fail "survey: $(cat "$T/survey")"
for s in a b c forker; do
    grep -qE "^$s +bare +running" "$T/survey" || fail "service $s not running: $(cat "$T/survey")"
done
ok "survey shows every service running again"

# SIGTERM from outside: the services stop in reverse dependency order and
# process 1 exits 0.
: >"$T/order"
kill -TERM "$INIT"
finish 0 60
grep -q 'SIGTERM: power off: stopping every service' "$T/console" || fail "no shutdown line"
order=$(tr '\n' ' ' <"$T/order")
[ "$order" = "stop c stop b stop a " ] || fail "stop order '$order', want 'stop c stop b stop a'"
ok "SIGTERM stopped c, b, a in reverse dependency order"
grep -q 'exiting instead of power off' "$T/console" || fail "no exit line"
ok "process 1 exited 0 after the shutdown"
pgrep -f "sleep 100[123]" >/dev/null && fail "services survived the namespace"
ok "nothing of the namespace is left"

# ---- scenario 2: fell, then fell --poweroff ---------------------------------
cat >"$T/Orchfile2" <<EOF
ORCH_VERSION 0.2.1
SERVICE solo
RUN exec sleep 1004
EOF
boot "$T/Orchfile2"
wait_for 'every service is up' 30
"$ORCHD" fell --state-dir "$T/state" >"$T/out" 2>&1 || fail "orchd fell: $(cat "$T/out")"
wait_for 'starting it again, idle' 10
wait_for 'started the daemon \(pid [0-9]+\), idle' 10
ok "orchd fell: process 1 restarts the daemon idle"
# grow would start a daemon of its own if the restarted one did not listen
# yet; survey never starts one: wait until it answers
for ((i = 0; i < 100; i++)); do
    "$ORCHD" survey --state-dir "$T/state" >/dev/null 2>&1 && break
    sleep 0.1
done
"$ORCHD" survey --state-dir "$T/state" >"$T/out" 2>&1 || fail "the restarted daemon does not answer: $(cat "$T/out")"
"$ORCHD" grow --orchfile "$T/Orchfile2" --state-dir "$T/state" >"$T/out" 2>&1 ||
    fail "orchd grow after fell: $(cat "$T/out")"
ok "orchd grow reaches the restarted daemon"
"$ORCHD" fell solo --poweroff --state-dir "$T/state" >"$T/out" 2>&1 &&
    fail "fell SERVICE --poweroff was accepted"
grep -q 'give no SERVICE names' "$T/out" || fail "fell SERVICE --poweroff: $(cat "$T/out")"
ok "fell SERVICE --poweroff is refused"
"$ORCHD" fell --poweroff --state-dir "$T/state" >"$T/out" 2>&1 || true
finish 0 30
grep -q 'SIGUSR2 from the daemon (orchd fell --poweroff): power off' "$T/console" ||
    fail "no poweroff line"
grep -q 'orchd: solo: stopped' "$T/console" || fail "solo was not stopped"
ok "orchd fell --poweroff stops everything and ends process 1"

# ---- scenario 3: a missing and a broken Orchfile ---------------------------
# (named the way a kernel command line names it: orchd.orchfile=)
printf 'console=ttyS0 quiet orchd.orchfile=%s\0' "$T/missing/Orchfile" >"$T/cmdline"
boot --cmdline "$T/cmdline"
wait_for 'no services started; the machine stays up idle' 20
grep -q "Orchfile $T/missing/Orchfile, state" "$T/console" ||
    fail "orchd.orchfile= on the command line was not used"
grep -qE "^orchd-init: $T/missing/Orchfile: " "$T/console" || fail "the missing file is not named"
sleep 1
kill -0 "$INIT" 2>/dev/null || fail "process 1 left with a missing Orchfile"
ok "a missing Orchfile (from orchd.orchfile= on the command line): error printed, process 1 stays up"
kill -TERM "$INIT"
finish 0 30
ok "... and SIGTERM still ends it"

printf 'ORCH_VERSION 0.2.1\nSERVICE x\nRUN true\nBOGUS directive\n' >"$T/Broken"
boot "$T/Broken"
wait_for 'no services started; the machine stays up idle' 20
grep -qE "orchd-init: $T/Broken:4: " "$T/console" || fail "the error does not name Broken:4"
sleep 1
kill -0 "$INIT" 2>/dev/null || fail "process 1 left with a broken Orchfile"
ok "a broken Orchfile: FILE:LINE error printed, process 1 stays up"
kill -INT "$INIT"
finish 0 30
grep -q 'SIGINT: reboot: stopping every service' "$T/console" || fail "SIGINT not handled"
ok "... and SIGINT (ctrl-alt-del) ends it"

echo "$NAME: $checks checks passed in $(($(date +%s) - start_s)) s"
