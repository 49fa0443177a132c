# HEALTHCHECK (command and HTTP) gates REQUIRES; a dependency that never
# becomes healthy fails its dependent after READINESS_TIMEOUT; AFTER does not
# block on a failed service; RELOAD runs the reload command.
. "$(dirname "$0")/lib/common.sh"
command -v python3 >/dev/null || skip "python3 is needed for the HTTP server"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat > Orchfile <<OF
SERVICE slow
RUN sleep 1; touch ready.flag; exec sleep 1000
HEALTHCHECK test -f ready.flag

SERVICE http
RUN exec python3 -m http.server $port --bind 127.0.0.1
HEALTHCHECK http://127.0.0.1:$port/
RELOAD echo reloaded >> reload.log

SERVICE client
RUN date +%s%N > client.started; exec sleep 1000
REQUIRES slow http

SERVICE never
RUN exec sleep 1000
HEALTHCHECK false
TIMEOUT_START 3s

SERVICE hopeless
RUN exec sleep 1000
REQUIRES never
READINESS_TIMEOUT 2s

SERVICE orderly
RUN exec sleep 1000
AFTER hopeless
OF

"$ORCHD" grow 2>err.txt && fail "grow should report hopeless as failed"
[ "$(sv "s['slow']['state']")" = ready ] || fail "slow not ready: $(survey)"
[ "$(sv "s['http']['state']")" = ready ] || fail "http not ready: $(survey)"
[ "$(sv "s['client']['state']")" = running ] || fail "client not running: $(survey)"
# client started only after slow's flag existed
flag_ns=$(stat -c %Y ready.flag)
[ "$(( $(cat client.started) / 1000000000 ))" -ge "$flag_ns" ] || fail "client started before slow was healthy"
[ "$(sv "s['hopeless']['state']")" = failed ] || fail "hopeless not failed: $(survey)"
sv "s['hopeless']['error']" | grep -q never || fail "hopeless's error does not name never: $(survey)"
grep -q hopeless err.txt || fail "grow's report lacks hopeless: $(cat err.txt)"
[ "$(sv "s['orderly']['state']")" = running ] || fail "AFTER a failed service blocked orderly: $(survey)"
[ "$(sv "s['never']['state']")" = failed ] || fail "never should fail after TIMEOUT_START: $(survey)"
sv "s['never']['error']" | grep -q "ready within 3s" || fail "never's error: $(survey)"

"$ORCHD" reload http || fail "reload"
wait_for 5 grep -q reloaded reload.log || fail "RELOAD command did not run"
"$ORCHD" reload nosuch 2>/dev/null && fail "reload of an unknown service succeeded"
echo PASS
