#!/bin/bash
# build-guest-image.sh OUT.tar ORCHD MODULE TEST_IMAGE
#
# The image of the two-deep inception (test2.sh, docs/RUNTIME-VM.md): an OCI
# image archive (oci-archive, one uncompressed layer) that the host's orchd
# boots as a vm guest and whose CMD runs orchd again, as a normal service of
# the guest (the guest's process 1 is the vm runtime's init):
#   /usr/bin/orchd, /usr/bin/orchd-containerd.so   ORCHD and MODULE
#   containerd, containerd-shim-runc-v2, runc, ctr  with their libraries (ldd)
#   /bin/busybox and its applet links
#   /etc/containerd/config.toml                     containerd.toml
#   /images/orchd-test.tar                          TEST_IMAGE, imported by the guest
#   /usr/local/bin/guest-orchd                      guest/guest-orchd: the CMD
# The guest's own Orchfile is not in the image: the host gives it to the
# guest in a VOLUME at /etc/guest (guest/Orchfile, guest/web.sh).
# Needs busybox-static, containerd, runc, python3.
set -euo pipefail

if [ $# -ne 4 ]; then
    echo "usage: $0 OUT.tar ORCHD MODULE TEST_IMAGE" >&2
    exit 2
fi
OUT=$1
ORCHD=$2
MODULE=$3
TEST_IMAGE=$4
HERE=$(cd "$(dirname "$0")" && pwd)

for b in python3 ldd; do
    command -v $b >/dev/null || { echo "$0: $b is not installed" >&2; exit 1; }
done
BUSYBOX=${BUSYBOX:-/bin/busybox}
if ! "$BUSYBOX" --list-full >/dev/null 2>&1 || ldd "$BUSYBOX" >/dev/null 2>&1; then
    echo "$0: $BUSYBOX is not a static busybox (apt-get install busybox-static)" >&2
    exit 1
fi

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/orchd-guest-image.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT
. "$HERE/rootfs-lib.sh"

mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc/guest,proc,sys,dev,run,tmp,root}
mkdir -p "$ROOT"/{var/lib/containerd,var/lib/orchd,var/log,images,scratch}
chmod 1777 "$ROOT/tmp"
put_with_libs "$ORCHD" /usr/bin/orchd
put_with_libs "$MODULE" /usr/bin/orchd-containerd.so
put_busybox
put_containerd
put "$HERE/containerd.toml" /etc/containerd/config.toml 0644
put "$HERE/guest/guest-orchd" /usr/local/bin/guest-orchd
put "$TEST_IMAGE" /images/orchd-test.tar 0644
cat >"$ROOT/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
echo guest >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost guest\n' >"$ROOT/etc/hosts"

python3 - "$ROOT" "$OUT" <<'PYEOF'
import hashlib, io, json, os, sys, tarfile

root, out = sys.argv[1:3]


def js(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def owned_by_root(ti):
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.mtime = 0
    return ti


layer_io = io.BytesIO()
with tarfile.open(fileobj=layer_io, mode="w", format=tarfile.PAX_FORMAT) as tf:
    for name in sorted(os.listdir(root)):
        tf.add(os.path.join(root, name), arcname=name, filter=owned_by_root)
layer = layer_io.getvalue()
layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
config = js({
    "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
    "config": {
        # also the env of the host's helper commands in the guest: the
        # nested survey's `orchd survey --json` finds the guest orchd so
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "ORCH_STATE_DIR=/run/orchd", "ORCH_DATA=/var/lib/orchd",
                "ORCH_PROJECT=/etc/guest", "ORCH_ORCHFILE=/etc/guest/Orchfile"],
        "Cmd": ["/usr/local/bin/guest-orchd"],
    },
    "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
})
config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
manifest = js({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": config_digest, "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest, "size": len(layer)}],
})
manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
index = js({"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": manifest_digest, "size": len(manifest),
    "annotations": {"org.opencontainers.image.ref.name": "localhost/orchd-guest:latest"}}]})


def entry(tf, path, data=None):
    ti = tarfile.TarInfo(path)
    if data is None:
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(ti)
    else:
        ti.size, ti.mode = len(data), 0o644
        tf.addfile(ti, io.BytesIO(data))


tmp = out + ".tmp"
with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tf:
    entry(tf, "oci-layout", js({"imageLayoutVersion": "1.0.0"}))
    entry(tf, "index.json", index)
    entry(tf, "blobs")
    entry(tf, "blobs/sha256")
    for d, data in ((layer_digest, layer), (config_digest, config), (manifest_digest, manifest)):
        entry(tf, "blobs/sha256/" + d.split(":", 1)[1], data)
os.replace(tmp, out)
print("%s: layer %d bytes, manifest %s" % (out, len(layer), manifest_digest), file=sys.stderr)
PYEOF
