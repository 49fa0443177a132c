# Bare services' log relay is opt-in (docs/LOGS.md): by default a bare
# service writes straight into its own log, unstamped, and the daemon starts
# no relay process (`orchd logs` still shows the lines); with
# ORCH_LOG_RELAY=on the same service's lines are stamped by a relay that the
# daemon started.
. "$(dirname "$0")/lib/common.sh"
unset ORCH_LOG_RELAY
cat > Orchfile <<'OF'
SERVICE talk
RUN sh -c 'echo first; echo second; exec sleep 1000'
OF
log="$ORCH_STATE_DIR/logs/$ORCH_NAMESPACE.talk.log"
children() { cat /proc/"$(cat "$ORCH_STATE_DIR/orchd.lock")"/task/*/children 2>/dev/null; }
relay_children() {
    for c in $(children); do
        tr '\0' ' ' < "/proc/$c/cmdline" 2>/dev/null | grep -q "log-relay" && echo "$c"
    done
    true
}

"$ORCHD" grow 2>err.txt || fail "grow (default): $(cat err.txt)"
wait_for 10 grep -q second "$log" || fail "no output in $log: $(cat "$log" 2>&1)"
[ "$(cat "$log")" = "$(printf 'first\nsecond')" ] || fail "default: not the output as written: $(cat "$log")"
[ -z "$(relay_children)" ] || fail "default: a relay runs: $(relay_children)"
out=$("$ORCHD" logs talk) || fail "orchd logs talk"
[ "$out" = "$(printf 'first\nsecond')" ] || fail "orchd logs without a relay: $out"
"$ORCHD" fell >/dev/null 2>&1 || fail "fell (default)"
wait_for 10 sh -c "! [ -e $ORCH_STATE_DIR/orchd.lock ] || ! kill -0 \$(cat $ORCH_STATE_DIR/orchd.lock) 2>/dev/null"

rm -f "$log"
ORCH_LOG_RELAY=on "$ORCHD" grow 2>err.txt || fail "grow (on): $(cat err.txt)"
wait_for 10 grep -q second "$log" || fail "no output in $log (on)"
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z second$' "$log" ||
    fail "ORCH_LOG_RELAY=on: the relay did not stamp the line: $(cat "$log")"
[ -n "$(relay_children)" ] || fail "ORCH_LOG_RELAY=on: no relay among the daemon's children"
echo "ok: default: unstamped, no relay; ORCH_LOG_RELAY=on: stamped through a relay"
