# Small things a user sees: survey with no daemon fails (exit 3); a service
# whose probes fail shows the last probe's failure at once (not error: null
# until its readiness deadline); grow on a terminal says what it waits for,
# and never in output that is not a terminal.
. "$SRC/tests/cli/lib/common.sh"
command -v script >/dev/null || skip "script(1) is needed for a pseudo-terminal"

rc=0; "$ORCHD" survey > out.txt 2> err.txt || rc=$?
[ "$rc" = 3 ] || fail "survey with no daemon exited $rc, want 3"
grep -q "no daemon runs on" err.txt || fail "survey with no daemon does not say so: $(cat err.txt)"
rc=0; "$ORCHD" survey --json > out.txt 2>/dev/null || rc=$?
[ "$rc" = 3 ] || fail "survey --json with no daemon exited $rc, want 3"
[ "$(cat out.txt)" = "[]" ] || fail "survey --json with no daemon printed $(cat out.txt)"

cat > Orchfile <<'OF'
SERVICE sick
RUN exec sleep 1000
HEALTHCHECK echo probe-says-no; exit 1
READINESS_TIMEOUT 6s
OF

# not a terminal: no waiting lines (a script parses this)
"$ORCHD" grow > out.txt 2> err.txt && fail "grow of a never-ready service succeeded"
grep -q "waiting for" out.txt err.txt && fail "grow printed waiting lines without a terminal: $(cat err.txt)"
"$ORCHD" fell >/dev/null

# on a terminal (script(1) gives grow a pty) it names the service and why
script -qec "\"$ORCHD\" grow" tty.txt > /dev/null 2>&1 &
grower=$!
# meanwhile: the probe's failure shows at once, well before the 6 s deadline
# (after it, sick is no longer running: the wait then fails the checks below)
sick_shows_probe() {
    [ "$(sv "s['sick']['state'] == 'running' and 'healthcheck failing' in (s['sick']['error'] or '')")" = True ]
}
wait_for 10 sick_shows_probe || true
[ "$(sv "s['sick']['state']")" = running ] || fail "sick is not running yet: $(survey)"
err=$(sv "s['sick']['error']")
case "$err" in
*"healthcheck failing"*) ;;
*) fail "sick's error before the readiness deadline is '$err', want the failing probe" ;;
esac
wait "$grower" || true
grep -q "orchd grow: waiting for sick (running, healthcheck failing" tty.txt ||
    fail "grow on a terminal did not say what it waits for: $(cat tty.txt)"
echo PASS
