#!/bin/sh
# Stops a private containerd started by scripts/containerd-start.sh DIR and
# removes everything it left: tasks in every namespace (killed through ctr),
# containerd itself (SIGTERM, then SIGKILL), leftover runc shims whose command
# line names DIR (and their containers), mounts under DIR, then DIR.
#
#   scripts/containerd-stop.sh DIR
#
# Safe to run twice, and on a half-started DIR. Never follows mounts when
# deleting (rm --one-file-system), so a bind mount left under DIR cannot take
# host files with it. Needs root.
set -u

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
[ -d "$1" ] || exit 0
DIR=$(cd "$1" && pwd -P)
case "$DIR" in
/ | /tmp | /var | /var/tmp | /run | /home | /root)
    echo "$0: refusing to clean up $DIR" >&2
    exit 1
    ;;
esac
if [ ! -f "$DIR/config.toml" ] && [ ! -f "$DIR/containerd.pid" ]; then
    echo "$0: $DIR was not made by containerd-start.sh (no config.toml or containerd.pid)" >&2
    exit 1
fi
SOCK="$DIR/containerd.sock"
CTR="ctr --address $SOCK --timeout 10s"

PID=""
if [ -f "$DIR/containerd.pid" ]; then
    PID=$(cat "$DIR/containerd.pid")
    # Only a containerd started from this DIR's config.
    if [ -z "$PID" ] || ! tr '\0' ' ' <"/proc/$PID/cmdline" 2>/dev/null | grep -qF "$DIR/config.toml"; then
        PID=""
    fi
fi

# 1. Tasks, through containerd while it still runs.
if [ -n "$PID" ] && [ -S "$SOCK" ] && command -v ctr >/dev/null 2>&1; then
    for ns in $($CTR namespaces ls -q 2>/dev/null); do
        tasks=$($CTR -n "$ns" tasks ls -q 2>/dev/null)
        [ -n "$tasks" ] || continue
        for t in $tasks; do
            $CTR -n "$ns" tasks kill --all --signal SIGKILL "$t" >/dev/null 2>&1
        done
        for t in $tasks; do
            i=0
            while [ $i -lt 50 ]; do
                st=$($CTR -n "$ns" tasks ls 2>/dev/null | awk -v id="$t" '$1 == id { print $3 }')
                [ "$st" = RUNNING ] || break
                sleep 0.1
                i=$((i + 1))
            done
            $CTR -n "$ns" tasks delete --force "$t" >/dev/null 2>&1
        done
    done
fi

# 2. containerd: SIGTERM, up to 10 s, then SIGKILL.
if [ -n "$PID" ]; then
    kill -TERM "$PID" 2>/dev/null
    i=0
    while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$PID" 2>/dev/null; then
        echo "$0: containerd $PID ignored SIGTERM for 10 s; killing it" >&2
        kill -KILL "$PID" 2>/dev/null
        sleep 0.2
    fi
fi

# 3. Containers runc still knows about whose bundle lies under DIR (left when
#    containerd died with tasks running): runc kills their processes and
#    removes their cgroups and state (/run/containerd/runc/<ns>/<id>).
if command -v runc >/dev/null 2>&1; then
    for st in /run/containerd/runc/*/*/state.json; do
        [ -f "$st" ] || continue
        grep -qF "\"$DIR/" "$st" 2>/dev/null || continue
        d=${st%/state.json}
        runc --root "${d%/*}" delete --force "${d##*/}" >/dev/null 2>&1 ||
            echo "$0: runc could not delete container ${d##*/} (${d%/*})" >&2
        rmdir "${d%/*}" 2>/dev/null
    done
fi

# 4. Shims of this containerd (their command line names DIR's socket) and
#    whatever they still run.
descendants() {
    for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        descendants "$c"
        echo "$c"
    done
}
for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    case "$comm" in
    containerd-shim*) ;;
    *) continue ;;
    esac
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$DIR/" || continue
    kids=$(descendants "$pid")
    # shellcheck disable=SC2086
    [ -n "$kids" ] && kill -KILL $kids 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
done

# 5. Mounts under DIR, deepest first.
umount_all() {
    awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
for _ in 1 2 3; do
    m=$(umount_all)
    [ -n "$m" ] || break
    for mp in $m; do
        umount "$mp" 2>/dev/null || umount -R "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null
    done
done
left=$(umount_all)
if [ -n "$left" ]; then
    echo "$0: still mounted under $DIR:" >&2
    echo "$left" >&2
fi

# 6. The directory, never crossing into a mount.
rm -rf --one-file-system "$DIR" 2>/dev/null || {
    echo "$0: could not remove all of $DIR" >&2
    exit 1
}
exit 0
