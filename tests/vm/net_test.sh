#!/bin/bash
# PUBLISH in a vm guest (docs/RUNTIME-VM.md "Network"): busybox httpd on
# 8080 in the guest answers curl on 127.0.0.1:<random free port> on the host
# (qemu hostfwd, slirp, eth0 set up by the guest's process 1); the guest
# reaches the host through slirp's gateway 10.0.2.2 (outbound networking);
# a non-loopback PUBLISH address is refused by name and line.
# Run under flock /tmp/orchd-vm.lock.
set -u
: "${ORCHD:?}" "${SRC:?}"
. "$SRC/tests/vm/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
vm_setup
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HP=$(free_port)
OUTP=$(free_port)
mkdir -p www && echo "hello-over-hostfwd" >www/index.html
# a host listener the guest calls out to (outbound through slirp)
python3 -c "
import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',$OUTP)); s.listen(1)
s.settimeout(170)
c,_=s.accept(); c.sendall(b'outbound-ok\n'); c.close()" &
echo $! >"$T/listener.pid"
cat >Orchfile <<ORCH
SERVICE web
FROM oci-archive:img.tar
VOLUME ./www:/www
CMD sh -c 'nc 10.0.2.2 $OUTP </dev/null; exec httpd -f -p 8080 -h /www'
PUBLISH 127.0.0.1:$HP:8080
TIMEOUT_STOP 20s
ORCH
"$ORCHD" grow --runtime vm --vm-kernel "$K" >"$T/grow.out" 2>&1 || fail "grow: $(cat "$T/grow.out")"
echo "$(sv "s['web']['pid']")" >>"$T/qemu.pids"
LOG=$T/state/logs/$ORCH_NAMESPACE.web.log
wait_log "$LOG" "network: eth0 10.0.2.15" 120 || fail "eth0 not configured"
ok=
for _ in $(seq 1 120); do
    out=$(curl -s --max-time 2 "http://127.0.0.1:$HP/index.html") && [ "$out" = hello-over-hostfwd ] && { ok=1; break; }
    sleep 0.5
done
[ -n "$ok" ] || fail "curl 127.0.0.1:$HP got no answer from the guest's httpd"
wait_log "$LOG" "^outbound-ok" 30 || fail "the guest could not reach the host through slirp"
"$ORCHD" fell >/dev/null 2>&1
# an address the network reaches is refused
cat >Orchfile <<ORCH
SERVICE web
FROM oci-archive:img.tar
CMD httpd -f -p 8080
PUBLISH 0.0.0.0:$HP:8080
ORCH
"$ORCHD" grow --runtime vm --vm-kernel "$K" >"$T/grow2.out" 2>&1
"$ORCHD" survey --json >"$T/survey2.json" 2>&1
grep -q "loopback IPv4 addresses only" "$T/grow2.out" "$T/survey2.json" "$T"/state/*.log 2>/dev/null ||
    fail "PUBLISH 0.0.0.0 not refused: $(cat "$T/grow2.out" "$T/survey2.json")"
grep -q "Orchfile:4" "$T/grow2.out" "$T/survey2.json" 2>/dev/null || fail "the refusal names no line"
kill "$(cat "$T/listener.pid")" 2>/dev/null
echo PASS
