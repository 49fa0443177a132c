#!/bin/bash
# A runtime module built for another module ABI is refused before any of its
# code runs, with a message naming the file and both versions; the host
# services beside it keep running (runtime/module.h, docs/ARCHITECTURE.md).
. "$SRC/tests/cli/lib/common.sh"
: "${FAKE_MODULE_1:?}" "${FAKE_MODULE_99:?}"

cat >Orchfile <<'ORCH'
SERVICE host
RUN sleep 300

SERVICE boxed
FROM localhost/never-pulled:latest
ORCH

# Each daemon (started by its first grow) looks for modules in
# ORCH_MODULE_DIR: one daemon per fake module.
printf 'SERVICE host\nRUN sleep 300\n' >Host
for version in 99 1; do
    fake=FAKE_MODULE_$version
    ABI=$(sed -n 's/^#define ORCH_MODULE_ABI_VERSION \([0-9]*\)u$/\1/p' \
        "$(dirname "$0")/../../src/runtime/module.h")
    dir="$T/mod$version"
    mkdir -p "$dir"
    cp "${!fake}" "$dir/orchd-containerd.so"
    export ORCH_MODULE_DIR=$dir
    "$ORCHD" grow -f Host >/dev/null || fail "grow of the host service"
    pid=$(sv "s['host']['pid']")
    if "$ORCHD" grow --pull never >"$T/grow$version.out" 2>&1; then
        fail "grow with an ABI $version module succeeded: $(cat "$T/grow$version.out")"
    fi
    out=$(cat "$T/grow$version.out")
    echo "ABI $version: $out"
    case "$out" in
    *"$dir/orchd-containerd.so"*"ABI version $version"*"needs version $ABI"*) ;;
    *) fail "the refusal of an ABI $version module does not name the file and both versions: $out" ;;
    esac
    [ "$(sv "s['host']['state']")" = running ] || fail "the host service did not keep running"
    [ "$(sv "s['host']['pid']")" = "$pid" ] || fail "the host service was restarted"
    "$ORCHD" fell >/dev/null 2>&1 || fail "fell"
done
echo PASS
