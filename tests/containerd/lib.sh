# shellcheck shell=bash
# Shared by the containerd tests (sourced, bash): a private containerd under
# a temporary directory with the busybox test image imported, torn down on
# exit whatever happens.
#
#   . "$SRC/tests/containerd/lib.sh"
#   ctd_require            # exit 77 with "SKIP: ..." when it cannot run here
#   ctd_setup              # sets CTD_DIR, CTD_SOCK, CTD_NS, CTD_IMAGE, CTD_CTR
#
# CTD_KEEP=1 keeps the directory and containerd running after the test (for
# debugging; stop it later with scripts/containerd-stop.sh DIR).

SRC=${SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CTD_NS=${CTD_NS:-orch}
CTD_IMAGE=${CTD_IMAGE:-localhost/orchd-test:latest}

ctd_skip() {
    echo "SKIP: $*"
    exit 77
}

ctd_require() {
    [ "$(id -u)" = 0 ] || ctd_skip "needs root (containerd and runc)"
    local b
    for b in containerd ctr containerd-shim-runc-v2 runc python3; do
        command -v "$b" >/dev/null 2>&1 || ctd_skip "$b is not installed"
    done
    [ -x /bin/busybox ] || ctd_skip "busybox-static is not installed"
}

ctd_cleanup() {
    local rc=$?
    if [ -n "${CTD_CLEANUP_EXTRA:-}" ]; then
        eval "$CTD_CLEANUP_EXTRA" || true
    fi
    if [ -n "${CTD_DIR:-}" ] && [ -d "$CTD_DIR" ]; then
        if [ "${CTD_KEEP:-0}" = 1 ]; then
            echo "CTD_KEEP=1: containerd left running at $CTD_SOCK ($CTD_DIR)" >&2
        else
            if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -f "$CTD_DIR/containerd.log" ]; then
                echo "--- the end of containerd.log:" >&2
                tail -n 30 "$CTD_DIR/containerd.log" >&2
            fi
            "$SRC/scripts/containerd-stop.sh" "$CTD_DIR" || rc=1
        fi
    fi
    exit $rc
}

ctd_setup() {
    # A short path: the socket name must fit in sun_path.
    CTD_DIR=$(mktemp -d /tmp/orchd-ctd.XXXXXX)
    trap ctd_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    CTD_SOCK=$("$SRC/scripts/containerd-start.sh" "$CTD_DIR") || {
        echo "FAIL: could not start containerd" >&2
        exit 1
    }
    CTD_CTR="ctr --address $CTD_SOCK --namespace $CTD_NS"
    "$SRC/scripts/build-test-image.sh" "$CTD_DIR/image.tar" "$CTD_IMAGE" 2>/dev/null || {
        echo "FAIL: could not build the test image" >&2
        exit 1
    }
    $CTD_CTR images import --snapshotter "$(cat "$CTD_DIR/snapshotter")" \
        "$CTD_DIR/image.tar" >/dev/null || {
        echo "FAIL: ctr images import failed" >&2
        exit 1
    }
}
