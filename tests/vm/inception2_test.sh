#!/bin/bash
# Inception two deep (issue 12; docs/RUNTIME-VM.md "Two deep"): the host's
# orchd boots a vm guest (FROM oci-archive: the image of
# examples/inception/build-guest-image.sh: orchd, containerd, runc, ctr,
# busybox, the busybox test image) whose CMD runs orchd again as a normal
# service; that orchd grows the guest Orchfile from a VOLUME: containerd (a
# bare service with a HEALTHCHECK), a oneshot importing the test image, and
# a container web server REQUIRING both. From the host the test proves every
# layer: survey shows guest running; the published host port is answered by
# the container in the VM (its page says so); the guest saw MEMORY 1G and
# CPUS 2; kill -9 of qemu brings everything back (RESTART always); fell
# stops the container in the guest (the guest orchd's stop lines, web before
# containerd), powers the guest off and leaves nothing on the host.
# Run under flock /tmp/orchd-vm.lock. Times go to stdout (bench/vm.sh too).
set -u
: "${ORCHD:?}" "${SRC:?}"
. "$SRC/tests/vm/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
MODULE=$(dirname "$ORCHD")/orchd-containerd.so
[ -f "$MODULE" ] || { echo "SKIP: $MODULE is not built (the guest's orchd needs it)"; exit 77; }
grep -q "runtime is not implemented yet" "$MODULE" && { echo "SKIP: $MODULE is the stub"; exit 77; }
for b in containerd containerd-shim-runc-v2 runc ctr; do
    command -v $b >/dev/null || { echo "SKIP: $b is not installed (the guest image carries it)"; exit 77; }
done
vm_setup
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

t=$(now)
bash "$SRC/examples/inception/build-guest-image.sh" "$T/guest.tar" "$ORCHD" "$MODULE" "$T/img.tar" \
    2>"$T/image.err" || fail "the guest image: $(cat "$T/image.err")"
echo "guest image built in $(since "$t") s ($(du -m "$T/guest.tar" | cut -f1) MB)"
mkdir -p guest scratch
cp "$SRC/examples/inception/guest/Orchfile" "$SRC/examples/inception/guest/web.sh" guest/
HP=$(free_port)
cat >Orchfile <<ORCH
SERVICE guest
FROM oci-archive:guest.tar
MEMORY 1G
CPUS 2
VOLUME ./guest:/etc/guest
VOLUME ./scratch:/scratch
PUBLISH 127.0.0.1:$HP:8080
RESTART always
RESTART_DELAY 1s
TIMEOUT_STOP 90s
ORCH
LOG=$T/state/logs/$ORCH_NAMESPACE.guest.log
# page SECONDS: waits for the container's page on the host port
page() {
    local i
    for i in $(seq 1 $(($1 * 2))); do
        PAGE=$(curl -s --max-time 2 "http://127.0.0.1:$HP/") && [ -n "$PAGE" ] && return 0
        sleep 0.5
    done
    return 1
}

t0=$(now)
"$ORCHD" grow --runtime vm --vm-kernel "$K" >"$T/grow.out" 2>&1 || fail "grow: $(cat "$T/grow.out")"
p1=$(sv "s['guest']['pid']")
echo "$p1" >>"$T/qemu.pids"
[ "$(cat /proc/"$p1"/comm 2>/dev/null)" = qemu-system-x86 ] || fail "pid $p1 is not qemu"
[ "$(sv "s['guest']['state']")" = running ] || fail "survey: guest is $(sv "s['guest']['state']")"
wait_log "$LOG" "vm guest init: starting" "${INCEPTION2_INIT_LIMIT:-180}" || fail "the guest's init never started"
t_init=$(since "$t0")
wait_log "$LOG" "^guest: layer 2" 120 || fail "the guest image's CMD never ran"
t_cmd=$(since "$t0")
wait_log "$LOG" "orchd: containerd: ready" 300 || fail "the guest's containerd never became ready"
t_ctd=$(since "$t0")
page 300 || fail "no answer on 127.0.0.1:$HP from the container in the guest"
t_web=$(since "$t0")
echo "$PAGE" | grep -q "^layer 3: busybox httpd in a container of the guest's orchd" || fail "the page: $PAGE"
wait_log "$LOG" "^guest: every guest service is up" 60 || fail "the guest's grow did not settle"
grep -aq "orchd: web: running" "$LOG" || fail "no state line of the guest's web"
grep -aq "orchd: image: exited" "$LOG" || fail "the import oneshot did not end"

# the nested survey: the guest orchd's services, seen in the host's survey
nested_states() {
    "$ORCHD" survey --json 2>/dev/null | python3 -c '
import json, sys
s = {x["service"]: x for x in json.load(sys.stdin)}
n = (s.get("guest", {}).get("runtime_info") or {}).get("nested") or []
print(" ".join("%s=%s" % (x.get("service"), x.get("state")) for x in n))' 2>/dev/null
}
nested=""
for _ in $(seq 1 60); do
    nested=$(nested_states)
    case " $nested " in *" web=running "*) break ;; esac
    sleep 1
