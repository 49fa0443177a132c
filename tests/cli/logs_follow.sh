# orchd logs without a name interleaves every service by time, each line
# prefixed with its service's name (aligned); -f follows across a restart
# of the service and across rotations of its log (by name, like tail -F).
. "$(dirname "$0")/lib/common.sh"
export ORCH_LOG_RELAY=on # bare services get a relay only when asked (docs/LOGS.md)
cat > Orchfile <<'OF'
SERVICE alpha
RUN i=0; while :; do echo "alpha $i"; i=$((i+1)); sleep 0.1; done

SERVICE longname
RUN sleep 0.05; i=0; while :; do echo "longname $i" >&2; i=$((i+1)); sleep 0.1; done

SERVICE burst
RUN echo "burst run $(cat run.count 2>/dev/null)"; echo x >> run.count; [ -f go ] && seq -f "burst %g padding padding padding padding" 1 3000; echo burst-done; exec sleep 1000
RESTART always
OF
export ORCH_LOG_MAX_SIZE=16K ORCH_LOG_KEEP=50
"$ORCHD" grow 2>err.txt || fail "grow: $(cat err.txt)"
logs="$ORCH_STATE_DIR/logs"
wait_for 10 sh -c "grep -q 'alpha 12' '$logs/$ORCH_NAMESPACE.alpha.log'" || fail "alpha did not log"
"$ORCHD" logs --no-prefix -n 1000 alpha longname > /dev/null || fail "logs with two names"
"$ORCHD" logs -n 60 > inter.txt || fail "orchd logs: $(cat inter.txt)"
# prefixes aligned to the longest name
grep -qx 'alpha    | alpha [0-9]*' inter.txt || fail "no aligned alpha prefix: $(cat inter.txt)"
grep -qx 'longname | longname [0-9]*' inter.txt || fail "no longname prefix: $(cat inter.txt)"
# interleaved by time: alpha and longname alternate (each writes every 0.1 s);
# one service after the other would be 2 runs. A loaded machine may put two
# lines of one next to each other now and then: ask for 6 runs out of ~25+.
seq_=$(grep -v burst inter.txt | cut -d' ' -f1 | uniq | wc -l)
[ "$seq_" -ge 6 ] || fail "not interleaved: $(cat inter.txt)"
# and sorted by time
"$ORCHD" logs -t -n 50 --no-prefix | cut -c1-27 > stamps.txt
sort -c stamps.txt || fail "not in time order: $(cat stamps.txt)"
[ "$("$ORCHD" logs --no-prefix -n 5 | grep -c ' | ')" = 0 ] || fail "--no-prefix printed a prefix"

# -f on burst: a restart, then enough output to rotate its log several times
"$ORCHD" logs -f -n 0 burst > follow.txt 2>&1 &
fpid=$!
sleep 0.5
touch go
pid=$(sv "s['burst']['pid']")
kill "$pid"
wait_for 20 sh -c "grep -q burst-done follow.txt && grep -q 'burst 3000 ' follow.txt" ||
    { kill $fpid; fail "follow did not see the restarted run: $(tail -3 follow.txt)"; }
sleep 0.5
kill $fpid
rot=$(ls "$logs/$ORCH_NAMESPACE.burst.log".* | wc -l)
[ "$rot" -ge 3 ] || fail "burst's log rotated only $rot times"
grep -q '^burst run x$' follow.txt || fail "the restart's first line is missing: $(head follow.txt)"
got=$(grep -c '^burst [0-9]* padding' follow.txt)
[ "$got" = 3000 ] || fail "follow saw $got of 3000 lines across $rot rotations"
[ "$(grep '^burst [0-9]* padding' follow.txt | sort -u | wc -l)" = 3000 ] || fail "follow repeated lines"
echo "ok: interleaved with prefixes; -f across a restart and $rot rotations"
