#!/usr/bin/env python3
"""Holds runtimes/containerd/seccomp_default.c against containerd's own
generator, contrib/seccomp/seccomp_default.go (Debian's
golang-github-containerd-containerd-dev): the profile for this machine's
architecture is rebuilt from the Go source (allow-list, personality values,
ptrace by kernel version, the arch's calls, the per-capability additions, the
clone/clone3 rules without CAP_SYS_ADMIN) and compared, as parsed JSON, with
what seccomp_dump prints, for several bounding sets and kernels.

  seccomp_profile_test.py SECCOMP_DUMP [seccomp_default.go]

Exits 77 (SKIP) without the Go source or on an architecture this model of
the Go code does not cover."""
import json
import os
import platform
import re
import subprocess
import sys

GO = "/usr/share/gocode/src/github.com/containerd/containerd/contrib/seccomp/seccomp_default.go"
DEFAULT_CAPS = ("CAP_CHOWN CAP_DAC_OVERRIDE CAP_FSETID CAP_FOWNER CAP_MKNOD CAP_NET_RAW "
                "CAP_SETGID CAP_SETUID CAP_SETFCAP CAP_SETPCAP CAP_NET_BIND_SERVICE "
                "CAP_SYS_CHROOT CAP_KILL CAP_AUDIT_WRITE").split()
# machine -> (GOARCH, the arches() list, the clone flags argument)
MACHINES = {
    "x86_64": ("amd64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], 0),
    "aarch64": ("arm64", ["SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64"], 0),
}
CLONE_NS = 0x20000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000


def names_in(block):
    m = re.search(r'Names:\s*\[\]string\{(.*?)\}', block, re.S)
    return re.findall(r'"([^"]+)"', m.group(1))


def model(src, goarch, arches, clone_arg, caps, kernel_4_8):
    fn = src[src.index("func DefaultProfile"):]
    base = names_in(fn)
    personas = [int(v, 16) for v in re.findall(
        r'Names:\s*\[\]string\{"personality"\}.*?Value:\s*(0x[0-9a-fA-F]+)', fn, re.S)]
    by_arch = fn[fn.index("// include by arch"):fn.index("admin := false")]
    arch_names = None
    for m in re.finditer(r'case ((?:"[^"]+",?\s*)+):(.*?)(?=\n\tcase |\n\t\}\n)', by_arch, re.S):
        if goarch in re.findall(r'"([^"]+)"', m.group(1)):
            arch_names = names_in(m.group(2))
    by_cap = fn[fn.index("admin := false"):fn.index("if !admin")]
    cap_names = {m.group(1): names_in(m.group(2)) for m in re.finditer(
        r'case "(CAP_\w+)":(.*?)(?=case "CAP_|\n\t\t\}\n\t\})', by_cap, re.S)}
    if len(base) < 300 or len(personas) != 5 or not arch_names or len(cap_names) < 10:
        sys.exit("FAIL: cannot read %s (the model of the Go code needs updating)" % GO)
    allow = "SCMP_ACT_ALLOW"
    rules = [{"names": base, "action": allow}]
    rules += [{"names": ["personality"], "action": allow,
               "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]} for v in personas]
    if kernel_4_8:
        rules.append({"names": ["ptrace"], "action": allow})
    rules.append({"names": arch_names, "action": allow})
    rules += [{"names": cap_names[c], "action": allow} for c in caps if c in cap_names]
    if "CAP_SYS_ADMIN" not in caps:
        rules.append({"names": ["clone"], "action": allow,
                      "args": [{"index": clone_arg, "value": CLONE_NS, "op": "SCMP_CMP_MASKED_EQ"}]})
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})
    return {"defaultAction": "SCMP_ACT_ERRNO", "architectures": arches, "syscalls": rules}, cap_names


def main():
    dump = sys.argv[1]
    go = sys.argv[2] if len(sys.argv) > 2 else GO
    if not os.path.exists(go):
        print("SKIP: %s not found (apt-get install golang-github-containerd-containerd-dev)" % go)
        return 77
    machine = platform.machine()
    if machine not in MACHINES:
        print("SKIP: no model of containerd's profile for %s" % machine)
        return 77
    goarch, arches, clone_arg = MACHINES[machine]
    src = open(go).read()
    _, cap_names = model(src, goarch, arches, clone_arg, [], True)
    every = sorted(cap_names) + DEFAULT_CAPS
    cases = [("6.1.0-13-amd64", DEFAULT_CAPS, True), ("4.7.10", DEFAULT_CAPS, False),
             ("4.8", every, True), ("-", ["CAP_SYS_ADMIN"], False), ("3.12-1-amd64", [], False)]
    fail = 0
    for release, caps, k48 in cases:
        want, _ = model(src, goarch, arches, clone_arg, caps, k48)
        out = subprocess.run([dump, release] + caps, check=True, capture_output=True).stdout
        got = json.loads(out)
        what = "kernel %s, %d capabilities" % (release, len(caps))
        if got == want:
            print("ok: %s: %d rules, as containerd's" % (what, len(got["syscalls"])))
        else:
            fail = 1
            print("FAIL: %s differs from containerd's:" % what)
            for i, (g, w) in enumerate(zip(got["syscalls"], want["syscalls"])):
                if g != w and g.get("names") != w.get("names"):
                    gn, wn = g.get("names", []), w.get("names", [])
                    print("  rule %d: missing %s, extra %s%s" % (
                        i, sorted(set(wn) - set(gn)), sorted(set(gn) - set(wn)),
                        "" if set(gn) != set(wn) else " (order differs)"))
                elif g != w:
                    print("  rule %d: got %s\n          want %s" % (i, json.dumps(g)[:300],
                                                                  json.dumps(w)[:300]))
            if len(got["syscalls"]) != len(want["syscalls"]) or got["architectures"] != arches:
                print("  %d rules vs %d; architectures %s" % (
                    len(got["syscalls"]), len(want["syscalls"]), got["architectures"]))
    print("PASS" if not fail else "FAILED")
    return fail


if __name__ == "__main__":
    sys.exit(main())
