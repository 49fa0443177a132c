# Restart policies and the start limit, seen from outside.
. "$(dirname "$0")/lib/common.sh"

cat > Orchfile <<'OF'
SERVICE crashy
RUN echo start >> crashy.count; exit 3
RESTART on-failure
RESTART_DELAY 0s
START_LIMIT_BURST 3
START_LIMIT_INTERVAL 60s

SERVICE fine
RUN echo start >> fine.count; exit 0
RESTART on-failure
RESTART_DELAY 0s

SERVICE always
RUN echo start >> always.count; sleep 0.2; exit 0
RESTART always
RESTART_DELAY 1s
START_LIMIT_BURST 0
OF

# grow may return while crashy is momentarily running; its fate shows later.
"$ORCHD" grow crashy fine || true
wait_for 10 state_is crashy failed || fail "crashy did not reach failed: $(survey)"
[ "$(wc -l < crashy.count)" = 3 ] || fail "crashy started $(wc -l < crashy.count) times, want exactly 3"
sv "s['crashy']['error']" | grep -qi "start limit" || fail "crashy's error does not name the start limit: $(survey)"
sleep 1
[ "$(wc -l < crashy.count)" = 3 ] || fail "crashy was started again after failing"
[ "$(wc -l < fine.count)" = 1 ] || fail "on-failure restarted a clean exit"
[ "$(sv "s['fine']['state']")" = stopped ] || fail "fine should be stopped after exit 0: $(survey)"

"$ORCHD" grow always || fail "grow always"
wait_for 10 sh -c '[ $(wc -l < always.count) -ge 3 ]' || fail "always did not restart"
[ "$(sv "s['always']['restarts']")" -ge 2 ] || fail "restarts not counted: $(survey)"

# kill -9 of a running service counts as a failure and restarts it
cat > Orchfile.kill <<'OF'
SERVICE victim
RUN exec sleep 1000
RESTART on-failure
RESTART_DELAY 0s
OF
"$ORCHD" grow --overlay Orchfile.kill victim || fail "grow victim"
old=$(sv "s['victim']['pid']")
kill -9 "$old"
wait_for 10 sh -c "[ \"\$(\"$ORCHD\" survey --json | python3 -c \"import json,sys; print([x['pid'] for x in json.load(sys.stdin) if x['service']=='victim'][0])\")\" != $old ] && [ \"\$(\"$ORCHD\" survey --json | python3 -c \"import json,sys; print([x['state'] for x in json.load(sys.stdin) if x['service']=='victim'][0])\")\" = running ]" ||
    fail "victim was not restarted after kill -9: $(survey)"
echo PASS
