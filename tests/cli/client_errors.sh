# The CLI's own error paths: settings it must refuse, flags missing their
# value, odd replies, and what the daemon it starts inherits.
. "$(dirname "$0")/lib/common.sh"

# A namespace outside 1-32 of [a-z0-9_-] is refused, whichever way it comes.
"$ORCHD" survey --namespace "" 2>err.txt && fail "an empty --namespace was accepted"
grep -q "namespace ''" err.txt || fail "empty namespace: $(cat err.txt)"
long=$(printf 'n%.0s' $(seq 33))
ORCH_NAMESPACE=$long "$ORCHD" survey 2>err.txt && fail "a 33-character namespace was accepted"
grep -q "namespace '$long'" err.txt || fail "long namespace: $(cat err.txt)"
printf 'ORCH_NAMESPACE=\n' > .orchrc
env -u ORCH_NAMESPACE "$ORCHD" survey 2>err.txt && fail "an empty namespace in .orchrc was accepted"
rm .orchrc

# A value flag given last is named as such, not as an unknown option.
for flag in --overlay --arg --pull; do
    "$ORCHD" grow "$flag" 2>err.txt && fail "grow $flag without a value was accepted"
    grep -q -- "$flag needs a value" err.txt || fail "grow $flag: $(cat err.txt)"
done
"$ORCHD" logs web -n 2>err.txt && fail "logs -n without a value was accepted"
grep -q -- "-n needs a value" err.txt || fail "logs -n: $(cat err.txt)"

# A reply whose report is empty (a fake daemon on the socket).
mkdir -m 700 -p "$ORCH_STATE_DIR"
python3 - "$ORCH_STATE_DIR/orchd.sock" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1] + ".new")
s.listen(1)
os.rename(sys.argv[1] + ".new", sys.argv[1])  # appears only once it listens
c, _ = s.accept()
c.recv(65536)
c.sendall(b'{"ok":false,"report":""}\n')
c.close()
os.unlink(sys.argv[1])
PY
fake=$!
wait_for 5 test -S "$ORCH_STATE_DIR/orchd.sock" || fail "the fake daemon did not listen"
set +e
"$ORCHD" reload web 2>err.txt
rc=$?
set -e
wait "$fake" || fail "the fake daemon failed"
[ "$rc" = 1 ] || fail "reload with an empty report: exit $rc: $(cat err.txt)"
# nothing to print (and no byte before the empty string to look at)
[ ! -s err.txt ] || fail "reload with an empty report printed: $(cat err.txt)"

# The daemon grow starts holds its log on stdout and stderr only.
cat > Orchfile <<'OF'
SERVICE web
RUN exec sleep 1000
OF
"$ORCHD" grow || fail "grow"
pid=$("$ORCHD" survey --json >/dev/null && cat "$ORCH_STATE_DIR/orchd.lock")
n=0
for fd in /proc/"$pid"/fd/*; do
    [ "$(readlink "$fd")" = "$ORCH_STATE_DIR/orchd.log" ] && n=$((n + 1))
done
[ "$n" = 2 ] || fail "the daemon has $n fds on orchd.log: $(ls -l /proc/"$pid"/fd)"
echo PASS
