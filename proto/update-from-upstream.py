#!/usr/bin/env python3
"""Refreshes proto/containerd/** from containerd's own .proto files.

Source: Debian's golang-github-containerd-containerd-dev (containerd 1.6),
under /usr/share/gocode/src/github.com/containerd/containerd (override with
$CONTAINERD_SRC). The files are Apache-2.0; their license headers are kept.

Only two kinds of change are made, so that protoc-c can compile them without
gogo/protobuf or containerd's fieldpath plugin:
  * gogoproto / containerd.plugin options and their `import weak` lines are
    removed (they only steer Go code generation; the wire format is the same);
  * import paths "github.com/containerd/containerd/api/X" become
    "containerd/X" (and the runc options file moves to containerd/runc/).
Messages, fields, numbers, types, enums and services stay exactly as
upstream: tests/containerd/proto_fields_test.py checks that.

Usage: proto/update-from-upstream.py   (rewrites the files in place)
"""
import os
import re
import sys

UPSTREAM = os.environ.get(
    "CONTAINERD_SRC", "/usr/share/gocode/src/github.com/containerd/containerd")
HERE = os.path.dirname(os.path.abspath(__file__))

# upstream path (relative to UPSTREAM) -> our path (relative to proto/)
FILES = {
    "api/types/mount.proto": "containerd/types/mount.proto",
    "api/types/descriptor.proto": "containerd/types/descriptor.proto",
    "api/types/platform.proto": "containerd/types/platform.proto",
    "api/types/metrics.proto": "containerd/types/metrics.proto",
    "api/types/task/task.proto": "containerd/types/task/task.proto",
    "api/events/task.proto": "containerd/events/task.proto",
    "api/events/container.proto": "containerd/events/container.proto",
    "api/services/containers/v1/containers.proto": "containerd/services/containers/v1/containers.proto",
    "api/services/content/v1/content.proto": "containerd/services/content/v1/content.proto",
    "api/services/diff/v1/diff.proto": "containerd/services/diff/v1/diff.proto",
    "api/services/events/v1/events.proto": "containerd/services/events/v1/events.proto",
    "api/services/images/v1/images.proto": "containerd/services/images/v1/images.proto",
    "api/services/leases/v1/leases.proto": "containerd/services/leases/v1/leases.proto",
    "api/services/namespaces/v1/namespace.proto": "containerd/services/namespaces/v1/namespace.proto",
    "api/services/snapshots/v1/snapshots.proto": "containerd/services/snapshots/v1/snapshots.proto",
    "api/services/tasks/v1/tasks.proto": "containerd/services/tasks/v1/tasks.proto",
    "api/services/version/v1/version.proto": "containerd/services/version/v1/version.proto",
    "runtime/v2/runc/options/oci.proto": "containerd/runc/options/oci.proto",
}

PLUGIN_OPT = r"\((?:gogoproto|containerd\.plugin)\.[A-Za-z_]+\)"


def convert(text, upstream_rel):
    out = []
    notice_added = False
    for line in text.splitlines():
        if re.match(r'\s*import\s+weak\s+"', line):
            continue
        if re.match(r"\s*option\s+" + PLUGIN_OPT + r"\s*=.*;\s*$", line):
            continue
        # field / enum value options: [(gogoproto.x) = y, (gogoproto.z) = w]
        m = re.search(r"\s*\[([^\]]*)\]\s*;", line)
        if m and re.search(PLUGIN_OPT, m.group(1)):
            opts = [o.strip() for o in m.group(1).split(",")]
            keep = [o for o in opts if not re.match(PLUGIN_OPT, o)]
            repl = (" [" + ", ".join(keep) + "];") if keep else ";"
            line = line[:m.start()] + repl + line[m.end():]
        line = re.sub(r'import\s+"github\.com/containerd/containerd/api/([^"]+)"',
                      r'import "containerd/\1"', line)
        out.append(line)
        if not notice_added and line.startswith("syntax"):
            out.append("")
            out.append("// Copied from containerd 1.6 (%s) by proto/update-from-upstream.py:" % upstream_rel)
            out.append("// Go code-generation options (and their weak imports) removed, import paths\n// shortened; nothing else changed.")
            notice_added = True
    return "\n".join(out) + "\n"


def main():
    for src, dst in FILES.items():
        path = os.path.join(UPSTREAM, src)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        res = convert(text, src)
        if re.search(r"gogoproto|containerd\.plugin", res):
            sys.exit("%s: unhandled gogoproto/plugin option left" % src)
        outp = os.path.join(HERE, dst)
        os.makedirs(os.path.dirname(outp), exist_ok=True)
        with open(outp, "w", encoding="utf-8") as f:
            f.write(res)
        print(dst)


if __name__ == "__main__":
    main()
