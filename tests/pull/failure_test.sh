#!/bin/bash
# Pulls that go wrong (issue 3, "Bad input"), each a clear error naming
# service and image, the service `failed` (not hung), and nothing
# half-written left in containerd (ctr: no lease, no active ingest, no
# record, no blob of the failed layer):
#  - the registry is killed in the middle of a 48 MB layer (served through a
#    throttling proxy so the kill lands mid-transfer): a clean failure after
#    the retries; with the registry back, the same pull succeeds and runs;
#  - a blob corrupted on the registry's disk: the digest mismatch is caught
#    (containerd verifies at commit);
#  - a blob truncated on the registry's disk;
#  - a registry that is down (connection refused);
#  - a registry that stalls in the middle of a blob (ORCH_PULL_STALL_TIMEOUT);
#  - interrupted, then resumed: a layer cut mid-transfer continues from where
#    the content store stands (an HTTP Range request) when the registry
#    comes back within the retries;
#  - libcurl cannot be loaded (it is dlopen()ed at the first pull; here the
#    daemon runs in a mount namespace where libcurl.so.4 and
#    libcurl-gnutls.so.4 are empty files): the pull fails naming why, the
#    service fails, the daemon and a container of an archive carry on.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
. "$SRC/tests/pull/lib.sh"
ctd_require
orchd_require
reg_require
CTD_NS=fail$$
ctd_setup
orchd_setup
CTD_CLEANUP_EXTRA="orchd_teardown; reg_cleanup"
$CTD_CTR images rm "$CTD_IMAGE" >/dev/null
# a stall fails after 2 s of silence (default 30 s)
export ORCH_PULL_STALL_TIMEOUT=2
reg_start a
R=127.0.0.1:$REG_a_PORT
MK="python3 $SRC/tests/pull/make_images.py $CTD_DIR/image.tar"
$MK big "$CTD_DIR/big.tar" 48 >/dev/null
$MK big "$CTD_DIR/corrupt.tar" 2 >/dev/null
$MK big "$CTD_DIR/trunc.tar" 2 >/dev/null
$MK big "$CTD_DIR/slow.tar" 2 >/dev/null
reg_push a "$CTD_DIR/big.tar" big:1
reg_push a "$CTD_DIR/corrupt.tar" corrupt:1
reg_push a "$CTD_DIR/trunc.tar" trunc:1
reg_push a "$CTD_DIR/slow.tar" slow:1
proxy_start t "$REG_a_PORT" --rate 16000000
proxy_start s "$REG_a_PORT" --stall-blobs
T=127.0.0.1:$PROXY_t_PORT
S=127.0.0.1:$PROXY_s_PORT
DOWN=127.0.0.1:$(free_port)
log "registry $R, throttled proxy $T, stalling proxy $S"

last_layer() {
    curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$R/v2/$1/manifests/1" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][-1]["digest"])'
}
blob_file() { echo "$REG_a_DIR/storage/docker/registry/v2/blobs/sha256/${1:7:2}/${1:7}/data"; }
BIG=$(last_layer big)
CORRUPT=$(last_layer corrupt)
TRUNC=$(last_layer trunc)
SLOW=$(last_layer slow)

cat >"$PROJ/Orchfile" <<EOF
SERVICE big
FROM $T/big:1
CMD sh -c "ls -l /data; trap 'exit 0' TERM; sleep 600 & wait"

SERVICE corrupt
FROM $R/corrupt:1

SERVICE trunc
FROM $R/trunc:1

SERVICE down
FROM $DOWN/orchd-test:1

SERVICE slow
FROM $S/slow:1
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
EOF

# nothing of a failed image: no record, no blob of the layer, no lease, no ingest
assert_nothing_of() {
    local svc=$1 image=$2 layer=$3
    has_image "$image" && bad "$svc: an image record for $image after the failure"
    [ -n "$layer" ] && has_content "$layer" && bad "$svc: layer $layer is in the content store"
    assert_no_leftovers "$svc"
}

# ---- killed in the middle of a layer
: >"$CTD_DIR/kill.log"
(
    # kill the registry once the big layer is being written
    for i in $(seq 200); do
        n=$($CTD_CTR content active 2>/dev/null | awk -v d="${BIG:7}" '$1 ~ d { print $2 }' | head -1)
        case $n in *MB|*MiB) break ;; esac
        sleep 0.05
    done
    echo "killing the registry (ingest at ${n:-?})" >>"$CTD_DIR/kill.log"
    reg_stop a
) &
killer=$!
t0=$(now_ms)
o pull -f "$PROJ/Orchfile" big >"$CTD_DIR/kill.out" 2>&1 && bad "the pull survived the registry's death"
wait $killer
took=$(( $(now_ms) - t0 ))
cat "$CTD_DIR/kill.log"
grep -qE "service big: image $T/big:1: downloading layer $BIG from $T: (HTTP 502|.*Connection refused|transfer closed)" \
    "$CTD_DIR/kill.out" && ok "registry killed mid-pull: failed in $took ms: $(grep 'service big' "$CTD_DIR/kill.out")" ||
    { bad "registry killed mid-pull"; cat "$CTD_DIR/kill.out"; }
