# Stopping: reverse dependency order, STOP commands, and SIGKILL for a
# process that ignores SIGTERM once TIMEOUT_STOP has passed.
. "$(dirname "$0")/lib/common.sh"

cat > Orchfile <<'OF'
SERVICE base
RUN trap 'echo "stop base" >> stop.log; exit 0' TERM; : > base.up; while :; do sleep 0.1; done

SERVICE middle
RUN trap 'echo "stop middle" >> stop.log; exit 0' TERM; : > middle.up; while :; do sleep 0.1; done
REQUIRES base

SERVICE top
RUN echo $$ > top.pid; exec sleep 1000
STOP echo "stop top" >> stop.log; kill $(cat top.pid)
REQUIRES middle

SERVICE deaf
RUN trap '' TERM; echo $$ > deaf.pid; while :; do sleep 0.1; done
TIMEOUT_STOP 2s
OF

"$ORCHD" grow || fail "grow"
deaf=$(sv "s['deaf']['pid']")
# grow returns once the processes run; a TERM before a shell's trap is set
# would kill it without its stop line. Each marks its trap as set.
wait_for 10 test -e base.up -a -e middle.up -a -s top.pid -a -s deaf.pid ||
    fail "the services did not set their traps: $(ls)"

# Felling base alone stops what requires it first: top, middle, then base.
"$ORCHD" fell base || fail "fell base"
order=$(cut -d' ' -f2 stop.log | tr '\n' ' ')
[ "$order" = "top middle base " ] || fail "stop order was '$order'"
for s in base middle top; do
    [ "$(sv "s['$s']['state']")" = stopped ] || fail "$s not stopped: $(survey)"
done
[ "$(sv "s['deaf']['state']")" = running ] || fail "deaf should be untouched"

start=$(date +%s%N)
"$ORCHD" fell deaf || fail "fell deaf"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ ! -d "/proc/$deaf" ] || fail "deaf survived"
# SIGKILL comes after TIMEOUT_STOP (2 s), not before; allow a loaded machine.
[ "$elapsed_ms" -ge 1900 ] || fail "deaf was killed after ${elapsed_ms} ms, before TIMEOUT_STOP"
[ "$elapsed_ms" -lt 15000 ] || fail "deaf took ${elapsed_ms} ms to stop"

"$ORCHD" fell || fail "fell"
wait_for 10 no_leftovers || fail "processes left: $(leftovers)"
echo PASS
