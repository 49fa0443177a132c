#!/bin/bash
# The inception test: boots Debian's kernel under qemu (TCG) with an
# initramfs whose /init is orchd, and reads the serial console for proof.
#
# Boot 1 (orchd.orchfile=/etc/orchd/Orchfile): orchd mounts the machine's
# filesystems, supervises containerd as a host service (HEALTHCHECK ctr
# version), a host service with MEMORY/TASKS_MAX whose cgroup limits a oneshot
# reads inside the guest, prints `orchd survey`, and finally a oneshot runs
# `orchd fell --poweroff`: qemu must then exit on its own. With the containerd
# runtime module built (and not the stub), two container services that
# REQUIRE containerd join: a long one with MEMORY/TASKS_MAX and a ONESHOT that
# writes to a volume. Without it that part says SKIP; the rest still asserts.
#
# Boot 2 (orchd.orchfile=/etc/orchd/Broken): init prints the Orchfile's error,
# keeps the machine up idle, and reboots on ctrl-alt-del (sent through the
# qemu monitor: the kernel sends SIGINT to process 1); -no-reboot makes qemu
# exit then.
#
# Environment: ORCHD (the binary), SRC, BUILD (the build dir: the kernel is
# cached in $BUILD/inception/cache), INCEPTION_CONTAINERS=0|1 to force the
# container part off or on, INCEPTION_KEEP=1 to keep the run dir (logs).
# Exit 77 (skip) only when qemu cannot run here at all.
set -u

NAME=inception
ORCHD=${ORCHD:?set ORCHD to the orchd binary}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${BUILD:-$(dirname "$ORCHD")}
QEMU=${QEMU:-qemu-system-x86_64}
BOOT_LIMIT=${INCEPTION_BOOT_LIMIT:-420}   # seconds until the guest asks to power off
EXIT_LIMIT=${INCEPTION_EXIT_LIMIT:-60}    # seconds from then until qemu exits
t0=$(date +%s)

skip() {
    echo "SKIP: $*"
    exit 77
}
fail() {
    echo "$NAME: FAIL: $*" >&2
    exit 1
}
checks=0
ok() {
    checks=$((checks + 1))
    echo "ok $checks - $*"
}

# ---- can qemu run here at all? ---------------------------------------------
command -v "$QEMU" >/dev/null 2>&1 || skip "$QEMU is not installed (scripts/install-deps.sh installs qemu-system-x86)"
"$QEMU" -version >/dev/null 2>&1 || skip "$QEMU does not run"
arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
case $arch in
amd64 | x86_64) ;;
*) skip "the guest runs this machine's binaries under qemu-system-x86_64; this is $arch" ;;
esac
timeout -s KILL 10 "$QEMU" -accel tcg -machine q35 -nodefaults -display none -S \
    -monitor none -no-user-config </dev/null >/dev/null 2>&1 &
probe=$!
sleep 1
if kill -0 $probe 2>/dev/null; then
    kill $probe 2>/dev/null # timeout(1) passes SIGTERM on to qemu
    wait $probe 2>/dev/null
else
    wait $probe
    skip "$QEMU -accel tcg cannot start a machine here"
fi

for b in cpio gzip python3 busybox containerd runc ctr containerd-shim-runc-v2 apt-get dpkg \
    timeout ps; do
    command -v $b >/dev/null 2>&1 || fail "$b is not installed (scripts/install-deps.sh)"
done
[ "$(id -u)" = 0 ] || fail "needs root (device nodes in the initramfs, apt-get download as root)"

# ---- the container part: only with a real containerd runtime module --------
MODULE="$BUILD/orchd-containerd.so"
CONTAINERS=${INCEPTION_CONTAINERS:-auto}
if [ "$CONTAINERS" = auto ]; then
    if [ ! -f "$MODULE" ]; then
        CONTAINERS=0
        why="$MODULE is not built"
    elif grep -q "runtime is not implemented yet" "$MODULE"; then
        CONTAINERS=0
        why="$MODULE is still the stub"
    else
        CONTAINERS=1
    fi
fi
[ "$CONTAINERS" = 1 ] && [ ! -f "$MODULE" ] && fail "INCEPTION_CONTAINERS=1 but $MODULE is missing"

