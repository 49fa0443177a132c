#!/usr/bin/env python3
"""Derives a variant of the test image (scripts/build-test-image.sh) for the
containerd lifecycle tests, as another OCI archive:

  image_variant.py IN.tar OUT.tar NAME [--user U] [--no-cmd] [--stop-signal S]
                   [--workdir D] [--extra-layer] [--nested-index]
                   [--big-layer MB]

--user/--no-cmd/--stop-signal/--workdir edit the image config; --extra-layer
adds a second (uncompressed) layer holding /etc/orchd-variant, so the chain
ID has two links; --nested-index wraps the manifest in an index inside the
index (as `docker save` / buildx write them). Reproducible; python3 only.
"""
import argparse
import hashlib
import io
import json
import os
import tarfile


def js(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("name")
    ap.add_argument("--user")
    ap.add_argument("--no-cmd", action="store_true")
    ap.add_argument("--stop-signal")
    ap.add_argument("--workdir")
    ap.add_argument("--extra-layer", action="store_true")
    ap.add_argument("--nested-index", action="store_true")
    ap.add_argument("--big-layer", type=int, metavar="MB",
                    help="a further layer holding MB MiB of random bytes (/big)")
    a = ap.parse_args()

    blobs = {}
    with tarfile.open(a.src) as tf:
        for m in tf.getmembers():
            if m.isfile():
                blobs[m.name] = tf.extractfile(m).read()
    index = json.loads(blobs["index.json"])
    desc = index["manifests"][0]

    def blob(d):
        return blobs["blobs/sha256/" + d.split(":", 1)[1]]

    def put(data):
        d = digest(data)
        blobs["blobs/sha256/" + d.split(":", 1)[1]] = data
        return d, len(data)

    manifest = json.loads(blob(desc["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))
    c = config.setdefault("config", {})
    if a.user is not None:
        c["User"] = a.user
    if a.no_cmd:
        c.pop("Cmd", None)
        c.pop("Entrypoint", None)
    if a.stop_signal:
        c["StopSignal"] = a.stop_signal
    if a.workdir:
        c["WorkingDir"] = a.workdir
    if a.extra_layer:
        lio = io.BytesIO()
        with tarfile.open(fileobj=lio, mode="w", format=tarfile.PAX_FORMAT) as t:
            data = b"variant layer\n"
            ti = tarfile.TarInfo("etc/orchd-variant")
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            t.addfile(ti, io.BytesIO(data))
        layer = lio.getvalue()
        ld, ls = put(layer)
        manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": ld, "size": ls})
        config["rootfs"]["diff_ids"].append(ld)
    if a.big_layer:
        lio = io.BytesIO()
        with tarfile.open(fileobj=lio, mode="w", format=tarfile.PAX_FORMAT) as t:
            data = os.urandom(a.big_layer << 20)
            ti = tarfile.TarInfo("big")
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            t.addfile(ti, io.BytesIO(data))
        layer = lio.getvalue()
        ld, ls = put(layer)
        manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": ld, "size": ls})
        config["rootfs"]["diff_ids"].append(ld)
    cd, cs = put(js(config))
    manifest["config"]["digest"], manifest["config"]["size"] = cd, cs
    md, ms = put(js(manifest))
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
             "size": ms, "platform": desc["platform"]}
    if a.nested_index:
        inner = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [entry]}
        idd, ids = put(js(inner))
        entry = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": idd,
                 "size": ids}
    entry["annotations"] = {"io.containerd.image.name": a.name,
                            "org.opencontainers.image.ref.name": a.name}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [entry]}
    blobs["index.json"] = js(index)

    tmp = a.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in ["oci-layout", "index.json"] + sorted(
                k for k in blobs if k.startswith("blobs/")):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(blobs[name]), 0o644, 0
            tf.addfile(ti, io.BytesIO(blobs[name]))
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
