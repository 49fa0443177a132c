#!/usr/bin/env python3
"""PSS/RSS of one process by mapping group, from /proc/PID/smaps:

  bench/lib/smaps_breakdown.py PID|SMAPS_FILE

Groups: libgrpc.so itself, gRPC's own dependencies (absl, re2, upb, c-ares,
gpr), libcurl and what it pulls in (gnutls, krb5, ldap, ssh2, ...), the
other shared libraries, orchd's own binaries, the heap, thread stacks (the
8 MB anonymous mappings) and other anonymous memory (malloc's thread
arenas, mmaps). Not run by bench/run (yet): used for the issue 15 memory
breakdown in RESULTS.md."""
import re
import sys

GROUPS = [
    ("libgrpc.so (text, rodata, data)", ("libgrpc.",)),
    ("gRPC's deps: absl, re2, upb, c-ares, gpr, address_sorting",
     ("libabsl", "libre2", "libupb", "libcares", "libgpr", "libaddress_sorting")),
    ("libcurl and its deps (gnutls, krb5, ldap, ssh2, rtmp, ...)",
     ("libcurl", "libgnutls", "libp11", "libkrb5", "libk5crypto", "libgssapi", "libldap",
      "liblber", "libsasl", "libssh2", "librtmp", "libnettle", "libhogweed", "libgmp",
      "libunistring", "libidn2", "libpsl", "libbrotli", "libnghttp2", "libtasn1",
      "libkeyutils", "libcom_err", "libffi")),
    ("libssl, libcrypto, libstdc++, libz, libzstd (gRPC's and curl's)",
     ("libssl", "libcrypto", "libstdc++", "libz.", "libzstd", "libgcc", "libresolv")),
    ("libc, libm, ld.so, libuv, libyaml, libyajl, protobuf-c",
     ("libc.so", "libm.so", "ld-linux", "libuv", "libyaml", "libyajl", "libprotobuf-c")),
    ("orchd, orchd-containerd.so", ("orchd",)),
]


def group_of(name, size_kb):
    if name == "[heap]":
        return "[heap] (main malloc arena)"
    if name == "":
        return ("thread stacks (8 MB anonymous mappings)" if size_kb >= 8192 and size_kb < 8200
                else "other anonymous (thread malloc arenas, mmaps)")
    base = name.rsplit("/", 1)[-1]
    for label, prefixes in GROUPS:
        if base.startswith(prefixes):
            return label
    return "other: " + base


def main():
    arg = sys.argv[1]
    path = "/proc/%s/smaps" % arg if arg.isdigit() else arg
    agg, cur = {}, None
    for line in open(path):
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
        if m:
            size = (int(m.group(2), 16) - int(m.group(1), 16)) // 1024
            cur = agg.setdefault(group_of(m.group(3).strip(), size), [0, 0])
            continue
        m = re.match(r"^(Rss|Pss):\s+(\d+) kB", line)
        if m and cur is not None:
            cur[0 if m.group(1) == "Rss" else 1] += int(m.group(2))
    print("| mapping | PSS | RSS |\n| --- | --- | --- |")
    for k, v in sorted(agg.items(), key=lambda kv: -kv[1][1]):
        if v[0]:
            print("| %s | %.2f MB | %.2f MB |" % (k, v[1] / 1024, v[0] / 1024))
    print("| total | %.2f MB | %.2f MB |" % (sum(v[1] for v in agg.values()) / 1024,
                                         sum(v[0] for v in agg.values()) / 1024))


if __name__ == "__main__":
    main()
