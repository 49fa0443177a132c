#!/bin/bash
# Images and bad input (issue 5, step 1 and "Bad input"):
#  - an image imported without unpacking, two layers behind a nested index:
#    orchd unpacks it (Diff.Apply onto prepared snapshots, commit by chain
#    ID, under a lease), labels the config for the GC, and runs it; the
#    snapshots survive the lease and the container's removal;
#  - the image's StopSignal is what stops it;
#  - bad input, each a clear error naming the service, with nothing left in
#    containerd: image not in the store, an image with neither entrypoint nor
#    cmd, a named user the image lacks, a volume source that is a file, a
#    LIMIT_NOFILE above the host's hard limit, a port remap; containerd not
#    reachable (no socket), and a socket that is not containerd's;
#  - a containerd without overlayfs: orchd falls back to the native
#    snapshotter by itself and unpacks the image there.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
CTD_NS=img$$
ctd_setup
orchd_setup
log "containerd at $CTD_SOCK, namespace $CTD_NS"
V="python3 $SRC/tests/containerd/image_variant.py $CTD_DIR/image.tar"

$V "$CTD_DIR/two.tar" localhost/orchd-test:two --extra-layer --nested-index &&
    $CTD_CTR images import --no-unpack "$CTD_DIR/two.tar" >/dev/null || bad "import two"
$V "$CTD_DIR/ghost.tar" localhost/orchd-test:ghost --user ghost &&
    $CTD_CTR images import --no-unpack "$CTD_DIR/ghost.tar" >/dev/null || bad "import ghost"
$V "$CTD_DIR/nocmd.tar" localhost/orchd-test:nocmd --no-cmd &&
    $CTD_CTR images import --no-unpack "$CTD_DIR/nocmd.tar" >/dev/null || bad "import nocmd"
$V "$CTD_DIR/app.tar" localhost/orchd-test:app --user app --workdir /home/app &&
    $CTD_CTR images import --no-unpack "$CTD_DIR/app.tar" >/dev/null || bad "import app"
$V "$CTD_DIR/usr1.tar" localhost/orchd-test:usr1 --stop-signal SIGUSR1 &&
    $CTD_CTR images import "$CTD_DIR/usr1.tar" >/dev/null || bad "import usr1"
# The chain ID of the two-layer image, computed here independently
# (image-spec identity.ChainID) from its config in the archive.
chain_two=$(python3 - "$CTD_DIR/two.tar" <<'EOF'
import hashlib, json, sys, tarfile
tf = tarfile.open(sys.argv[1])
blob = lambda d: tf.extractfile("blobs/sha256/" + d.split(":", 1)[1]).read()
desc = json.loads(tf.extractfile("index.json").read())["manifests"][0]
m = json.loads(blob(desc["digest"]))
while "manifests" in m:
    m = json.loads(blob(m["manifests"][0]["digest"]))
chain = None
for d in json.loads(blob(m["config"]["digest"]))["rootfs"]["diff_ids"]:
    chain = d if chain is None else "sha256:" + hashlib.sha256((chain + " " + d).encode()).hexdigest()
print(chain)
EOF
)
committed() { $CTD_CTR snapshots --snapshotter "$ORCH_SNAPSHOTTER" ls | awk '$NF == "Committed"' | wc -l; }
before=$(committed)

mkdir -p "$PROJ"
touch "$PROJ/a-file"
nofile_hard=$(ulimit -Hn)
cat >"$PROJ/Orchfile" <<EOF
SERVICE two
FROM localhost/orchd-test:two
CMD sh -c "cat /etc/orchd-variant; trap 'exit 0' TERM; sleep 600 & wait"

SERVICE asapp
FROM localhost/orchd-test:app
CMD sh -c "id; pwd; trap 'exit 0' TERM; sleep 600 & wait"

SERVICE stopsig
FROM localhost/orchd-test:usr1
CMD sh -c "trap 'exit 0' USR1; sleep 600 & wait"

SERVICE missing
FROM localhost/no-such-image:1

SERVICE nocmd
FROM localhost/orchd-test:nocmd

SERVICE ghost
FROM localhost/orchd-test:ghost
CMD true

SERVICE filevol
FROM localhost/orchd-test:latest
CMD true
VOLUME ./a-file:/data

SERVICE toomany
FROM localhost/orchd-test:latest
CMD true
LIMIT_NOFILE $((nofile_hard + 1))

SERVICE remap
FROM localhost/orchd-test:latest
CMD true
PUBLISH 8080:80
EOF

t=$(now_ms)
o grow -f "$PROJ/Orchfile" >"$CTD_DIR/grow.out" 2>&1 && bad "grow succeeded with bad services"
log "grow (daemon start, unpack of a two-layer image, six failures): $(( $(now_ms) - t )) ms"

