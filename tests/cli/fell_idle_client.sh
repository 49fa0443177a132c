# An idle client connected to the control socket must not keep the daemon
# alive after fell: the daemon closes every connection when it leaves.
. "$(dirname "$0")/lib/common.sh"

printf 'SERVICE s\nRUN exec sleep 1000\n' > Orchfile
"$ORCHD" grow || fail "grow"
python3 - "$ORCH_STATE_DIR/orchd.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(30)
try:
    s.recv(1)  # returns b"" once the daemon closes us
except socket.timeout:
    sys.exit(1)
PY
idle=$!
sleep 0.3
timeout 20 "$ORCHD" fell || fail "fell did not finish with an idle client connected"
wait "$idle" || fail "the idle client was not disconnected"
echo PASS
