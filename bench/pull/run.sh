#!/bin/bash
# Pull time of a multi-layer image from a loopback registry: orchd pull
# against `ctr images pull --plain-http` of the same image, same containerd,
# same run (bench/pull/README.md). Not a test: it prints a table.
#
#   bench/pull/run.sh [ORCHD]     (ORCHD defaults to build/orchd)
#
# Environment: LAYERS (default 8), LAYER_KB (default 8192: random, so gzip
# cannot shrink them), ROUNDS (default 5). Needs root, containerd, ctr,
# docker-registry, skopeo, python3.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
ORCHD=${1:-${ORCHD:-$SRC/build/orchd}}
LAYERS=${LAYERS:-8}
LAYER_KB=${LAYER_KB:-8192}
ROUNDS=${ROUNDS:-5}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
. "$SRC/tests/pull/lib.sh"
ctd_require
reg_require
[ -x "$ORCHD" ] || { echo "no orchd at $ORCHD (give its path)"; exit 1; }
CTD_NS=benchorchd
ctd_setup
orchd_setup
CTD_CLEANUP_EXTRA="orchd_teardown; reg_cleanup"
$CTD_CTR images rm "$CTD_IMAGE" >/dev/null
SNAP=$(cat "$CTD_DIR/snapshotter")
CTR_B="ctr --address $CTD_SOCK --namespace benchctr"
reg_start a
R=127.0.0.1:$REG_a_PORT
python3 "$SRC/tests/pull/make_images.py" "$CTD_DIR/image.tar" layers "$CTD_DIR/layers.tar" \
    "$LAYERS" "$LAYER_KB" >/dev/null
reg_push a "$CTD_DIR/layers.tar" layers:1
reg_push a "$CTD_DIR/image.tar" warm:1
IMG=$R/layers:1
BLOBS=$CTD_DIR/root/io.containerd.content.v1.content/blobs/sha256
total=$(curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$R/v2/layers/manifests/1" |
    python3 -c 'import json,sys; m=json.load(sys.stdin); print(sum(l["size"] for l in m["layers"]) + m["config"]["size"])')
echo "image $IMG: $((LAYERS + 1)) layers, $total bytes; containerd $(containerd --version | awk '{print $3}'), snapshotter $SNAP"

cat >"$PROJ/Orchfile" <<EOF
SERVICE warm
FROM $R/warm:1

SERVICE bench
FROM $IMG
EOF
# the daemon and its containerd module are loaded before any timing
o pull -f "$PROJ/Orchfile" warm >/dev/null || { echo "warm-up pull failed"; exit 1; }

# nothing of the image left in the store (blobs and snapshots), so each
# round fetches and unpacks everything
drain() {
    $CTD_CTR images rm "$IMG" >/dev/null 2>&1
    $CTR_B images rm "$IMG" >/dev/null 2>&1
    local i
    for i in $(seq 300); do
        [ "$(ls "$BLOBS" | wc -l)" -le 3 ] && return 0 # the warm-up image's blobs
        sleep 0.1
    done
    echo "the store did not empty: $(ls "$BLOBS" | wc -l) blobs" >&2
    return 1
}

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
o_times=()
c_times=()
for r in $(seq "$ROUNDS"); do
    drain || exit 1
    t=$(date +%s%N)
    o pull -f "$PROJ/Orchfile" bench >"$CTD_DIR/orchd.out" 2>&1 || { cat "$CTD_DIR/orchd.out"; exit 1; }
    o_times+=("$(ms "$t")")
    drain || exit 1
    t=$(date +%s%N)
    $CTR_B images pull --plain-http --snapshotter "$SNAP" "$IMG" >"$CTD_DIR/ctr.out" 2>&1 ||
        { cat "$CTD_DIR/ctr.out"; exit 1; }
    c_times+=("$(ms "$t")")
    echo "round $r: orchd pull ${o_times[-1]} ms, ctr images pull ${c_times[-1]} ms"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
mo=$(median "${o_times[@]}")
mc=$(median "${c_times[@]}")
echo
echo "| tool | median of $ROUNDS (ms) | MB/s | all rounds (ms) |"
echo "| --- | --- | --- | --- |"
echo "| orchd pull | $mo | $(( total / 1000 / (mo > 0 ? mo : 1) )) | ${o_times[*]} |"
echo "| ctr images pull --plain-http | $mc | $(( total / 1000 / (mc > 0 ? mc : 1) )) | ${c_times[*]} |"
o fell >/dev/null
exit 0
