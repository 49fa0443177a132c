# grow after editing the Orchfile: new services start, removed ones stop,
# changed ones restart, unchanged ones keep their pid. Named services start
# even when DISABLED, with what they REQUIRE.
. "$(dirname "$0")/lib/common.sh"

cat > Orchfile <<'OF'
SERVICE keep
RUN exec sleep 1000
SERVICE change
RUN exec sleep 1000
SERVICE remove
RUN exec sleep 1000
SERVICE dep
RUN exec sleep 1000
DISABLED true
SERVICE optional
RUN exec sleep 1000
DISABLED true
REQUIRES dep
OF
"$ORCHD" grow || fail "grow"
keep=$(sv "s['keep']['pid']"); change=$(sv "s['change']['pid']"); remove=$(sv "s['remove']['pid']")
[ "$(sv "s['optional']['state']")" != running ] || fail "a DISABLED service started"

cat > Orchfile <<'OF'
SERVICE keep
RUN exec sleep 1000
SERVICE change
RUN exec sleep 1000
ENV NEW=1
SERVICE added
RUN exec sleep 1000
SERVICE dep
RUN exec sleep 1000
DISABLED true
SERVICE optional
RUN exec sleep 1000
DISABLED true
REQUIRES dep
OF
"$ORCHD" grow || fail "second grow"
[ "$(sv "s['keep']['pid']")" = "$keep" ] || fail "unchanged service restarted"
new=$(sv "s['change']['pid']")
[ "$new" != "$change" ] && [ "$(sv "s['change']['state']")" = running ] || fail "changed service not restarted"
[ ! -d "/proc/$change" ] || fail "old instance of the changed service still runs"
[ "$(sv "s['added']['state']")" = running ] || fail "added service not running"
# grow may return while the removed service is still being stopped
remove_gone() { [ "$(sv "'remove' in s")" = False ]; }
wait_for 10 remove_gone || fail "removed service still listed"
[ ! -d "/proc/$remove" ] || fail "removed service still runs"

"$ORCHD" grow optional || fail "grow optional"
[ "$(sv "s['optional']['state']")" = running ] || fail "named DISABLED service did not start"
[ "$(sv "s['dep']['state']")" = running ] || fail "its REQUIRES did not start"

"$ORCHD" grow nosuch 2>err.txt && fail "grow of an unknown service succeeded"
grep -q "nosuch" err.txt || fail "the error does not name the unknown service: $(cat err.txt)"
echo PASS
