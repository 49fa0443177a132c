#!/usr/bin/env python3
"""Builds the OCI archives the pull tests push to their registry, from the
test image (scripts/build-test-image.sh), with python3 only:

  make_images.py IN.tar multi OUT.tar      an index: the image for this
                                           machine's arch + a fake linux/arm64
  make_images.py IN.tar foreign OUT.tar    an index with only linux/arm64 and
                                           linux/s390x (fakes)
  make_images.py IN.tar big OUT.tar MB     the image + a layer of MB random MB
  make_images.py IN.tar layers OUT.tar N KB   the image + N layers of KB random
                                           KB each (gzip), for the benchmark

The fake manifests have real, small blobs: a registry takes them, and they
unpack if anyone tried.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def js(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def load(path):
    blobs = {}
    with tarfile.open(path) as tf:
        for m in tf.getmembers():
            if m.isfile():
                blobs[m.name] = tf.extractfile(m).read()
    return blobs


def save(blobs, out):
    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in ["oci-layout", "index.json"] + sorted(k for k in blobs if k.startswith("blobs/")):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(blobs[name]), 0o644, 0
            tf.addfile(ti, io.BytesIO(blobs[name]))
    os.replace(tmp, out)


def put(blobs, data):
    d = digest(data)
    blobs["blobs/sha256/" + d[7:]] = data
    return d, len(data)


def get(blobs, d):
    return blobs["blobs/sha256/" + d[7:]]


def layer_tar(files):
    lio = io.BytesIO()
    with tarfile.open(fileobj=lio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            t.addfile(ti, io.BytesIO(data))
    return lio.getvalue()


def fake_manifest(blobs, arch):
    layer = layer_tar([("etc/fake-arch", (arch + "\n").encode())])
    ld, ls = put(blobs, layer)
    config = js({"architecture": arch, "os": "linux",
                 "config": {"Cmd": ["/bin/false"]},
                 "rootfs": {"type": "layers", "diff_ids": [ld]}})
    cd, cs = put(blobs, config)
    manifest = js({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                              "digest": cd, "size": cs},
                   "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                               "digest": ld, "size": ls}]})
    md, ms = put(blobs, manifest)
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
            "size": ms, "platform": {"architecture": arch, "os": "linux"}}


def main():
    src, kind, out = sys.argv[1:4]
    blobs = load(src)
    index = json.loads(blobs["index.json"])
    entry = index["manifests"][0]
    entry.pop("annotations", None)
    if kind in ("multi", "foreign"):
        entries = [entry] if kind == "multi" else []
        entries.append(fake_manifest(blobs, "arm64"))
        if kind == "foreign":
            entries.append(fake_manifest(blobs, "s390x"))
        inner = js({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": entries})
        d, s = put(blobs, inner)
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": s}
    elif kind in ("big", "layers"):
        manifest = json.loads(get(blobs, entry["digest"]))
        config = json.loads(get(blobs, manifest["config"]["digest"]))
        if kind == "big":
            specs = [(int(sys.argv[4]) << 20, False)]
        else:
            specs = [(int(sys.argv[5]) << 10, True)] * int(sys.argv[4])
        for i, (size, compress) in enumerate(specs):
            tar = layer_tar([("data/random-%d" % i, os.urandom(size))])
            if compress:
                gz = io.BytesIO()
                with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, filename="",
                                   compresslevel=1) as g:
                    g.write(tar)
                blob, mt = gz.getvalue(), "application/vnd.oci.image.layer.v1.tar+gzip"
            else:
                blob, mt = tar, "application/vnd.oci.image.layer.v1.tar"
            bd, bs = put(blobs, blob)
            manifest["layers"].append({"mediaType": mt, "digest": bd, "size": bs})
            config["rootfs"]["diff_ids"].append(digest(tar))
        cd, cs = put(blobs, js(config))
        manifest["config"]["digest"], manifest["config"]["size"] = cd, cs
        md, ms = put(blobs, js(manifest))
        top = dict(entry, digest=md, size=ms)
    else:
        sys.exit("unknown kind " + kind)
    blobs["index.json"] = js({"schemaVersion": 2,
                              "mediaType": "application/vnd.oci.image.index.v1+json",
                              "manifests": [top]})
    save(blobs, out)
    print(top["digest"])


if __name__ == "__main__":
    main()
