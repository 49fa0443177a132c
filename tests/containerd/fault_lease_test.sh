#!/bin/bash
# A daemon killed during an import (issue 11, item 3): the import's lease
# (orchd-import-*, 1 h expiry) and ingests must not outlive it: the next
# daemon's start-up sweep removes them, so `ctr leases ls` is empty and the
# layer's content can be collected.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
CTD_NS=flease$$
ctd_setup
orchd_setup
python3 "$SRC/tests/containerd/image_variant.py" "$CTD_DIR/image.tar" "$CTD_DIR/big.tar" \
    localhost/orchd-big:latest --big-layer 120 || bad "building the big image"
log "archive: $(du -m "$CTD_DIR/big.tar" | cut -f1) MB"
cat >"$PROJ/Orchfile" <<'EOF'
SERVICE idle
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
EOF
o grow -f "$PROJ/Orchfile" || bad "grow"
killed=0
for i in 1 2 3; do
    o import "$CTD_DIR/big.tar" >/dev/null 2>&1 &
    ip=$!
    # kill once the import has a lease (it is under way)
    wait_cond 20 '$CTD_CTR leases ls -q 2>/dev/null | grep -q "^orchd-"'
    sleep 0.$(( RANDOM % 5 ))
    d=$(daemon_pid)
    kill -9 "$d"
    wait "$ip" 2>/dev/null
    wait_cond 5 '! kill -0 "$d" 2>/dev/null'
    left=$($CTD_CTR leases ls -q 2>/dev/null | grep -c "^orchd-")
    log "kill $i: daemon $d killed mid-import; orchd leases left: $left"
    [ "$left" -gt 0 ] && killed=$((killed + 1))
    o grow -f "$PROJ/Orchfile" || bad "grow after kill $i"
    wait_cond 15 '[ -z "$($CTD_CTR leases ls -q 2>/dev/null | grep "^orchd-")" ]' &&
        ok "kill $i: no orchd lease after the next daemon start" ||
        bad "kill $i: leases left: $($CTD_CTR leases ls 2>&1)"
    # the start-up sweep is asynchronous: the ingests may go after the leases
    wait_cond 15 '[ "$($CTD_CTR content active 2>/dev/null | grep -c "orchd-")" = 0 ]'
    ing=$($CTD_CTR content active 2>/dev/null | grep -c "orchd-")
    [ "$ing" = 0 ] && ok "kill $i: no orchd ingest left" || bad "kill $i: $ing ingests left"
done
[ "$killed" -gt 0 ] && ok "$killed of 3 kills left a lease for the sweep" ||
    bad "no kill left a lease behind (the test did not test anything)"
grep "left by an earlier daemon" "$ORCH_STATE_DIR/orchd.log" | head -3
o fell >/dev/null || bad "fell"
$CTD_CTR images rm localhost/orchd-big:latest >/dev/null 2>&1
assert_clean "after the last fell"
finish
