# A real HTTP service that starts answering 503 after it was ready becomes
# unhealthy and, under RESTART on-failure, is stopped and started again
# (counted in restarts); under RESTART no it stays unhealthy, same pid.
. "$(dirname "$0")/lib/common.sh"
command -v python3 >/dev/null || skip "python3 is needed for the HTTP server"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p1=$(port); p2=$(port)
cat > server.py <<'PY'
import http.server, os, sys
flag = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503 if os.path.exists(flag) else 200)
        self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
cat > Orchfile <<OF
SERVICE api
RUN echo start >> api.starts; exec python3 server.py $p1 $PWD/api.sick
HEALTHCHECK http://127.0.0.1:$p1/
RESTART on-failure
RESTART_DELAY 1s

SERVICE keep
RUN exec python3 server.py $p2 $PWD/keep.sick
HEALTHCHECK http://127.0.0.1:$p2/
RESTART no
OF
"$ORCHD" grow || fail "grow"
pid=$(sv "s['api']['pid']"); kpid=$(sv "s['keep']['pid']")
touch api.sick keep.sick
wait_for 20 state_is keep unhealthy || fail "keep did not become unhealthy: $(survey)"
sv "s['keep']['error']" | grep -q "HTTP 503 (3 in a row)" || fail "keep's error: $(survey)"
wait_for 20 sh -c '[ "$(wc -l < api.starts)" -ge 2 ]' || fail "api was not restarted: $(survey)"
rm -f api.sick
wait_for 20 state_is api ready || fail "api not ready after its restart: $(survey)"
[ "$(sv "s['api']['restarts']")" = 1 ] || fail "api restarts: $(survey)"
[ "$(sv "s['api']['pid']")" != "$pid" ] || fail "api has the same pid"
[ "$(wc -l < api.starts)" = 2 ] || fail "api started $(wc -l < api.starts) times"
state_is keep unhealthy || fail "keep (RESTART no) left unhealthy: $(survey)"
[ "$(sv "s['keep']['pid']")" = "$kpid" ] || fail "keep (RESTART no) was restarted"
echo PASS
