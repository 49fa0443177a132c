# The text survey shows a vm guest's own services (runtime_info.nested, the
# guest orchd's survey) as GUEST/SERVICE rows, two levels below the host at most, from a
# canned daemon reply (a fake daemon on the socket: no qemu needed).
. "$(dirname "$0")/lib/common.sh"

mkdir -m 700 -p "$ORCH_STATE_DIR"
python3 - "$ORCH_STATE_DIR/orchd.sock" <<'PY' &
import json, os, socket, sys
def row(name, state, nested=None, runtime="bare", pid=None):
    info = {"accel": "tcg", "machine": "microvm"} if nested is not None else {}
    if nested is not None:
        info["nested"] = nested
    return {"service": name, "runtime": runtime, "container": None, "runtime_info": info,
            "state": state, "pid": pid, "restarts": 0, "exit_code": None,
            "uptime": 5 if pid else None, "since": 0, "error": None, "settled": True, "log": "x"}
# three levels below the host: the third is not printed
deepest = [row("too-deep", "running", pid=6)]
deep = [row("innermost", "running", deepest, runtime="vm", pid=7)]
inner = [row("containerd", "ready", pid=31), row("image", "exited"),
         row("web", "running", runtime="containerd", pid=40),
         row("middle-guest-with-a-long-name", "running", deep, runtime="vm", pid=50)]
guest = row("guest", "running", inner, runtime="vm", pid=1234)
reply = {"ok": True, "services": [row("host-side", "running", pid=99), guest]}
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1] + ".new")
s.listen(1)
os.rename(sys.argv[1] + ".new", sys.argv[1])  # appears only once it listens
c, _ = s.accept()
c.recv(65536)
c.sendall(json.dumps(reply).encode() + b"\n")
c.close()
os.unlink(sys.argv[1])
PY
fake=$!
wait_for 5 test -S "$ORCH_STATE_DIR/orchd.sock" || fail "the fake daemon did not listen"
"$ORCHD" survey >out.txt 2>err.txt || fail "survey: $(cat err.txt)"
wait "$fake" || fail "the fake daemon failed"
cat out.txt
names=$(awk 'NR > 1 {print $1}' out.txt | tr '\n' ' ')
want="host-side guest guest/containerd guest/image guest/web guest/middle-guest-with-a-long-name"
want="$want guest/middle-guest-with-a-long-name/innermost "
[ "$names" = "$want" ] || fail "survey rows: '$names', want '$want'"
grep -q '^guest/web  *containerd  *running  *40 ' out.txt || fail "the nested web row: $(cat out.txt)"
! grep -q too-deep out.txt || fail "a third level below the host was printed: $(cat out.txt)"
echo PASS
