# ORCH_LOG_RELAY=none, the lean mode (docs/LOGS.md): a bare service writes
# straight into its own log, unstamped, and the daemon starts no relay
# process; `orchd logs` still shows the lines. Without the setting the same
# service's lines are stamped (the relay is on by default).
. "$(dirname "$0")/lib/common.sh"
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

ORCH_LOG_RELAY=none "$ORCHD" grow 2>err.txt || fail "grow (none): $(cat err.txt)"
wait_for 10 grep -q second "$log" || fail "no output in $log: $(cat "$log" 2>&1)"
[ "$(cat "$log")" = "$(printf 'first\nsecond')" ] || fail "lean mode: not the output as written: $(cat "$log")"
[ -z "$(relay_children)" ] || fail "lean mode: a relay runs: $(relay_children)"
out=$("$ORCHD" logs talk) || fail "orchd logs talk"
[ "$out" = "$(printf 'first\nsecond')" ] || fail "orchd logs in lean mode: $out"
"$ORCHD" fell >/dev/null 2>&1 || fail "fell (none)"
wait_for 10 sh -c "! [ -e $ORCH_STATE_DIR/orchd.lock ] || ! kill -0 \$(cat $ORCH_STATE_DIR/orchd.lock) 2>/dev/null"

rm -f "$log"
"$ORCHD" grow 2>err.txt || fail "grow (default): $(cat err.txt)"
wait_for 10 grep -q second "$log" || fail "no output in $log (default)"
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z second$' "$log" ||
    fail "default: the relay did not stamp the line: $(cat "$log")"
[ -n "$(relay_children)" ] || fail "default: no relay among the daemon's children"
echo "ok: lean mode: unstamped, no relay; default: stamped through a relay"
