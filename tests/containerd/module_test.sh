#!/bin/bash
# The module boundary (docs/ARCHITECTURE.md, "Why the containerd runtime is a module"):
#  - orchd-containerd.so loads with dlopen, exports only its entry points,
#    and is what carries libgrpc; it does not link libcurl (dlopen()ed at
#    the first registry pull: pull.registry checks the daemon's maps);
#  - the orchd binary does not link libgrpc (ldd);
#  - a running daemon that supervises only host services never maps it
#    (/proc/PID/maps).
# Environment: MODULE_TEST, MODULE, ORCHD (set by ctest).
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
MODULE_TEST=${MODULE_TEST:?} MODULE=${MODULE:?} ORCHD=${ORCHD:-}
fail=0
bad() { echo "FAIL: $*"; fail=1; }

echo "== dlopen $MODULE"
"$MODULE_TEST" "$MODULE" || bad "module test"

exported=$(nm -D --defined-only "$MODULE" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sort | tr '\n' ' ')
echo "exported: $exported"
[ "$exported" = "orch_runtime_module " ] ||
    bad "the module should export only orch_runtime_module (runtime/module.h)"
ldd "$MODULE" | grep -q 'libgrpc\.so' || bad "the module does not link libgrpc (?)"
if readelf -d "$MODULE" | grep -E 'NEEDED.*(libcurl|libnghttp2|libssh2|libldap)'; then
    bad "the module links libcurl; it must dlopen() it at the first pull (common/curl_dl.h)"
else
    echo "the module does not link libcurl ($(readelf -d "$MODULE" | grep -c NEEDED) DT_NEEDED entries)"
fi
ldd "$MODULE" | grep -q 'not found' && bad "the module has unresolved libraries: $(ldd "$MODULE" | grep 'not found')"

if [ -z "$ORCHD" ] || [ ! -x "$ORCHD" ]; then
    echo "orchd binary not built ($ORCHD): the daemon checks need it"
    [ $fail = 0 ] && { echo "SKIP: orchd not built"; exit 77; }
    exit 1
fi

echo "== ldd $ORCHD"
if ldd "$ORCHD" | grep -E 'libgrpc|libgpr|libprotobuf-c|libabsl'; then
    bad "orchd links gRPC/protobuf-c; it must load them only through $(basename "$MODULE")"
else
    echo "orchd links $(ldd "$ORCHD" | wc -l) libraries, none of gRPC"
fi

echo "== a daemon with host services only does not map libgrpc"
TMP=$(mktemp -d /tmp/orchd-modtest.XXXXXX)
DPID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null && {
        "$ORCHD" fell --state-dir "$TMP/state" >/dev/null 2>&1
        kill "$DPID" 2>/dev/null
        sleep 0.3
        kill -9 "$DPID" 2>/dev/null
    }
    rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$TMP/state" "$TMP/data" "$TMP/proj"
chmod 700 "$TMP/state"
cat >"$TMP/proj/Orchfile" <<'ORCH'
SERVICE sleeper
RUN sleep 300
ORCH
ORCH_MODULE_DIR=$(dirname "$MODULE")
export ORCH_MODULE_DIR
"$ORCHD" daemon --state-dir "$TMP/state" --data-dir "$TMP/data" --project-dir "$TMP/proj" \
    --namespace "modtest$$" --containerd-socket /nonexistent/containerd.sock \
    >"$TMP/daemon.log" 2>&1 &
DPID=$!
(cd "$TMP/proj" && timeout 20 "$ORCHD" grow --state-dir "$TMP/state" --data-dir "$TMP/data" \
    --project-dir "$TMP/proj" --namespace "modtest$$" -f "$TMP/proj/Orchfile") ||
    bad "orchd grow failed: $(cat "$TMP/daemon.log")"
if kill -0 "$DPID" 2>/dev/null; then
    # ... nor libcurl or a TLS library (those come with an https HEALTHCHECK
    # only: tests/cli/health_https.sh)
    if grep -E 'libgrpc|orchd-containerd|libcurl|libssl|libgnutls' "/proc/$DPID/maps"; then
        bad "the daemon maps gRPC, the containerd module, libcurl or TLS with host services only"
    else
        echo "daemon $DPID: $(awk '{print $6}' /proc/$DPID/maps | grep -c '\.so') shared-object mappings, none of gRPC, curl or TLS;" \
            "$(grep VmRSS "/proc/$DPID/status" | tr -s ' \t' ' '), threads $(grep Threads "/proc/$DPID/status" | cut -f2)"
    fi
else
    bad "the daemon exited: $(cat "$TMP/daemon.log")"
fi
echo "== ... and maps the module once a container service appears"
cat >>"$TMP/proj/Orchfile" <<'ORCH'
SERVICE boxed
FROM localhost/orchd-test:latest
CMD sleep 300
ORCH
# containerd is not reachable at the socket given: the service fails, but the
# daemon must have loaded the module to find that out.
(cd "$TMP/proj" && timeout 20 "$ORCHD" grow --state-dir "$TMP/state" --data-dir "$TMP/data" \
    --project-dir "$TMP/proj" --namespace "modtest$$" -f "$TMP/proj/Orchfile" boxed) \
    >"$TMP/grow2.log" 2>&1
echo "grow boxed: $(head -c 300 "$TMP/grow2.log")"
if kill -0 "$DPID" 2>/dev/null; then
    grep -q 'orchd-containerd\.so' "/proc/$DPID/maps" ||
        bad "the daemon did not load the containerd module for a FROM service"
    grep -q 'libgrpc' "/proc/$DPID/maps" && echo "daemon $DPID now maps libgrpc through the module;" \
        "$(grep VmRSS "/proc/$DPID/status" | tr -s ' \t' ' '), threads $(grep Threads "/proc/$DPID/status" | cut -f2)"
else
    bad "the daemon exited after a FROM service: $(tail -5 "$TMP/daemon.log")"
fi
[ $fail = 0 ] && echo PASS || echo FAILED
exit $fail