# ---- run dir, cleanup -------------------------------------------------------
mkdir -p "$BUILD/inception"
RUN=$(mktemp -d "$BUILD/inception/run.XXXXXX")
QPID=""
cleanup() {
    local rc=$?
    if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
        # QPID is timeout(1); qemu is its child.
        kill -KILL $(ps -o pid= --ppid "$QPID") "$QPID" 2>/dev/null
        wait "$QPID" 2>/dev/null
    fi
    if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
        for log in "$RUN"/console*.log; do
            [ -f "$log" ] || continue
            echo "--- the end of $log:" >&2
            tr -d '\r' <"$log" | tail -n 80 >&2
        done
    fi
    if [ "${INCEPTION_KEEP:-0}" = 1 ]; then
        echo "INCEPTION_KEEP=1: logs in $RUN" >&2
    else
        rm -rf "$RUN"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- kernel and initramfs ---------------------------------------------------
KDIR=$("$HERE/fetch-kernel.sh" "$BUILD/inception/cache") || fail "could not fetch the kernel"
ok "kernel $(cat "$KDIR/package") (cached in $BUILD/inception/cache)"
t_build=$(date +%s)
"$HERE/build-initramfs.sh" "$RUN/initrd.gz" "$ORCHD" "$KDIR" \
    "$([ "$CONTAINERS" = 1 ] && echo "$MODULE")" || fail "could not build the initramfs"
ok "initramfs built in $(($(date +%s) - t_build)) s ($(du -m "$RUN/initrd.gz" | cut -f1) MB)"

# ---- booting ----------------------------------------------------------------
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# boot LOG APPEND: starts the VM in the background (QPID, QSTART).
boot() {
    LOG=$1
    : >"$LOG"
    QSTART=$(now)
    # timeout: even if this script is killed, qemu does not outlive it long.
    timeout -s KILL $((BOOT_LIMIT + EXIT_LIMIT + 240)) \
    "$QEMU" -accel tcg -m 1024 -smp 2 -nographic -no-reboot -nic none \
        -kernel "$KDIR/vmlinuz" -initrd "$RUN/initrd.gz" \
        -append "console=ttyS0 panic=-1 quiet $2" \
        -serial "file:$LOG" -monitor "unix:$RUN/monitor.sock,server=on,wait=off" \
        </dev/null >"$RUN/qemu.out" 2>&1 &
    QPID=$!
}

# The console without the serial line's carriage returns.
clean() { tr -d '\r' <"$LOG"; }

# wait_line PATTERN SECONDS: waits for a console line matching PATTERN (grep
# -E) while qemu runs; sets AT to the seconds since qemu started.
wait_line() {
    local deadline=$(($(date +%s) + $2))
    AT=""
    while [ "$(date +%s)" -lt "$deadline" ]; do
        if clean | grep -qE "$1"; then
            AT=$(secs "$QSTART" "$(now)")
            return 0
        fi
        if ! kill -0 "$QPID" 2>/dev/null; then
            clean | grep -qE "$1" && { AT=$(secs "$QSTART" "$(now)"); return 0; }
            fail "qemu exited before a console line matching '$1'"
        fi
        sleep 0.2
    done
    fail "no console line matching '$1' within $2 s"
}

# wait_exit SECONDS: waits for qemu to exit on its own; fails otherwise.
wait_exit() {
    local deadline=$(($(date +%s) + $1))
    while kill -0 "$QPID" 2>/dev/null; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "qemu did not exit within $1 s"
        sleep 0.2
    done
    local rc=0
    wait "$QPID" || rc=$?
    QPID=""
    [ $rc -eq 0 ] || fail "qemu exited with $rc: $(cat "$RUN/qemu.out")"
}

has() {
    clean | grep -qE "$1" || fail "${2:-console has no line matching '$1'}"
}

no_panic() {
    if clean | grep -qE 'Kernel panic|Attempted to kill init|Sanitizer|runtime error:'; then
        fail "$(clean | grep -E 'Kernel panic|Attempted to kill init|Sanitizer|runtime error:' | head -n3)"
    fi
}

# ---- boot 1: the Orchfile, then poweroff from inside -----------------------
boot "$RUN/console.log" "orchd.orchfile=/etc/orchd/Orchfile orchd.hostname=inception-vm"
# (no ^: the firmware's escape sequences precede the first line)
wait_line 'orchd-init: orchd .* is process 1' 120
t_init=$AT
ok "orchd is process 1 after ${t_init}s"
wait_line '^orchd-init: /etc/orchd/Orchfile: (every service is up|some services failed)' "$BOOT_LIMIT"
t_up=$AT
has '^orchd-init: /etc/orchd/Orchfile: every service is up' "some services failed"
ok "every service is up after ${t_up}s"
wait_line '^orchd-init: powering off' "$BOOT_LIMIT"
t_off=$AT
wait_exit "$EXIT_LIMIT"
t_exit=$(secs "$QSTART" "$(now)")
ok "powered off from inside at ${t_off}s; qemu exited on its own after ${t_exit}s"
no_panic

for m in '/proc \(proc\)' '/sys \(sysfs\)' '/dev \(devtmpfs\)' '/dev/pts \(devpts\)' \
    '/dev/shm \(tmpfs\)' '/run \(tmpfs\)' '/tmp \(tmpfs\)' '/sys/fs/cgroup \(cgroup2\)'; do
    has "^orchd-init: mounted $m"
done
ok "init mounted /proc /sys /dev /dev/pts /dev/shm /run /tmp and cgroup2"
has '^orchd-init: cgroup controllers enabled: .*memory' && has '^orchd-init: cgroup controllers enabled: .*pids'
ok "cgroup controllers enabled ($(clean | sed -n 's/^orchd-init: cgroup controllers enabled: //p'))"
has '^orchd-init: hostname inception-vm$'
has '^orchd-init: loopback lo up$'
ok "hostname from the kernel command line, loopback up"
has '^orchd: hello: running \(pid [0-9]+\)$'
has '^orchd: containerd: ready$'
ok "state changes on the console (orchd: containerd: ready)"
has '^inception: hello from hello on inception-vm, kernel 6\.' "no output of the oneshot hello"
ok "a oneshot's output: $(clean | grep -m1 '^inception: hello')"
has '^inception: limited: cgroup /orchd/orch/limited memory.max=67108864 pids.max=32$' \
    "limited's cgroup limits not seen in the guest: $(clean | grep '^inception: limited')"
ok "MEMORY 64M and TASKS_MAX 32 in the guest's cgroup: $(clean | grep -m1 '^inception: limited')"
survey=$(clean | sed -n '/^inception: survey begin/,/^inception: survey end/p')
for row in 'hello +bare +exited' 'limited +bare +running' 'containerd +bare +ready' \
    'overlay +bare +exited' 'survey +bare +running'; do
    echo "$survey" | grep -qE "^$row" || fail "survey has no row '$row': $survey"
done
ok "orchd survey inside the guest shows every service"
has '^orchd-init: SIGUSR2 from the daemon \(orchd fell --poweroff\): power off'
has '^orchd: containerd: stopped' && has '^orchd: limited: stopped'
has '^orchd-init: every service is stopped'
has '^orchd-init: (unmounted|detached) /sys/fs/cgroup'
ok "fell --poweroff: services stopped, filesystems unmounted, reboot(2) powered off"

if [ "$CONTAINERS" = 1 ]; then
    has '^inception: volume: written by writer in a container$' \
        "the container oneshot's volume file was not read: $(clean | grep '^inception: volume')"
    ok "a container oneshot wrote to its volume"
    has '^inception: web: cgroup .* memory.max=50331648 pids.max=16$' \
        "web's cgroup limits not seen: $(clean | grep '^inception: web')"
    ok "a container with MEMORY 48M and TASKS_MAX 16: $(clean | grep -m1 '^inception: web')"
    for row in 'web +containerd +running' 'writer +containerd +exited'; do
        echo "$survey" | grep -qE "^$row" || fail "survey has no row '$row': $survey"
    done
    ok "survey shows the container services"
    # containerd stops only after the containers that REQUIRE it.
    l_web=$(clean | grep -n '^orchd: web: stopped' | head -n1 | cut -d: -f1)
    l_ctd=$(clean | grep -n '^orchd: containerd: stopping' | head -n1 | cut -d: -f1)
    [ -n "$l_web" ] && [ -n "$l_ctd" ] && [ "$l_web" -lt "$l_ctd" ] ||
        fail "web did not stop before containerd"
    ok "web stopped before containerd (reverse dependency order)"
    clean | grep -q '^orchd: web: stopping (sent SIGKILL' && fail "web needed SIGKILL to stop"
    ok "web stopped on SIGTERM (no SIGKILL)"
else
    echo "SKIP: the container part ($why): boot 1 ran the host services only"
fi

# ---- boot 2: a broken Orchfile, then ctrl-alt-del ---------------------------
boot "$RUN/console-broken.log" "orchd.orchfile=/etc/orchd/Broken"
wait_line '^orchd-init: /etc/orchd/Broken: no services started; the machine stays up idle' 180
t_idle=$AT
has "^orchd-init: /etc/orchd/Broken:10: RESTART 'sometimes'" "the error does not name Broken:10"
ok "a broken Orchfile: the error (Broken:10) on the console after ${t_idle}s"
sleep 3
kill -0 "$QPID" 2>/dev/null || fail "the machine did not stay up"
no_panic
ok "the machine stays up, idle"
python3 - "$RUN/monitor.sock" <<'EOF' || fail "could not talk to the qemu monitor"
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"sendkey ctrl-alt-delete\n")
time.sleep(0.5)
s.close()
EOF
wait_line '^orchd-init: SIGINT: reboot: stopping every service' 60
wait_line '^orchd-init: rebooting' 60
wait_exit "$EXIT_LIMIT"
no_panic
ok "ctrl-alt-del: SIGINT to process 1, reboot(2); qemu (-no-reboot) exited"

echo "$NAME: $checks checks passed in $(($(date +%s) - t0)) s" \
    "(boot 1: init ${t_init}s, services up ${t_up}s, powered off ${t_exit}s; boot 2: idle ${t_idle}s)"