# ---- the unpacked image runs
[ "$(survey_field two state)" = running ] && ok "two-layer image (nested index, not unpacked) runs" ||
    bad "two: $(survey_field two state): $(survey_field two error)"
wait_cond 5 'grep -q "variant layer" "$ORCH_STATE_DIR/logs/$CTD_NS.two.log"'
grep -q "variant layer" "$ORCH_STATE_DIR/logs/$CTD_NS.two.log" && ok "the second layer is in its rootfs" ||
    bad "two's log: $(cat "$ORCH_STATE_DIR/logs/$CTD_NS.two.log" 2>&1)"
after=$(committed)
# the first layer is the base image's (unpacked by the import in ctd_setup):
# only the second link of the chain is new
[ "$after" = $((before + 1)) ] && ok "orchd committed the missing snapshot of the chain ($before -> $after)" ||
    bad "committed snapshots $before -> $after"
$CTD_CTR snapshots --snapshotter "$ORCH_SNAPSHOTTER" ls | grep -q "^$chain_two " &&
    ok "its top snapshot is named by the chain ID ${chain_two:0:19}..." ||
    bad "no snapshot $chain_two: $($CTD_CTR snapshots --snapshotter "$ORCH_SNAPSHOTTER" ls)"
$CTD_CTR content ls | grep -q "containerd.io/gc.ref.snapshot.$ORCH_SNAPSHOTTER=" &&
    ok "config blob labelled containerd.io/gc.ref.snapshot.$ORCH_SNAPSHOTTER" ||
    bad "no gc.ref.snapshot label on any content"
[ -z "$($CTD_CTR leases ls -q)" ] && ok "no lease left after the unpack" || bad "leases: $($CTD_CTR leases ls -q)"
wait_cond 5 'grep -qE "(^|Z )/home/app$" "$ORCH_STATE_DIR/logs/$CTD_NS.asapp.log"'
grep -q "uid=1000(app) gid=1000(app)" "$ORCH_STATE_DIR/logs/$CTD_NS.asapp.log" &&
    grep -qE "(^|Z )/home/app$" "$ORCH_STATE_DIR/logs/$CTD_NS.asapp.log" &&
    ok "the image's named user (app, from its /etc/passwd) and WorkingDir apply" ||
    bad "asapp: $(cat "$ORCH_STATE_DIR/logs/$CTD_NS.asapp.log" 2>&1)"

# ---- the image's StopSignal replaces SIGTERM (as docker stop does): sh as
# PID 1 ignores SIGTERM, but traps SIGUSR1
t=$(now_ms)
o fell stopsig || bad "fell stopsig"
dt=$(( $(now_ms) - t ))
[ $dt -lt 5000 ] && ok "stopped by the image's StopSignal SIGUSR1 in $dt ms (TIMEOUT_STOP is 10s)" ||
    bad "fell stopsig took $dt ms: SIGTERM instead of the image's SIGUSR1?"

# ---- bad input: clear errors naming the service, nothing in containerd
expect_error() { # service pattern
    local e
    e=$(survey_field "$1" error)
    if [ "$(survey_field "$1" state)" = failed ] && grep -qE -- "$2" <<<"$e" &&
        grep -qE -- "service $1: .*$2" "$CTD_DIR/grow.out"; then
        ok "$1: $e"
    else
        bad "$1: state $(survey_field "$1" state), error '$e' (want /$2/); grow said: $(grep "service $1" "$CTD_DIR/grow.out")"
    fi
    [ -z "$($CTD_CTR containers ls -q | grep -x "$CTD_NS-$1")" ] || bad "$1: a container was left"
}
expect_error missing "image localhost/no-such-image:1 is not in containerd's store \(namespace $CTD_NS\); pull or import it first"
expect_error nocmd "no entrypoint or cmd"
expect_error ghost "user 'ghost' not found in the image's /etc/passwd"
expect_error filevol "the source $PROJ/a-file is not a directory \(.*Orchfile:[0-9]+\)"
expect_error toomany "LIMIT_NOFILE $((nofile_hard + 1)) exceeds this host's hard limit"
expect_error remap "PUBLISH 8080:80 maps host port 8080 to container port 80, but containers share the host.s network, which cannot remap ports: publish the same port on both sides \(80:80\)"
# ... said once per place: not repeated inside its own line
[ "$(grep -o "cannot remap ports" <<<"$(survey_field remap error)" | wc -l)" = 1 ] &&
    ok "remap: the reason is given once" || bad "remap: the reason is repeated: $(survey_field remap error)"
# orchd validate refuses it before any grow, at the PUBLISH line
o validate "$PROJ/Orchfile" >"$CTD_DIR/validate.out" 2>&1 && bad "validate accepted a remap"
grep -qE "$PROJ/Orchfile:[0-9]+: service remap: PUBLISH 8080:80 maps host port 8080" "$CTD_DIR/validate.out" &&
    ok "validate refuses the remap" || bad "validate: $(cat "$CTD_DIR/validate.out")"
