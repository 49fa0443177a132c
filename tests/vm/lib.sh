# Shared setup of the vm tests (sourced): skips without qemu or a kernel,
# makes $T (removed at exit, with every daemon and qemu the test started),
# the busybox image $T/img.tar, and cd's there. $K: the kernel directory.
# KEEP=DIR copies the service logs to DIR before the cleanup (debugging).
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 not installed"; exit 77; }
T=$(mktemp -d /tmp/orchd-vm-test.XXXXXX)
export ORCH_STATE_DIR=$T/state ORCH_DATA=$T/data ORCH_PROJECT=$T ORCH_VM_ACCEL=${ORCH_VM_ACCEL:-tcg}
# a namespace of its own: the vm tests may run beside the containerd ones
# (another ctest lock), whose services (web, hello) would share its cgroups
export ORCH_NAMESPACE=vm$$
vm_cleanup() {
    "$ORCHD" fell >/dev/null 2>&1
    for p in $(cat "$T"/qemu.pids 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    for d in /sys/fs/cgroup/*/orchd/"$ORCH_NAMESPACE" /sys/fs/cgroup/orchd/"$ORCH_NAMESPACE"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    [ -n "${KEEP:-}" ] && cp -r "$T"/state/logs "$KEEP"; rm -rf "$T"
}
trap vm_cleanup EXIT
fail() { echo "FAIL: $*"; tail -n 40 "$T"/state/logs/*.log 2>/dev/null; exit 1; }
sv() { "$ORCHD" survey --json | python3 -c "import json,sys; s={x['service']:x for x in json.load(sys.stdin)}; print($1)"; }
wait_log() { # FILE REGEX SECONDS
    local i
    for i in $(seq 1 $(($3 * 4))); do grep -aq "$2" "$1" 2>/dev/null && return 0; sleep 0.25; done
    return 1
}
vm_setup() {
    KDIR=${ORCH_VM_KERNEL:-/var/cache/orchd-vm-kernel}
    if ! K=$(bash "$SRC/examples/inception/fetch-kernel.sh" "$KDIR" 2>"$T/fetch.err"); then
        echo "SKIP: no guest kernel: $(tail -n1 "$T/fetch.err")"; exit 77
    fi
    sh "$SRC/scripts/build-test-image.sh" "$T/img.tar" >/dev/null 2>&1 || { echo "SKIP: cannot build the busybox image"; exit 77; }
    cd "$T" || exit 1
}
