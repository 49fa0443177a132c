# Running out of file descriptors is transient: a connection that arrives
# while the daemon is at its fd limit is answered once fds are back (not
# dropped), a service whose log cannot be opened is retried (not failed for
# good); at most 64 connections are open (one more gets an error reply and a
# log line); idle ones are closed after ORCH_CONN_IDLE_MS; a peer refused by
# SO_PEERCRED gets an error reply.
. "$SRC/tests/cli/lib/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root (prlimit on the daemon, a second uid)"
LOG="$ORCH_STATE_DIR/orchd.log"
SOCK="$ORCH_STATE_DIR/orchd.sock"

cat > Orchfile <<'OF'
SERVICE flappy
RUN sleep 0.3; exit 1
RESTART always
RESTART_DELAY 0s
START_LIMIT_BURST 0
OF

# ---- EMFILE: the daemon at its fd limit ------------------------------------
export ORCH_CONN_IDLE_MS=60000
"$ORCHD" grow || true # flappy never settles as ready; it cycles
daemon=$(cat "$ORCH_STATE_DIR/orchd.lock")
python3 - "$SOCK" "$daemon" "$ORCHD" "$LOG" <<'PY' || fail "fd exhaustion (see above)"
import os, resource, socket, subprocess, sys, time
sock, pid, orchd, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def sockets():
    n = 0
    for x in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{x}").startswith("socket:")
        except OSError:
            pass
    return n
def wait(what, cond, secs=10):
    end = time.monotonic() + secs
    while not cond():
        if time.monotonic() > end:
            sys.exit("timed out after %d s waiting for %s" % (secs, what))
        time.sleep(0.05)
before = sockets()
held = []
for _ in range(20):
    s = socket.socket(socket.AF_UNIX); s.connect(sock); held.append(s)
wait("the daemon to accept the 20 connections", lambda: sockets() >= before + 20)
fds = {int(x) for x in os.listdir(f"/proc/{pid}/fd")}
limit = next(n for n in range(3, 100000) if n not in fds)  # no free fd below it
soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, hard))
# flappy restarts meanwhile, and cannot open its log
wait("flappy's EMFILE retry line", lambda: "cannot open log file" in open(log).read(), 20)
late = subprocess.Popen([orchd, "survey", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wait("the log line for the accept that hit EMFILE",
     lambda: "cannot accept a connection: Too many open files" in open(log).read())
if late.poll() is not None:
    sys.exit("survey finished while the daemon had no fd: %r" % (late.communicate(),))
resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
for s in held: s.close()
out, err = late.communicate(timeout=20)
if late.returncode != 0:
    sys.exit("the survey that waited in the backlog failed: %s" % err.decode())
print("the survey made during EMFILE was answered once fds were back")
PY
grep -q "service flappy: cannot start: cannot open log file .*Too many open files (retrying in" "$LOG" ||
    fail "no retry line for flappy's EMFILE"
sleep 1.5
state=$(sv "s['flappy']['state']")
[ "$state" != failed ] || fail "flappy failed for good after a transient EMFILE: $(survey)"
wait_for 10 state_is flappy running || fail "flappy did not run again after EMFILE: $(survey)"
"$ORCHD" fell >/dev/null || fail "fell"

# ---- the cap and the idle timeout ------------------------------------------
export ORCH_CONN_IDLE_MS=1500
printf 'SERVICE s\nRUN exec sleep 1000\n' > Orchfile
"$ORCHD" grow || fail "grow"
python3 - "$SOCK" <<'PY' || fail "cap / idle timeout (see above)"
import socket, sys, time
conns = []
for _ in range(70):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); conns.append(s)
import select
# Each connection gets one reply, then EOF: a refusal ("too many
# connections", at once) or the idle close (after 1.5 s). Read them all,
# with a deadline, and classify them by their reply.
pending = {s: b"" for s in conns}
refused = closed = 0
deadline = time.monotonic() + 20
while pending:
    left = deadline - time.monotonic()
    if left <= 0:
        sys.exit("%d connections were neither refused nor closed as idle within 20 s" % len(pending))
    ready, _, _ = select.select(list(pending), [], [], left)
    for s in ready:
        b = s.recv(4096)
        if b:
            pending[s] += b
            continue
        data = pending.pop(s)
        if b"too many connections" in data:
            refused += 1
        elif b"no request within 1500 ms" in data:
            closed += 1
        else:
            sys.exit("closed with an unexpected reply: %r" % data)
if refused < 6:
    sys.exit("only %d of 70 connections were refused, want at least 6 (cap 64)" % refused)
if closed > 64:
    sys.exit("%d connections accepted, cap is 64" % closed)
print("refused %d with a reply, closed %d idle after the timeout" % (refused, closed))
PY
n=$(grep -c "refused a connection: 64 connections are open" "$LOG" || true)
[ "$n" -ge 6 ] || fail "$n log lines for refused connections, want >= 6"
grep -q "closing a connection that sent no request within 1500 ms" "$LOG" || fail "no log line for an idle close"
"$ORCHD" survey >/dev/null || fail "the daemon does not answer after the flood"

# ---- a peer that is neither root nor our uid ------------------------------
chmod o+x "$T" "$ORCH_STATE_DIR"
chmod 0666 "$SOCK"
reply=$(setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
s.sendall(b"{\"kind\":\"survey\"}\n")
print(s.recv(4096).decode())' "$SOCK") || fail "the refused peer got no reply (reset?)"
chmod 0600 "$SOCK"
echo "$reply" | grep -q "permission denied: uid 65534" || fail "refused peer reply: $reply"
grep -q "refused a connection: permission denied: uid 65534" "$LOG" || fail "no log line for the refused peer"
echo PASS