done
case " $nested " in
*" web=running "*) echo "nested survey (two levels deep): $nested" ;;
*) fail "the host's survey does not show the guest's services: '$nested'" ;;
esac
# ... and the text table, as guest/SERVICE rows under the guest's own
text_ok=""
for _ in $(seq 1 10); do
    "$ORCHD" survey >"$T/survey.txt" 2>&1 || true
    grep -q '^guest/web  *containerd  *running ' "$T/survey.txt" &&
        grep -q '^guest/containerd  *bare  *ready ' "$T/survey.txt" && { text_ok=1; break; }
    sleep 1
done
[ -n "$text_ok" ] || fail "the text survey has no guest/web row: $(cat "$T/survey.txt")"

echo "grow to guest init $t_init s, to the guest orchd $t_cmd s, guest containerd ready $t_ctd s, container answers $t_web s"

# the guest is the machine the host Orchfile asked for
mem=$(cat scratch/memtotal_kb 2>/dev/null)
cpus=$(cat scratch/nproc 2>/dev/null)
[ -n "$mem" ] && [ "$mem" -gt 900000 ] && [ "$mem" -le 1048576 ] || fail "guest MemTotal '$mem' kB for MEMORY 1G"
[ "$cpus" = 2 ] || fail "guest nproc '$cpus' for CPUS 2"
echo "$PAGE" | grep -q "MemTotal $mem kB, 2 cpus" || fail "the container sees another machine: $PAGE"
rss=$(awk '/^VmRSS:/ {print $2}' /proc/"$p1"/status)
echo "guest: MemTotal $mem kB, $cpus cpus (MEMORY 1G, CPUS 2); qemu RSS $rss kB"
[ "$(sv "s['guest']['state']")" = running ] || fail "survey: guest is not running"

# kill -9 of qemu: RESTART always boots the whole stack again
: >"$T/scratch/nproc"
kill -9 "$p1"
t1=$(now)
p2=None
for _ in $(seq 1 60); do
    p2=$(sv "s['guest']['pid']")
    [ "$p2" != None ] && [ "$p2" != "$p1" ] && break
    sleep 0.5
done
[ "$p2" != None ] && [ "$p2" != "$p1" ] || fail "guest not restarted after kill -9 of qemu"
echo "$p2" >>"$T/qemu.pids"
[ "$(sv "s['guest']['restarts']")" -ge 1 ] || fail "the restart is not counted"
for _ in $(seq 1 600); do [ -s scratch/nproc ] && break; sleep 0.5; done
[ -s scratch/nproc ] || fail "the restarted guest's orchd never ran"
page 300 || fail "no answer after the restart"
echo "$PAGE" | grep -q "^layer 3:" || fail "the page after the restart: $PAGE"
echo "kill -9 of qemu to the container answering again $(since "$t1") s"

# fell: the guest orchd stops its container and containerd, the VM powers off
mark=$(wc -l <"$LOG")
t2=$(now)
"$ORCHD" fell >"$T/fell.out" 2>&1 || fail "fell: $(cat "$T/fell.out")"
t_fell=$(since "$t2")
kill -0 "$p2" 2>/dev/null && fail "qemu $p2 outlived fell"
tail -n +"$mark" "$LOG" | tr -d '\r' >"$T/stop.log"
# the agent's stop (the guest serves the channel by now: no ctrl-alt-delete)
grep -q "the host's stop request (agent): stopping the service" "$T/stop.log" ||
    fail "the guest init got no stop request"
grep -q "orchd: vm guest: stop requested (agent)" "$T/stop.log" || fail "the agent did not take the stop"
grep -q "orchd daemon: Terminated: stopping every service" "$T/stop.log" || fail "the guest orchd was not asked to stop"
l_web=$(grep -n "^orchd: web: stopped" "$T/stop.log" | head -n1 | cut -d: -f1)
l_ctd=$(grep -n "^orchd: containerd: stopped" "$T/stop.log" | head -n1 | cut -d: -f1)
[ -n "$l_web" ] && [ -n "$l_ctd" ] && [ "$l_web" -lt "$l_ctd" ] ||
    fail "the guest orchd did not stop web, then containerd: $(grep '^orchd: ' "$T/stop.log")"
grep -q "^orchd: web: stopping (sent SIGKILL" "$T/stop.log" && fail "web needed SIGKILL"
grep -q "^guest: the guest orchd exited" "$T/stop.log" || fail "the guest orchd did not exit"
grep -q "the service ended (wait status 0): powering off" "$T/stop.log" || fail "the guest did not power off cleanly"
"$ORCHD" survey >/dev/null 2>&1 && fail "the host daemon still runs after fell"
curl -s --max-time 2 "http://127.0.0.1:$HP/" >/dev/null && fail "port $HP still answers after fell"
left=$(find "$T/state/vm" -mindepth 1 2>/dev/null; find "$T/data/vm" -name '.build-*' -o -name '*.tmp-*' 2>/dev/null)
[ -z "$left" ] || fail "left after fell: $left"
for p in $(pgrep -f "qemu-system-x86_64" || true); do
    tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | grep -q "$T" && fail "qemu $p of this test still runs"
done
grep -q "$T" /proc/mounts && fail "a mount of this test is left"
echo "fell to qemu gone $t_fell s"
echo PASS
