# The identity of a run includes its ENV_FILEs' contents: an edit restarts
# exactly that service; a ONESHOT whose identity changed runs again and what
# REQUIRES it restarts; nothing else is touched. A ONESHOT's success is
# recorded under <data>/oneshots/: after the daemon is killed (-9) and
# started again it does not run again, unless asked (grow --rerun).
. "$(dirname "$0")/lib/common.sh"
command -v python3 >/dev/null || skip "python3 is needed"

echo "LEVEL=1" > m.env
echo "COLOUR=red" > o.env
cat > Orchfile <<'OF'
SERVICE migrate
ONESHOT true
ENV_FILE m.env
RUN echo "run $LEVEL" >> migrate.count

SERVICE web
REQUIRES migrate
RUN exec sleep 1000

SERVICE other
ENV_FILE o.env
RUN exec sleep 1000

SERVICE plain
RUN exec sleep 1000
OF

runs() { wc -l < migrate.count; }
pid_of() { sv "s['$1']['pid']"; }
daemon_pid() {
    exe=$(readlink -f "$ORCHD")
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$exe" ] || continue
        { tr '\0' '\n' < "$p/environ"; } 2>/dev/null | grep -qx "ORCH_STATE_DIR=$ORCH_STATE_DIR" &&
            echo "${p#/proc/}"
    done
}

"$ORCHD" grow || fail "first grow"
[ "$(runs)" = 1 ] || fail "migrate ran $(runs) times"
web=$(pid_of web); other=$(pid_of other); plain=$(pid_of plain)
ls "$ORCH_DATA/oneshots/$ORCH_NAMESPACE.migrate" >/dev/null || fail "no oneshot record"
[ "$(stat -c %a "$ORCH_DATA/oneshots")" = 700 ] || fail "oneshots dir is not 0700"

"$ORCHD" grow || fail "second grow"
[ "$(runs)" = 1 ] || fail "an unchanged grow re-ran migrate"
[ "$(pid_of web)" = "$web" ] && [ "$(pid_of other)" = "$other" ] && [ "$(pid_of plain)" = "$plain" ] ||
    fail "an unchanged grow restarted something: $(survey)"

echo "COLOUR=blue" > o.env
"$ORCHD" grow || fail "grow after editing o.env"
[ "$(pid_of other)" != "$other" ] || fail "other was not restarted after its ENV_FILE changed"
[ "$(pid_of web)" = "$web" ] && [ "$(pid_of plain)" = "$plain" ] ||
    fail "editing o.env restarted another service: $(survey)"
[ "$(runs)" = 1 ] || fail "editing o.env re-ran migrate"
other=$(pid_of other)

echo "LEVEL=2" > m.env
"$ORCHD" grow || fail "grow after editing m.env"
[ "$(runs)" = 2 ] || fail "migrate did not run again after m.env changed ($(runs) runs)"
tail -n 1 migrate.count | grep -qx "run 2" || fail "migrate did not see LEVEL=2"
wait_for 10 sh -c "[ \"\$(\"$ORCHD\" survey --json | python3 -c \"import json,sys; print({x['service']:x for x in json.load(sys.stdin)}['web']['state'])\")\" = running ]" ||
    fail "web not running again: $(survey)"
[ "$(pid_of web)" != "$web" ] || fail "web (REQUIRES migrate) was not restarted after migrate re-ran"
[ "$(pid_of other)" = "$other" ] && [ "$(pid_of plain)" = "$plain" ] ||
    fail "re-running migrate restarted an unrelated service: $(survey)"
web=$(pid_of web)

d=$(daemon_pid)
[ -n "$d" ] || fail "cannot find the daemon's pid"
kill -9 $d
wait_for 10 sh -c "! kill -0 $d" || fail "the daemon did not die"
"$ORCHD" grow || fail "grow after the daemon was killed"
[ "$(runs)" = 2 ] || fail "migrate ran again after a daemon restart ($(runs) runs)"
state_is migrate exited || fail "migrate is not exited after the restart: $(survey)"
state_is web running || fail "web is not running after the restart: $(survey)"

"$ORCHD" grow --rerun migrate || fail "grow --rerun"
[ "$(runs)" = 3 ] || fail "grow --rerun migrate did not run it ($(runs) runs)"
"$ORCHD" grow --rerun plain 2>err.txt && fail "--rerun of a non-oneshot succeeded"
grep -q "not a ONESHOT" err.txt || fail "--rerun plain: $(cat err.txt)"
echo PASS
