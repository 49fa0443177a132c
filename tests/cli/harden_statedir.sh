# The state dir is not trusted blindly: one owned by another user, one open
# to group/others, or a symlink is refused with a clear message; a planted
# lock symlink does not truncate its target; a server socket owned by
# another user is refused by the client before it sends anything.
. "$(dirname "$0")/lib/common.sh"
PY=/usr/bin/python3 # not a per-user shim: the fake server runs as another user
[ -x "$PY" ] || skip "/usr/bin/python3 is needed for the fake server"
throwaway_user orchts
chmod 711 "$T"
printf 'SERVICE a\nRUN exec sleep 1000\n' > Orchfile

refused() { # DIR WHAT
    timeout 10 "$ORCHD" daemon --state-dir "$1" 2>err.txt && fail "daemon accepted $1"
    grep -qF "orchd daemon: state dir: $1 $2" err.txt || fail "daemon on $1: $(cat err.txt)"
    ORCH_STATE_DIR=$1 timeout 10 "$ORCHD" grow 2>err.txt && fail "grow accepted $1"
    grep -qF "orchd: state dir: $1 $2" err.txt || fail "grow on $1: $(cat err.txt)"
    [ ! -e "$1/orchd.lock" ] || fail "a lock was made in $1"
}

mkdir "$T/theirs" && chown "$U:" "$T/theirs" && chmod 700 "$T/theirs"
refused "$T/theirs" "is owned by uid $(id -u "$U"), not by you (uid 0)"
mkdir -m 770 "$T/groupy"
refused "$T/groupy" "is accessible to group or others (mode 770); it must be 0700"
mkdir -m 700 "$T/real" && ln -s "$T/real" "$T/link"
refused "$T/link" "is a symbolic link, not a real directory"

# A lock symlink planted in an otherwise good dir: the victim stays whole.
printf 'precious\n' > "$T/victim"
mkdir -m 700 "$T/locked" && ln -s "$T/victim" "$T/locked/orchd.lock"
timeout 10 "$ORCHD" daemon --state-dir "$T/locked" 2>err.txt && fail "daemon used a symlinked lock"
grep -qF "cannot open the lock $T/locked/orchd.lock: is a symbolic link" err.txt ||
    fail "lock: $(cat err.txt)"
[ "$(cat "$T/victim")" = precious ] || fail "the victim was truncated: '$(cat "$T/victim")'"

# A fake server of another user: the client refuses it and sends nothing.
mkdir -m 700 "$T/fake" && mkdir "$T/u" && chown "$U:" "$T/u"
setpriv --reuid="$U" --regid="$U" --clear-groups "$PY" - "$T/u/orchd.sock" "$T/u/got" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1] + ".new")
s.listen(4)
os.rename(sys.argv[1] + ".new", sys.argv[1])  # appears only once it listens
data = b""
for _ in range(2):  # grow, then survey
    c, _ = s.accept()
    c.settimeout(3)
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
    except Exception:
        pass
    c.close()
open(sys.argv[2], "wb").write(data)
PY
fake=$!
wait_for 5 test -S "$T/u/orchd.sock" || fail "the fake server did not listen"
mv "$T/u/orchd.sock" "$T/fake/orchd.sock"
ORCH_STATE_DIR=$T/fake timeout 10 "$ORCHD" grow --arg SECRET=hunter2 2>err.txt &&
    fail "grow talked to the fake server"
grep -qF "orchd: $T/fake/orchd.sock is served by uid $(id -u "$U")" err.txt ||
    fail "grow: $(cat err.txt)"
ORCH_STATE_DIR=$T/fake timeout 10 "$ORCHD" survey 2>err.txt && fail "survey talked to the fake server"
grep -qF "is served by uid $(id -u "$U")" err.txt || fail "survey: $(cat err.txt)"
wait "$fake" || true
[ -e "$T/u/got" ] || fail "the fake server recorded nothing at all"
[ ! -s "$T/u/got" ] || fail "the client sent to the fake server: $(cat "$T/u/got")"
echo "PASS"
