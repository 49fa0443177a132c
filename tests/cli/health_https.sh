# HEALTHCHECK https://...: probed over TLS as Kubernetes' httpGet probes do
# (certificate not verified, any 2xx passes, 503 fails), without blocking the
# loop; and the lean core: a daemon with no https check maps neither libcurl
# nor a TLS library, one with an https check does (libcurl is dlopen()ed on
# the first https probe).
. "$(dirname "$0")/lib/common.sh"
command -v python3 >/dev/null || skip "python3 is needed for the TLS server"
command -v openssl >/dev/null || skip "openssl is needed for a throwaway certificate"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p200=$(free_port); p503=$(free_port); pstall=$(free_port)

# A throwaway self-signed certificate: the probe must not verify it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=orchd-test -keyout key.pem -out cert.pem >/dev/null 2>&1 || skip "openssl req failed"
cat > tls_server.py <<'PY'
import http.server, ssl, sys
port, status = int(sys.argv[1]), int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n" if status < 300 else b"down\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open("requests.log", "a") as f:
            f.write("%d %s\n" % (port, self.path))
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("cert.pem", "key.pem")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY
# A TCP server that accepts and then never speaks: the TLS handshake stalls.
cat > stall_server.py <<'PY'
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
PY

maps_tls() { grep -E 'libcurl|libssl|libgnutls|libcrypto\.so' "/proc/$1/maps" | awk '{print $6}' | sort -u; }

# ---- a daemon without https checks maps no TLS library
cat > Orchfile <<OF
SERVICE cmd
RUN exec sleep 1000
HEALTHCHECK true
OF
"$ORCHD" grow cmd || fail "grow cmd"
dpid=$(cat "$ORCH_STATE_DIR/orchd.lock")
[ -d "/proc/$dpid" ] || fail "no daemon pid ($dpid)"
[ -z "$(maps_tls "$dpid")" ] || fail "the daemon maps TLS libraries without an https check: $(maps_tls "$dpid")"
echo "daemon $dpid without https checks: no libcurl/libssl/libgnutls/libcrypto mapped"

# ---- https: 2xx passes (self-signed certificate), 503 fails
cat > Orchfile.tls <<OF
SERVICE tls
RUN exec python3 tls_server.py $p200 200
HEALTHCHECK https://127.0.0.1:$p200/health?probe=1

SERVICE tls503
RUN exec python3 tls_server.py $p503 503
HEALTHCHECK https://127.0.0.1:$p503/health
TIMEOUT_START 10s

SERVICE after-tls
RUN exec sleep 1000
REQUIRES tls
OF
"$ORCHD" grow --overlay Orchfile.tls tls after-tls tls503 2>grow.err &&
    fail "grow succeeded although tls503 answers 503"
[ "$(sv "s['tls']['state']")" = ready ] || fail "tls not ready: $(survey) $(cat grow.err)"
[ "$(sv "s['after-tls']['state']")" = running ] || fail "after-tls did not start: $(survey)"
grep -q "^$p200 /health?probe=1\$" requests.log || fail "the probe's GET did not reach the server: $(cat requests.log)"
[ "$(sv "s['tls503']['state']")" = failed ] || fail "tls503 not failed: $(survey)"
sv "s['tls503']['error']" | grep -q "HTTP 503" ||
    fail "tls503's error does not say HTTP 503: $(sv "s['tls503']['error']")"
grep -q "^$p503 /health\$" requests.log || fail "tls503 was never probed"
maps=$(maps_tls "$dpid")
echo "after an https check, daemon $dpid maps: $(echo $maps)"
grep -q libcurl <<<"$maps" || fail "libcurl is not mapped after an https check"
grep -Eq 'libssl|libgnutls' <<<"$maps" || fail "no TLS library is mapped after an https check"

# ---- a probe whose handshake never completes does not block the loop
cat > Orchfile.stall <<OF
SERVICE stall
RUN exec python3 stall_server.py $pstall
HEALTHCHECK https://127.0.0.1:$pstall/
TIMEOUT_START 8s
OF
"$ORCHD" grow --overlay Orchfile.tls --overlay Orchfile.stall stall >stall.out 2>&1 &
gpid=$!
sleep 2 # the first probes are in their handshake now
worst=0
for _ in 1 2 3 4 5; do
    t0=$(date +%s%N)
    "$ORCHD" survey >/dev/null || fail "survey during a stalled probe"
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$ms" -gt "$worst" ] && worst=$ms
    sleep 0.3
done
echo "survey during a stalled https probe: worst ${worst} ms"
# Not a speed check (that is bench/'s): a loop blocked in the handshake would
# hold survey for the probe's whole 5 s timeout; 3 s leaves room for load/ASan.
[ "$worst" -lt 3000 ] || fail "the daemon answered in ${worst} ms while a probe stalled"
wait "$gpid" && fail "grow of a service whose probe never completes succeeded"
sv "s['stall']['error']" | grep -q "ready within 8s" || fail "stall's error: $(sv "s['stall']['error']")"
echo PASS
