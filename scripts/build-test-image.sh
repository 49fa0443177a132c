#!/bin/sh
# Builds the test image as an OCI image archive, from Debian's busybox-static,
# with nothing but python3 (no docker, no registry, no network):
#
#   scripts/build-test-image.sh OUT.tar [NAME]
#
# NAME defaults to localhost/orchd-test:latest. The image has one layer:
# /bin/busybox and a symlink per applet (sh, sleep, cat, echo, ...), /etc/passwd
# and /etc/group with root and a user "app" (uid/gid 1000, home /home/app),
# /tmp, /only-in-image (a marker file the host does not have: the exec test
# proves a command ran inside), and empty mount points. Config: Env PATH=..., Cmd ["sh"]. The layer is
# gzip-compressed (LAYER_COMPRESSION=none for a plain tar), so its digest and
# its diff_id differ as in real images. The output is reproducible: the same
# busybox gives the same digests.
#
# Import: ctr -a SOCK -n NS images import OUT.tar
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 OUT.tar [NAME]" >&2
    exit 2
fi
BUSYBOX=${BUSYBOX:-/bin/busybox}
if [ ! -x "$BUSYBOX" ]; then
    echo "$0: $BUSYBOX not found (apt-get install busybox-static)" >&2
    exit 1
fi
if file -L "$BUSYBOX" 2>/dev/null | grep -q 'dynamically linked'; then
    echo "$0: $BUSYBOX is dynamically linked; the image needs busybox-static" >&2
    exit 1
fi
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)

exec python3 - "$1" "${2:-localhost/orchd-test:latest}" "$BUSYBOX" "$ARCH" \
    "${LAYER_COMPRESSION:-gzip}" <<'PYEOF'
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

out, name, busybox, arch, compression = sys.argv[1:6]
GOARCH = {"amd64": "amd64", "x86_64": "amd64", "arm64": "arm64", "aarch64": "arm64",
          "armhf": "arm", "armel": "arm", "i386": "386", "ppc64el": "ppc64le",
          "s390x": "s390x", "riscv64": "riscv64"}.get(arch, arch)
MTIME = 0  # reproducible


def entry(tf, path, kind, mode, data=b"", link="", uid=0, gid=0):
    ti = tarfile.TarInfo(path)
    ti.mtime = MTIME
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = ""
    if kind == "dir":
        ti.type = tarfile.DIRTYPE
        tf.addfile(ti)
    elif kind == "link":
        ti.type = tarfile.SYMTYPE
        ti.linkname = link
        tf.addfile(ti)
    else:
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))


applets = subprocess.run([busybox, "--list"], check=True, capture_output=True,
                         text=True).stdout.split()
with open(busybox, "rb") as f:
    bb = f.read()

layer_io = io.BytesIO()
with tarfile.open(fileobj=layer_io, mode="w", format=tarfile.PAX_FORMAT) as tf:
    for d in ("bin", "dev", "etc", "home", "proc", "root", "run", "sys", "usr", "usr/bin",
              "var", "var/tmp"):
        entry(tf, d, "dir", 0o700 if d == "root" else 0o755)
    entry(tf, "home/app", "dir", 0o755, uid=1000, gid=1000)
    entry(tf, "tmp", "dir", 0o1777)
    entry(tf, "bin/busybox", "file", 0o755, bb)
    for a in sorted(set(applets)):
        if a != "busybox" and "/" not in a:
            entry(tf, "bin/" + a, "link", 0o777, link="busybox")
    entry(tf, "etc/passwd", "file", 0o644,
          b"root:x:0:0:root:/root:/bin/sh\n"
          b"app:x:1000:1000:app:/home/app:/bin/sh\n"
          b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    entry(tf, "etc/group", "file", 0o644,
          b"root:x:0:\napp:x:1000:\nnogroup:x:65534:\n")
    entry(tf, "etc/hostname", "file", 0o644, b"orchd-test\n")
    # proof that a command ran inside the container (the host has no such file)
    entry(tf, "only-in-image", "file", 0o644, b"inside the orchd test image\n")
layer_tar = layer_io.getvalue()
diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()
if compression == "gzip":
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, filename="") as g:
        g.write(layer_tar)
    layer_blob = gz.getvalue()
    layer_type = "application/vnd.oci.image.layer.v1.tar+gzip"
elif compression == "none":
    layer_blob = layer_tar
    layer_type = "application/vnd.oci.image.layer.v1.tar"
else:
    sys.exit("LAYER_COMPRESSION must be gzip or none")


def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)


def js(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


layer_digest, layer_size = blob(layer_blob)
config = js({
    "architecture": GOARCH,
    "os": "linux",
    "created": "1970-01-01T00:00:00Z",
    "config": {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
    },
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    "history": [{"created": "1970-01-01T00:00:00Z",
                 "created_by": "scripts/build-test-image.sh (busybox-static)"}],
})
config_digest, config_size = blob(config)
manifest = js({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": config_digest, "size": config_size},
    "layers": [{"mediaType": layer_type, "digest": layer_digest, "size": layer_size}],
})
manifest_digest, manifest_size = blob(manifest)
index = js({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest,
        "size": manifest_size,
        "platform": {"architecture": GOARCH, "os": "linux"},
        "annotations": {"io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name},
    }],
})

tmp = out + ".tmp"
with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tf:
    entry(tf, "oci-layout", "file", 0o644, js({"imageLayoutVersion": "1.0.0"}))
    entry(tf, "index.json", "file", 0o644, index)
    entry(tf, "blobs", "dir", 0o755)
    entry(tf, "blobs/sha256", "dir", 0o755)
    for d, data in ((layer_digest, layer_blob), (config_digest, config),
                    (manifest_digest, manifest)):
        entry(tf, "blobs/sha256/" + d.split(":", 1)[1], "file", 0o644, data)
os.replace(tmp, out)
print("%s: %s manifest %s (layer %s, %d bytes, diff_id %s)" % (
    out, name, manifest_digest, layer_digest, layer_size, diff_id), file=sys.stderr)
PYEOF
