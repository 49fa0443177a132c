#!/bin/bash
# The README's first command brings up examples/demo: this runs that very
# Orchfile (in a private state dir and port) and checks what a user would
# see: a private containerd supervised as a host service, an image import
# oneshot, containers that REQUIRE them, a host service with an HTTP health
# check; then fell leaves nothing behind (and --keep-data keeps volumes).
set -eu
: "${ORCHD:?}" "${SRC:?}"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for b in containerd ctr runc python3 curl; do
    command -v $b >/dev/null || { echo "SKIP: $b is not installed"; exit 77; }
done

T=$(mktemp -d /tmp/orchd-demo.XXXXXX)
export ORCH_STATE_DIR=$T/state ORCH_DATA=$T/data ORCH_CONTAINERD_SOCKET=$T/state/containerd.sock
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cp -r "$SRC/examples/demo" "$T/demo"
rm -rf "$T/demo/build"
mkdir -p "$T/demo/build"
F="$T/demo/Orchfile"

cleanup() {
    rc=$?
    timeout 60 "$ORCHD" fell --orchfile "$F" >/dev/null 2>&1 || true
    pkill -9 -f "containerd --config $T/" 2>/dev/null || true
    for p in $(pgrep -f "containerd-shim-runc-v2 .*$T" 2>/dev/null); do kill -9 "$p"; done
    grep " $T" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$T"
    # the demo runs in the default namespace: its (empty) cgroup dirs
    for d in /sys/fs/cgroup/*/orchd/orch /sys/fs/cgroup/orchd/orch; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    exit $rc
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*" >&2; tail -n 40 "$ORCH_STATE_DIR/orchd.log" >&2 || true; exit 1; }
state() {
    "$ORCHD" survey --json --orchfile "$F" |
        python3 -c "import json,sys; print({x['service']:x for x in json.load(sys.stdin)}['$1']['$2'])"
}

"$SRC/scripts/build-test-image.sh" "$T/demo/build/orchd-test.tar" >/dev/null
"$ORCHD" grow --orchfile "$F" --arg web_port="$port" || fail "grow of the demo failed"
[ "$(state containerd state)" = ready ] || fail "containerd not ready"
[ "$(state image state)" = exited ] && [ "$(state image exit_code)" = 0 ] || fail "image import"
[ "$(state ticker state)" = running ] || fail "ticker not running"
[ "$(state ticker runtime)" = containerd ] || fail "ticker's runtime"
[ "$(state hello state)" = exited ] && [ "$(state hello exit_code)" = 0 ] || fail "hello"
[ "$(state web state)" = ready ] || fail "web not ready"
curl -sf "http://127.0.0.1:$port/hello.txt" | grep -q "hello from a container" ||
    fail "the web service does not serve what the container wrote"
"$ORCHD" logs --orchfile "$F" hello | grep -q "hello from a container" || fail "logs hello"
ticker=$(state ticker pid)
grep -q . "/proc/$ticker/cgroup" || fail "ticker's task pid $ticker is not a process"

"$ORCHD" fell --orchfile "$F" --keep-data || fail "fell --keep-data"
[ -f "$T/data/volumes/hello-data/hello.txt" ] || fail "--keep-data removed the volume"
[ ! -d "/proc/$ticker" ] || fail "ticker survived fell"
pgrep -f "containerd --config $T/" >/dev/null && fail "containerd survived fell"

"$ORCHD" grow --orchfile "$F" --arg web_port="$port" || fail "second grow"
"$ORCHD" fell --orchfile "$F" || fail "fell"
[ ! -d "$T/data/volumes" ] || fail "fell without --keep-data left the volumes"
pgrep -f "containerd-shim-runc-v2 .*$T" >/dev/null && fail "a shim survived"
echo PASS
