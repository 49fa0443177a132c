# Log rotation loses and repeats nothing: a bare service writes numbered
# lines as fast as it can into its own log, which rotates every 32 KiB;
# across the current file and every rotated one, each number appears
# exactly once, each line carries the relay's time stamp, no file is far
# past the size, and `orchd logs` (no stamps by default) reads them in
# order across the files. Without the relay (before this change) nothing
# rotates and the stamp check fails.
. "$(dirname "$0")/lib/common.sh"
export ORCH_LOG_RELAY=on # bare services get a relay only when asked (docs/LOGS.md)
N=100000
cat > Orchfile <<OF
SERVICE fast
RUN seq 1 $N; echo end-of-numbers; exec sleep 1000
OF
export ORCH_LOG_MAX_SIZE=32K ORCH_LOG_KEEP=1000
"$ORCHD" grow 2>err.txt || fail "grow: $(cat err.txt)"
log="$ORCH_STATE_DIR/logs/$ORCH_NAMESPACE.fast.log"
wait_for 60 grep -q end-of-numbers "$log" || fail "the service did not finish writing"
files=$(ls "$log".* 2>/dev/null | wc -l)
[ "$files" -ge 20 ] || fail "only $files rotated files"
# no file grew much past the limit (one relay batch at most)
big=$(find "$ORCH_STATE_DIR/logs" -name "$ORCH_NAMESPACE.fast.log*" -size +200k | head -1)
[ -z "$big" ] || fail "$big is $(stat -c %s "$big") bytes"
: > all.txt
for k in $(seq "$files" -1 1); do cat "$log.$k" >> all.txt; done
cat "$log" >> all.txt
bad=$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z ' all.txt || true)
[ "$bad" = 0 ] || fail "$bad lines without a time stamp"
sed 's/^[^ ]* //' all.txt | grep -E '^[0-9]+$' > nums.txt
[ "$(wc -l < nums.txt)" = "$N" ] || fail "$(wc -l < nums.txt) numbered lines, expected $N"
[ "$(sort -n nums.txt | uniq | wc -l)" = "$N" ] || fail "some numbers repeat"
seq 1 $N | cmp -s - nums.txt || fail "the numbers are not in order across the files"
# orchd logs reads across the rotated files, stamps stripped
"$ORCHD" logs -n 100001 fast | head -n $N > via_logs.txt
seq 1 $N | cmp -s - via_logs.txt || fail "orchd logs: $(head -3 via_logs.txt)"
"$ORCHD" logs -n 3 -t fast | grep -qE '^[0-9-]{10}T[0-9:.]{15}Z end-of-numbers$' ||
    fail "orchd logs -t: $("$ORCHD" logs -n 3 -t fast)"
echo "ok: $N lines across $files rotated files, each once"
