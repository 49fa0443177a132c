# A service user cannot make the root daemon write where it could not: a
# USER service whose STDOUT lies in its own directory swaps the log for a
# symlink to a root-only file; the next HEALTHCHECK (whose output is
# appended to STDOUT) must not write into that file, the daemon stays
# responsive, and the restart names service, path and why. Also: the
# daemon's own logs dir is 0750 and its files 0640, root-owned.
. "$(dirname "$0")/lib/common.sh"
throwaway_user orchtl
chmod 711 "$T" # the user may reach its log directory, nothing else here

mkdir "$T/applogs"
chown "$U:" "$T/applogs"
printf 'root only\n' > "$T/victim"
chmod 600 "$T/victim"

cat > Orchfile <<OF
SERVICE app
USER $U
RUN echo started; exec sleep 1000
STDOUT $T/applogs/out.log
HEALTHCHECK echo pwned-by-healthcheck
RESTART always

SERVICE plain
RUN echo plain-line; exec sleep 1000
OF

"$ORCHD" grow 2>err.txt || fail "grow: $(cat err.txt)"
wait_for 10 state_is app ready || fail "app not ready: $(survey)"
[ "$(stat -c %U "$T/applogs/out.log")" = "$U" ] || fail "out.log is not created as $U: $(ls -l "$T/applogs")"

# The logs dir and the daemon-owned log of 'plain'.
logs="$ORCH_STATE_DIR/logs"
[ "$(stat -c %a:%U "$logs")" = 750:root ] || fail "logs dir is $(stat -c %a:%U "$logs")"
wait_for 5 grep -q plain-line "$logs/$ORCH_NAMESPACE.plain.log" || fail "plain did not log"
[ "$(stat -c %a:%U "$logs/$ORCH_NAMESPACE.plain.log")" = 640:root ] ||
    fail "plain's log is $(stat -c %a:%U "$logs/$ORCH_NAMESPACE.plain.log")"
[ "$(stat -c %a "$ORCH_STATE_DIR")" = 700 ] || fail "state dir is $(stat -c %a "$ORCH_STATE_DIR")"

# The attack, as the service's user.
setpriv --reuid="$U" --regid="$U" --clear-groups \
    sh -c "rm -f '$T/applogs/out.log' && ln -s '$T/victim' '$T/applogs/out.log'" ||
    fail "the swap as $U failed"
sleep 5 # two health-check intervals (2 s when ready)
[ "$(cat "$T/victim")" = "root only" ] || fail "the daemon wrote into the victim: $(cat "$T/victim")"
grep -q "service app: cannot open STDOUT '$T/applogs/out.log': Permission denied (opened as USER $U)" \
    "$ORCH_STATE_DIR/orchd.log" || fail "no warning naming service/path/why in the daemon log"

# A restart (strict): the start fails with the same clear error, the daemon answers.
pid=$(sv "s['app']['pid']")
kill "$pid"
wait_for 10 sh -c "\"$ORCHD\" survey --json | grep -q 'cannot open STDOUT'" ||
    fail "no start error in survey: $(survey)"
sv "s['app']['error']" | grep -qF "cannot open STDOUT '$T/applogs/out.log': Permission denied (opened as USER $U)" ||
    fail "survey error: $(sv "s['app']['error']")"
start=$(date +%s%N)
timeout 5 "$ORCHD" survey >/dev/null || fail "the daemon does not answer"
echo "survey answered in $(( ($(date +%s%N) - start) / 1000000 )) ms"
[ "$(cat "$T/victim")" = "root only" ] || fail "the victim changed: $(cat "$T/victim")"
[ "$(sv "s['plain']['state']")" = running ] || fail "plain was disturbed: $(survey)"
echo "PASS"
