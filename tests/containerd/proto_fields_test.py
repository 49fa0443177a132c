#!/usr/bin/env python3
"""Checks that proto/ matches containerd's own API definitions.

Parses our proto/containerd/**/*.proto and the upstream files shipped by
Debian's golang-github-containerd-containerd-dev, and asserts that every
message, field, enum value and rpc we have exists upstream with the same
number, type and label (repeated/map), and the same request/response types
and streaming. A field renumbered or retyped here would corrupt the wire
format silently, so this is a hard failure.

Usage: proto_fields_test.py [OUR_PROTO_DIR [UPSTREAM_DIR]]
Exit: 0 pass, 1 mismatch, 77 skip (upstream files not installed).
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "proto")
UPSTREAM = sys.argv[2] if len(sys.argv) > 2 else os.environ.get(
    "CONTAINERD_SRC", "/usr/share/gocode/src/github.com/containerd/containerd")

SCALARS = {
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
    "fixed32", "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
}

TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_.]*|\.[A-Za-z_][A-Za-z0-9_.]*|-?\d+|[{}\[\]()<>;=,]')


def tokenize(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return TOKEN.findall(text)


class ProtoFile:
    def __init__(self, path):
        self.path = path
        self.package = ""
        # fullname -> {"fields": {name: (num, type_as_written, label, scope)}}
        self.messages = {}
        self.enums = {}     # fullname -> {name: num}
        self.services = {}  # fullname -> {rpc: (req, resp, cstream, sstream, scope)}
        with open(path, encoding="utf-8") as f:
            self.toks = tokenize(f.read())
        self.i = 0
        self.parse_file()

    # -- token helpers
    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self):
        t = self.peek()
        if t is None:
            raise SyntaxError("%s: unexpected end of file" % self.path)
        self.i += 1
        return t

    def expect(self, t):
        got = self.next()
        if got != t:
            raise SyntaxError("%s: expected %r, got %r (token %d)" % (self.path, t, got, self.i))

    def skip_statement(self):
        depth = 0
        while True:
            t = self.next()
            if t in "[({":
                depth += 1
            elif t in "])}":
                depth -= 1
                if depth == 0 and t == "}":
                    return
            elif t == ";" and depth == 0:
                return

    def skip_options(self):
        if self.peek() == "[":
            depth = 0
            while True:
                t = self.next()
                if t == "[":
                    depth += 1
                elif t == "]":
                    depth -= 1
                    if depth == 0:
                        return

    def qual(self, scope, name):
        return ".".join(x for x in (scope, name) if x)

    # -- grammar
    def parse_file(self):
        while self.peek() is not None:
            t = self.next()
            if t == "package":
                self.package = self.next()
                self.expect(";")
            elif t in ("syntax", "import", "option"):
                self.i -= 1
                self.skip_statement()
            elif t == "message":
                self.parse_message(self.package)
            elif t == "enum":
                self.parse_enum(self.package)
            elif t == "service":
                self.parse_service()
            elif t == ";":
                pass
            else:
                raise SyntaxError("%s: unexpected %r at top level" % (self.path, t))

    def parse_message(self, scope):
        name = self.next()
        full = self.qual(scope, name)
        fields = {}
        self.messages[full] = {"fields": fields}
        self.expect("{")
        self.parse_body(full, fields)

    def parse_body(self, full, fields, in_oneof=None):
        while True:
            t = self.next()
            if t == "}":
                return
            if t == ";":
                continue
            if t == "message":
                self.parse_message(full)
            elif t == "enum":
                self.parse_enum(full)
            elif t in ("option", "reserved", "extensions"):
                self.i -= 1
                self.skip_statement()
            elif t == "oneof":
                oname = self.next()
                self.expect("{")
                self.parse_body(full, fields, in_oneof=oname)
            elif t == "map":
                self.expect("<")
                k = self.next()
                self.expect(",")
                v = self.next()
                self.expect(">")
                fname = self.next()
                self.expect("=")
                num = int(self.next())
                self.skip_options()
                self.expect(";")
                fields[fname] = (num, "map<%s,%s>" % (k, v), "map", full)
            else:
                label = ""
                if t in ("repeated", "optional", "required"):
                    label = t
                    t = self.next()
                if in_oneof:
                    label = "oneof " + in_oneof
                ftype = t
                fname = self.next()
                self.expect("=")
                num = int(self.next())
                self.skip_options()
                self.expect(";")
                fields[fname] = (num, ftype, label, full)

    def parse_enum(self, scope):
        name = self.next()
        full = self.qual(scope, name)
        values = {}
        self.enums[full] = values
        self.expect("{")
        while True:
            t = self.next()
            if t == "}":
                return
            if t == ";":
                continue
            if t in ("option", "reserved"):
                self.i -= 1
                self.skip_statement()
                continue
            self.expect("=")
            values[t] = int(self.next())
            self.skip_options()
            self.expect(";")

    def parse_service(self):
        name = self.next()
        full = self.qual(self.package, name)
        rpcs = {}
        self.services[full] = rpcs
        self.expect("{")
        while True:
            t = self.next()
            if t == "}":
                return
            if t == ";":
                continue
            if t == "option":
                self.i -= 1
                self.skip_statement()
                continue
            if t != "rpc":
                raise SyntaxError("%s: unexpected %r in service %s" % (self.path, t, full))
            rname = self.next()
            self.expect("(")
            cs = False
            req = self.next()
            if req == "stream":
                cs, req = True, self.next()
            self.expect(")")
            self.expect("returns")
            self.expect("(")
            ss = False
            resp = self.next()
            if resp == "stream":
                ss, resp = True, self.next()
            self.expect(")")
            if self.peek() == "{":
                self.i -= 0
                self.skip_statement()
            else:
                self.expect(";")
            rpcs[rname] = (req, resp, cs, ss, self.package)


def load(root):
    files = []
    for d, _, names in os.walk(root):
        for n in sorted(names):
            if n.endswith(".proto"):
                files.append(ProtoFile(os.path.join(d, n)))
    return files


def resolver(files):
    known = set()
    for f in files:
        known.update(f.messages)
        known.update(f.enums)
    known.update("google.protobuf." + n for n in
                 ("Any", "Empty", "Timestamp", "FieldMask", "Duration", "Struct"))

    def resolve(name, scope):
        if name in SCALARS:
            return name
        if name.startswith("."):
            return name[1:]
        parts = scope.split(".") if scope else []
        while True:
            cand = ".".join(parts + [name])
            if cand in known:
                return cand
            if not parts:
                return "?" + name  # unresolved: compared as written
            parts.pop()
    return resolve


def normalise(files):
    res = resolver(files)
    msgs, enums, svcs = {}, {}, {}
    for f in files:
        for m, d in f.messages.items():
            out = {}
            for fname, (num, ftype, label, scope) in d["fields"].items():
                if ftype.startswith("map<"):
                    k, v = ftype[4:-1].split(",")
                    ftype = "map<%s,%s>" % (res(k, scope), res(v, scope))
                else:
                    ftype = res(ftype, scope)
                out[fname] = (num, ftype, label)
            msgs[m] = (out, f.path)
        for e, vals in f.enums.items():
            enums[e] = (vals, f.path)
        for s, rpcs in f.services.items():
            svcs[s] = ({r: (res(q, sc), res(p, sc), cs, ss)
                        for r, (q, p, cs, ss, sc) in rpcs.items()}, f.path)
    return msgs, enums, svcs


def main():
    if not os.path.isdir(os.path.join(UPSTREAM, "api")):
        print("SKIP: upstream containerd .proto files not found under %s "
              "(apt-get install golang-github-containerd-containerd-dev)" % UPSTREAM)
        return 77
    ours = load(os.path.join(OURS, "containerd"))
    theirs = load(os.path.join(UPSTREAM, "api")) + load(os.path.join(UPSTREAM, "runtime", "v2", "runc", "options"))
    om, oe, osv = normalise(ours)
    um, ue, usv = normalise(theirs)
    errors = []
    notes = []
    nfields = 0
    for m, (fields, path) in sorted(om.items()):
        if m not in um:
            errors.append("%s: message %s does not exist upstream" % (path, m))
            continue
        ufields = um[m][0]
        for fname, spec in sorted(fields.items()):
            nfields += 1
            if fname not in ufields:
                errors.append("%s: %s.%s does not exist upstream" % (path, m, fname))
            elif ufields[fname] != spec:
                errors.append("%s: %s.%s is %s here but %s upstream (%s)" % (
                    path, m, fname, spec, ufields[fname], um[m][1]))
        for fname in sorted(set(ufields) - set(fields)):
            notes.append("note: %s.%s (upstream) is not in our copy" % (m, fname))
    for e, (vals, path) in sorted(oe.items()):
        if e not in ue:
            errors.append("%s: enum %s does not exist upstream" % (path, e))
            continue
        for v, n in sorted(vals.items()):
            if ue[e][0].get(v) != n:
                errors.append("%s: enum value %s.%s = %d, upstream %s" % (path, e, v, n, ue[e][0].get(v)))
    nrpcs = 0
    for s, (rpcs, path) in sorted(osv.items()):
        if s not in usv:
            errors.append("%s: service %s does not exist upstream" % (path, s))
            continue
        for r, spec in sorted(rpcs.items()):
            nrpcs += 1
            if usv[s][0].get(r) != spec:
                errors.append("%s: rpc %s.%s is %s here, upstream %s" % (path, s, r, spec, usv[s][0].get(r)))
    for n in notes:
        print(n)
    if len(om) < 50 or nfields < 150 or nrpcs < 40:
        errors.append("parsed suspiciously little: %d messages, %d fields, %d rpcs" % (len(om), nfields, nrpcs))
    for e in errors:
        print("FAIL:", e)
    print("%d messages, %d fields, %d enums, %d rpcs checked against %s: %s" % (
        len(om), nfields, len(oe), nrpcs, UPSTREAM, "FAILED" if errors else "ok"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