c=$($CTD_CTR containers ls -q | sort | tr '\n' ' ')
[ "$c" = "$CTD_NS-asapp $CTD_NS-two " ] && ok "only the two good containers exist" || bad "containers: $c"
s=$($CTD_CTR snapshots --snapshotter "$ORCH_SNAPSHOTTER" ls | awk 'NR > 1 && $NF != "Committed" { print $1 }' | sort | tr '\n' ' ')
[ "$s" = "$CTD_NS-asapp $CTD_NS-two " ] && ok "and only their two active snapshots" || bad "active snapshots: $s"

o fell || bad "fell failed"
assert_clean "after fell"
sleep 1 # containerd's GC runs after deletions
[ "$(committed)" = "$after" ] && ok "the unpacked snapshots survive the GC (referenced by the image)" ||
    bad "committed snapshots after GC: $(committed), were $after"

# ---- containerd not reachable; a socket that is not containerd
NOSOCK=$CTD_DIR/nothing-here.sock
FAKE=$CTD_DIR/fake.sock
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(16)
while True:
    c, _ = s.accept()
    c.recv(1024)
    c.close()
' "$FAKE" &
FAKE_PID=$!
CTD_CLEANUP_EXTRA="orchd_teardown; kill $FAKE_PID 2>/dev/null"
wait_cond 5 '[ -S "$FAKE" ]'
cat >"$PROJ/Orchfile.one" <<'EOF'
SERVICE lonely
FROM localhost/orchd-test:latest
CMD true
EOF
for sock in "$NOSOCK" "$FAKE"; do
    ORCH_CONTAINERD_SOCKET=$sock
    ORCH_STATE_DIR=$CTD_DIR/st-$(basename "$sock" .sock)
    t=$(now_ms)
    out=$(timeout 60 "$ORCHD" grow -f "$PROJ/Orchfile.one" 2>&1) && bad "grow against $sock succeeded"
    dt=$(( $(now_ms) - t ))
    case "$sock:$out" in
    "$NOSOCK:"*"service lonely: "*"containerd not reachable at $NOSOCK: no such file"*)
        ok "no socket ($dt ms): $out" ;;
    "$FAKE:"*"service lonely: "*"containerd not reachable at $FAKE"*"is it containerd's"*)
        ok "not containerd ($dt ms): $out" ;;
    *) bad "against $sock: $out" ;;
    esac
    orchd_teardown
done
ORCH_CONTAINERD_SOCKET=$CTD_SOCK
ORCH_STATE_DIR=$CTD_DIR/st
kill "$FAKE_PID" 2>/dev/null

# ---- no overlayfs: orchd falls back to native (and unpacks every layer)
# containerd again, with its overlayfs snapshotter disabled
cpid=$(cat "$CTD_DIR/containerd.pid")
kill "$cpid"
wait_cond 20 '! kill -0 "$cpid"' || bad "containerd did not stop"
cat >"$CTD_DIR/containerd-nooverlay" <<'EOF'
#!/bin/sh
# containerd --config FILE, with the overlayfs snapshotter disabled
sed 's/^disabled_plugins = \[/disabled_plugins = ["io.containerd.snapshotter.v1.overlayfs", /' "$2" >"$2.nooverlay"
exec containerd --config "$2.nooverlay"
EOF
chmod +x "$CTD_DIR/containerd-nooverlay"
CONTAINERD=$CTD_DIR/containerd-nooverlay "$SRC/scripts/containerd-start.sh" "$CTD_DIR" >/dev/null ||
    bad "containerd without overlayfs did not start"
unset ORCH_SNAPSHOTTER
ORCH_STATE_DIR=$CTD_DIR/st-native
o grow -f "$PROJ/Orchfile" two >"$CTD_DIR/grow-native.out" 2>&1 || bad "grow two without overlayfs: $(cat "$CTD_DIR/grow-native.out")"
native=$($CTD_CTR snapshots --snapshotter native ls | awk '$NF == "Committed"' | wc -l)
if [ "$(survey_field two state)" = running ] && [ "$native" = 2 ] &&
    grep -q "snapshotter overlayfs is not available.*using native" "$ORCH_STATE_DIR/orchd.log"; then
    ok "overlayfs unavailable: fell back to native, unpacked both layers ($native committed), runs"
else
    bad "native fallback: two is $(survey_field two state) ($(survey_field two error)), $native native snapshots; log: $(cat "$ORCH_STATE_DIR/orchd.log")"
fi
wait_cond 5 'grep -q "variant layer" "$ORCH_STATE_DIR/logs/$CTD_NS.two.log"' ||
    bad "two's log under native: $(cat "$ORCH_STATE_DIR/logs/$CTD_NS.two.log" 2>&1)"
o fell || bad "fell (native) failed"
ORCH_SNAPSHOTTER=native
assert_clean "at the end (native)"
finish
