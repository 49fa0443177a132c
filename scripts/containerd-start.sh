#!/bin/sh
# Starts a private containerd for tests: its own root, state, socket and log
# under DIR, the CRI plugin disabled (so several can run side by side), in the
# background. Prints the socket path (DIR/containerd.sock) on success.
#
#   scripts/containerd-start.sh DIR
#
# Writes DIR/config.toml, DIR/containerd.log, DIR/containerd.pid. Stop it
# (and everything it started) with scripts/containerd-stop.sh DIR.
# Environment: CONTAINERD (binary, default containerd), CONTAINERD_LOG_LEVEL
# (default info), CONTAINERD_SNAPSHOTTER (default overlayfs, or native when the
# kernel has no overlay), CONTAINERD_START_TIMEOUT (seconds, default 20).
# Needs root.
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
CONTAINERD=${CONTAINERD:-containerd}
if ! command -v "$CONTAINERD" >/dev/null 2>&1; then
    echo "$0: $CONTAINERD not found (apt-get install containerd)" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "$0: containerd needs root" >&2
    exit 1
fi

mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
SOCK="$DIR/containerd.sock"
# sockaddr_un.sun_path holds 107 bytes; ".ttrpc" is appended for the shims.
if [ ${#SOCK} -gt 100 ]; then
    echo "$0: $SOCK is too long for a unix socket; use a shorter DIR" >&2
    exit 1
fi
if [ -f "$DIR/containerd.pid" ] && kill -0 "$(cat "$DIR/containerd.pid")" 2>/dev/null; then
    echo "$0: a containerd already runs from $DIR (pid $(cat "$DIR/containerd.pid"))" >&2
    exit 1
fi

SNAPSHOTTER=${CONTAINERD_SNAPSHOTTER:-}
if [ -z "$SNAPSHOTTER" ]; then
    if grep -qw overlay /proc/filesystems 2>/dev/null; then
        SNAPSHOTTER=overlayfs
    else
        SNAPSHOTTER=native
    fi
fi

mkdir -p "$DIR/root" "$DIR/state"
cat >"$DIR/config.toml" <<EOF
# Written by scripts/containerd-start.sh: a private containerd for tests.
version = 2
root = "$DIR/root"
state = "$DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[debug]
  address = "$DIR/debug.sock"
  level = "${CONTAINERD_LOG_LEVEL:-info}"

[metrics]
  address = ""

EOF
# containerd 1.6 has no server-wide default snapshotter outside the CRI
# plugin: clients name one (ctr --snapshotter, Snapshots calls). Record the
# one that works on this kernel for them.
echo "$SNAPSHOTTER" >"$DIR/snapshotter"

: >"$DIR/containerd.log"
# setsid: containerd and its shims leave the caller's session and process
# group, so ^C or a test runner's group kill does not bypass the stop script.
setsid "$CONTAINERD" --config "$DIR/config.toml" >>"$DIR/containerd.log" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$DIR/containerd.pid"

TIMEOUT=${CONTAINERD_START_TIMEOUT:-20}
i=0
while :; do
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "$0: containerd exited during startup; the end of $DIR/containerd.log:" >&2
        tail -n 20 "$DIR/containerd.log" >&2
        exit 1
    fi
    if [ -S "$SOCK" ] && grep -q 'containerd successfully booted' "$DIR/containerd.log"; then
        break
    fi
    i=$((i + 1))
    if [ "$i" -gt $((TIMEOUT * 10)) ]; then
        echo "$0: no containerd socket at $SOCK after ${TIMEOUT}s; the end of $DIR/containerd.log:" >&2
        tail -n 20 "$DIR/containerd.log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "$SOCK"
