# An idle client connected to the control socket must not keep the daemon
# alive after fell: the daemon closes every connection when it leaves.
. "$(dirname "$0")/lib/common.sh"

printf 'SERVICE s\nRUN exec sleep 1000\n' > Orchfile
"$ORCHD" grow || fail "grow"
python3 - "$ORCH_STATE_DIR/orchd.sock" "$T/connected" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
open(sys.argv[2], "w").close()
s.settimeout(30)
try:
    s.recv(1)  # returns b"" once the daemon closes us
except socket.timeout:
    sys.exit(1)
PY
idle=$!
# once connected, the daemon accepts us before fell's own (later) connection
wait_for 10 test -e "$T/connected" || fail "the idle client did not connect"
timeout 20 "$ORCHD" fell || fail "fell did not finish with an idle client connected"
wait "$idle" || fail "the idle client was not disconnected"
echo PASS
