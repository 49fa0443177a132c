#!/bin/bash
# The containerd transport against a private containerd, and against
# sockets that are not containerd. Runs ctd_transport_test (TRANSPORT_TEST).
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
T=${TRANSPORT_TEST:?TRANSPORT_TEST: path of ctd_transport_test}
. "$SRC/tests/containerd/lib.sh"

fail=0
check() {
    echo "== $*"
    "$@" || { echo "FAIL: $*"; fail=1; }
}

# No containerd needed for these.
check "$T" unit
CTD_CLEANUP_EXTRA='kill $(jobs -p) 2>/dev/null; rm -f /tmp/orchd-fake.$$.*'
check "$T" unreachable /nonexistent/containerd.sock \
    "containerd not reachable at /nonexistent/containerd.sock: no such file"
check "$T" unreachable "unix:///nonexistent/containerd.sock" \
    "containerd not reachable at /nonexistent/containerd.sock"
# A regular file, a stale socket, a socket that accepts and hangs up, and one
# that accepts and never answers (the deadline applies).
touch /tmp/orchd-fake.$$.file
check "$T" unreachable /tmp/orchd-fake.$$.file "not a unix socket"
python3 - /tmp/orchd-fake.$$.stale <<'PY'
import socket, sys
socket.socket(socket.AF_UNIX).bind(sys.argv[1])
PY
check "$T" unreachable /tmp/orchd-fake.$$.stale "connection refused"
for mode in close hold; do
    python3 - /tmp/orchd-fake.$$.$mode $mode <<'PY' &
import os, socket, sys
path, mode = sys.argv[1:3]
s = socket.socket(socket.AF_UNIX)
s.bind(path + ".new")
s.listen(16)
os.rename(path + ".new", path)  # appears only once it listens
held = []
while True:
    c, _ = s.accept()
    if mode == "close":
        c.close()
    else:
        held.append(c)
PY
done
for _ in $(seq 50); do
    [ -S /tmp/orchd-fake.$$.close ] && [ -S /tmp/orchd-fake.$$.hold ] && break
    sleep 0.1
done
check "$T" unreachable /tmp/orchd-fake.$$.close \
    "the socket accepts connections: is it containerd's"
check "$T" unreachable /tmp/orchd-fake.$$.hold "did not answer" 1000

# A real one.
[ $fail = 0 ] || { echo FAILED; exit 1; }
ctd_require
ctd_setup
echo "containerd at $CTD_SOCK"
check "$T" live "$CTD_SOCK" "$CTD_NS" "$CTD_IMAGE"
check "$T" reconnect "$CTD_SOCK" \
    "kill \$(cat $CTD_DIR/containerd.pid); while kill -0 \$(cat $CTD_DIR/containerd.pid) 2>/dev/null; do sleep 0.05; done" \
    "$SRC/scripts/containerd-start.sh $CTD_DIR >/dev/null"
# The harness itself: the image runs and says hello.
out=$($CTD_CTR run --rm --snapshotter "$(cat "$CTD_DIR/snapshotter")" "$CTD_IMAGE" \
    "orchd-transport-$$" sh -c 'echo hello from $(id -un)' 2>&1)
if [ "$out" = "hello from root" ]; then
    echo "ctr run: $out"
else
    echo "FAIL: ctr run printed: $out"
    fail=1
fi
[ $fail = 0 ] && echo PASS || echo FAILED
exit $fail
