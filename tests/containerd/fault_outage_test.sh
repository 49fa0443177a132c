#!/bin/bash
# fell during a containerd outage (issue 11, item 4): containerd is killed
# under running containers; survey says it is not reachable; fell returns
# within its bound naming the services it could not stop; containerd comes
# back (same directory); the stops that were asked for happen then, and the
# next fell finishes the job and leaves nothing.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
CTD_NS=fout$$
ctd_setup
orchd_setup
cat >"$PROJ/Orchfile" <<'EOF'
SERVICE web
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
TIMEOUT_STOP 3s

SERVICE worker
FROM localhost/orchd-test:latest
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
TIMEOUT_STOP 3s
EOF
o grow -f "$PROJ/Orchfile" || bad "grow"
cpid=$(cat "$CTD_DIR/containerd.pid")
kill -9 "$cpid"
wait_cond 5 '! kill -0 "$cpid" 2>/dev/null'
log "containerd $cpid killed"
wait_cond 10 'o survey | grep web | grep -q "containerd: not reachable"' &&
    ok "survey says containerd is not reachable" || { bad "survey does not say so"; o survey; }
t0=$(now_ms)
out=$(timeout 120 "$ORCHD" fell 2>&1); rc=$?
t=$(( $(now_ms) - t0 ))
log "fell during the outage: rc $rc after $t ms: $out"
[ "$rc" != 0 ] && [ "$rc" != 124 ] && ok "fell failed (rc $rc) instead of hanging" || bad "fell rc $rc"
[ "$t" -lt 40000 ] && ok "fell returned within ${t} ms" || bad "fell took $t ms"
echo "$out" | grep -q "web" && echo "$out" | grep -q "worker" && ok "fell names web and worker" ||
    bad "fell does not name the services: $out"
"$SRC/scripts/containerd-start.sh" "$CTD_DIR" >/dev/null || bad "containerd did not restart"
log "containerd restarted ($(cat "$CTD_DIR/containerd.pid"))"
wait_cond 30 'state_is web stopped && state_is worker stopped' &&
    ok "the stops asked for during the outage happened once containerd was back" ||
    { bad "not stopped after containerd came back"; o survey; }
t0=$(now_ms)
timeout 60 "$ORCHD" fell || bad "the second fell"
log "second fell: $(( $(now_ms) - t0 )) ms"
assert_clean "after the last fell"
finish