grep -q "layer ${BIG:7:12}: failed at" "$CTD_DIR/kill.out" &&
    ok "the layer's line says where it stopped: $(grep "${BIG:7:12}: failed" "$CTD_DIR/kill.out")" ||
    bad "no failed layer line"
assert_nothing_of big "$T/big:1" "$BIG"

reg_start a # the same port and storage
t0=$(now_ms)
o grow -f "$PROJ/Orchfile" big 2>"$CTD_DIR/retry.err" || { bad "grow after the registry came back"; cat "$CTD_DIR/retry.err"; }
state_is big running && has_image "$T/big:1" && has_content "$BIG" &&
    ok "with the registry back, the pull succeeds ($(( $(now_ms) - t0 )) ms) and the service runs" ||
    { bad "retry: $(survey_field big state) $(survey_field big error)"; cat "$CTD_DIR/retry.err"; }
wait_cond 10 'grep -q random-0 "$ORCH_STATE_DIR/logs/$CTD_NS.big.log"' &&
    ok "the 48 MB layer is in the container" || bad "no /data/random-0 in the container"
assert_no_leftovers "after the successful retry"

# ---- a corrupted blob
printf 'XXXXXXXX' | dd of="$(blob_file "$CORRUPT")" bs=1 seek=1000 conv=notrunc 2>/dev/null
o grow -f "$PROJ/Orchfile" corrupt 2>"$CTD_DIR/corrupt.err"
e=$(survey_field corrupt error)
state_is corrupt failed && echo "$e" | grep -q "digest mismatch: the bytes received for $CORRUPT have digest sha256:" &&
    ok "a corrupted blob: $e" || { bad "corrupt: $(survey_field corrupt state): $e"; cat "$CTD_DIR/corrupt.err"; }
assert_nothing_of corrupt "$R/corrupt:1" "$CORRUPT"

# ---- a truncated blob
truncate -s 100000 "$(blob_file "$TRUNC")"
o pull -f "$PROJ/Orchfile" trunc >"$CTD_DIR/trunc.out" 2>&1 && bad "the truncated blob was pulled"
grep -qE "service trunc: image $R/trunc:1: .*($TRUNC is truncated: received 100000 of|transfer closed)" "$CTD_DIR/trunc.out" &&
    ok "a truncated blob: $(grep 'service trunc' "$CTD_DIR/trunc.out")" ||
    { bad "truncated"; cat "$CTD_DIR/trunc.out"; }
assert_nothing_of trunc "$R/trunc:1" "$TRUNC"

# ---- a registry that is down
t0=$(now_ms)
o grow -f "$PROJ/Orchfile" down 2>/dev/null
e=$(survey_field down error)
state_is down failed && echo "$e" | grep -q "cannot reach the registry $DOWN" &&
    ok "a registry that is down: failed in $(( $(now_ms) - t0 )) ms: $e" ||
    bad "down: $(survey_field down state): $e"
assert_nothing_of down "$DOWN/orchd-test:1" ""

# ---- a registry that stalls
t0=$(now_ms)
timeout 60 "$ORCHD" grow -f "$PROJ/Orchfile" slow 2>"$CTD_DIR/slow.err"
took=$(( $(now_ms) - t0 ))
e=$(survey_field slow error)
state_is slow failed && echo "$e" | grep -qi "too slow\|timed out\|timeout" &&
    [ $took -lt 40000 ] && ok "a stalling registry: failed (not hung) in $took ms: $e" ||
    { bad "slow: $(survey_field slow state) after $took ms: $e"; cat "$CTD_DIR/slow.err"; }
assert_nothing_of slow "$S/slow:1" "$SLOW"

# ---- interrupted, resumed from where the store stands
$CTD_CTR images rm "$T/big:1" >/dev/null
o fell big >/dev/null
wait_cond 10 '! has_content "$BIG"' || bad "the big layer stayed after its image was removed"
(
    for i in $(seq 200); do
        n=$($CTD_CTR content active 2>/dev/null | awk -v d="${BIG:7}" '$1 ~ d { print $2 }' | head -1)
        case $n in *MB|*MiB) break ;; esac
        sleep 0.05
    done
    reg_stop a
    sleep 0.3
    reg_start a
) >/dev/null 2>&1 &
bouncer=$!
o pull -f "$PROJ/Orchfile" big >"$CTD_DIR/resume.out" 2>&1 || { bad "the pull did not survive a short outage"; cat "$CTD_DIR/resume.out"; }
wait $bouncer
has_image "$T/big:1" && ok "a short outage: the pull retried and completed" ||
    { bad "no image after the outage"; cat "$CTD_DIR/resume.out"; }
