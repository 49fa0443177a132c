# Bad input gets a message naming the service and the cause, and leaves
# running services untouched.
. "$(dirname "$0")/lib/common.sh"

cat > Orchfile <<'OF'
SERVICE good
RUN exec sleep 1000
OF
"$ORCHD" grow || fail "grow"
good=$(sv "s['good']['pid']")

# A broken Orchfile: the error names file and line; nothing changes.
printf 'SERVICE good\nRUN exec sleep 1000\nRESTART sometimes\n' > Orchfile
"$ORCHD" grow 2>err.txt && fail "grow accepted a bad Orchfile"
grep -q "Orchfile:3: RESTART 'sometimes'" err.txt || fail "error lacks FILE:LINE: $(cat err.txt)"
[ "$(sv "s['good']['pid']")" = "$good" ] || fail "a bad Orchfile disturbed a running service"

# A missing binary, a missing user, a log path that cannot be created.
cat > Orchfile <<'OF'
SERVICE good
RUN exec sleep 1000

SERVICE nobinary
RUN exec /nonexistent/binary

SERVICE nouser
RUN exec sleep 1000
USER no-such-user-orchd

SERVICE badlog
RUN exec sleep 1000
STDOUT /proc/orchd-cannot-create/x.log
OF
"$ORCHD" grow 2>err.txt && fail "grow reported success with failing services"
[ "$(sv "s['good']['pid']")" = "$good" ] || fail "the good service was disturbed"
wait_for 10 state_is nobinary failed || fail "nobinary not failed: $(survey)"
[ "$(sv "s['nouser']['state']")" = failed ] || fail "nouser not failed: $(survey)"
sv "s['nouser']['error']" | grep -q "no-such-user-orchd" || fail "nouser error: $(survey)"
[ "$(sv "s['badlog']['state']")" = failed ] || fail "badlog not failed: $(survey)"
sv "s['badlog']['error']" | grep -q "/proc/orchd-cannot-create" || fail "badlog error: $(survey)"
grep -q "nouser" err.txt || fail "grow's report does not name nouser: $(cat err.txt)"
"$ORCHD" logs nobinary | grep -q "/nonexistent/binary" || fail "the shell's error is not in the log"
echo PASS