ranged=$(grep -E "^GET /v2/big/blobs/$BIG Range: bytes=[1-9][0-9]*-" "$CTD_DIR/proxy-t.log" | tail -1)
[ -n "$ranged" ] && ok "the layer was resumed, not fetched again: $ranged" ||
    { bad "no ranged GET of the layer"; grep "$BIG" "$CTD_DIR/proxy-t.log"; }
assert_no_leftovers "after the resumed pull"

# ---- the daemon leaves in the middle of a pull (fell while it stalls)
$CTD_CTR images rm "$S/slow:1" >/dev/null 2>&1
o pull -f "$PROJ/Orchfile" slow >"$CTD_DIR/leave.out" 2>&1 &
puller=$!
wait_cond 10 '$CTD_CTR content active | grep -q "${SLOW:7}"' || bad "the stalled pull did not start"
pid=$(daemon_pid)
t0=$(now_ms)
o fell >/dev/null || bad "fell during a pull"
wait $puller && bad "the pull succeeded though the daemon left"
wait_cond 20 '! kill -0 "$pid"' && ok "fell during a pull: the daemon left in $(( $(now_ms) - t0 )) ms" ||
    bad "the daemon did not leave"
grep -q "service slow: image $S/slow:1: orchd is shutting down" "$CTD_DIR/leave.out" &&
    ok "the pull's client was told: $(grep 'service slow' "$CTD_DIR/leave.out")" ||
    { bad "the pull's client"; cat "$CTD_DIR/leave.out"; }
assert_nothing_of "fell during a pull" "$S/slow:1" "$SLOW"

# ---- libcurl cannot be loaded
hide=""
for l in libcurl.so.4 libcurl-gnutls.so.4; do
    f=$(ldconfig -p | awk -v l="$l" '$1 == l { print $NF; exit }')
    [ -n "$f" ] && hide="$hide $(readlink -f "$f")"
done
cat >"$PROJ/Orchfile.nocurl" <<ORCH
SERVICE local
FROM oci-archive:$CTD_DIR/image.tar
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"

SERVICE pulled
FROM $R/nocurl:1
CMD true
ORCH
# grow starts the daemon, which stays in this mount namespace
# shellcheck disable=SC2016 # expanded by the inner bash
unshare -m bash -c 'for f in $1; do mount --bind /dev/null "$f" || exit 99; done; shift; exec "$@"' \
    hide "$hide" "$ORCHD" grow -f "$PROJ/Orchfile.nocurl" >"$CTD_DIR/nocurl.out" 2>&1
rc=$?
[ $rc = 99 ] && bad "could not hide libcurl ($hide)"
[ $rc = 0 ] && bad "grow succeeded with libcurl hidden"
pid=$(daemon_pid)
msg=$(grep "^$R/nocurl:1: failed: " "$CTD_DIR/nocurl.out")
grep -q "cannot load libcurl (.*libcurl\.so\.4: file too short.*): registry pulls need it" <<<"$msg" &&
    grep 'service pulled' "$CTD_DIR/nocurl.out" | grep -q 'cannot load libcurl' &&
    ok "libcurl hidden: the pull fails naming why: $msg" || { bad "no libcurl: the message"; cat "$CTD_DIR/nocurl.out"; }
state_is pulled failed && ok "the service failed: $(survey_field pulled error)" ||
    bad "pulled: $(survey_field pulled state) $(survey_field pulled error)"
state_is local running && ok "the container of the archive runs (in the same daemon)" ||
    bad "local: $(survey_field local state) $(survey_field local error)"
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    grep -q libcurl "/proc/$pid/maps" && bad "daemon $pid maps libcurl (?)" ||
        ok "daemon $pid alive, no libcurl mapped"
else
    bad "the daemon is gone after a pull without libcurl"
fi
# the failure is kept, not retried against the loader
o pull -f "$PROJ/Orchfile.nocurl" pulled >"$CTD_DIR/nocurl2.out" 2>&1 && bad "a second pull succeeded"
grep -q 'cannot load libcurl' "$CTD_DIR/nocurl2.out" && ok "a second pull: the same reason" ||
    { bad "a second pull"; cat "$CTD_DIR/nocurl2.out"; }
assert_no_leftovers "after pulls without libcurl"
o fell >/dev/null || bad "fell (no libcurl)"
wait_cond 20 '! kill -0 "$pid"' || bad "the daemon without libcurl did not leave"

assert_clean "after fell"
finish
