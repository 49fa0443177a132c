#!/bin/bash
# orchd fell removes the named volumes under $ORCH_DATA/volumes without
# following what a service wrote there: a service running as nobody plants
# symlinks to an outside file and directory (and a relative one climbing out);
# after fell the volumes are gone and the outside is untouched. A large volume
# (300,000 files) is removed off the loop thread: survey answers while it goes,
# and a second fell waits for it and succeeds.
. "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" = 0 ] || skip "needs root (a service running as nobody)"
id nobody >/dev/null 2>&1 || skip "no user nobody"
chmod 755 "$T"

mkdir -p "$T/outside/dir" "$ORCH_DATA/volumes/v" "$ORCH_DATA/volumes/big"
echo keep > "$T/outside/file"
echo keep > "$T/outside/dir/inner"
chmod 755 "$ORCH_DATA" "$ORCH_DATA/volumes"
chown nobody "$ORCH_DATA/volumes/v"
python3 - "$ORCH_DATA/volumes/big" <<'PY'
import os, sys
top = sys.argv[1]
for d in range(300):
    p = os.path.join(top, f"d{d}")
    os.mkdir(p)
    for f in range(1000):
        os.close(os.open(os.path.join(p, f"f{f}"), os.O_CREAT | os.O_WRONLY, 0o644))
PY

cat > Orchfile <<EOF2
SERVICE planter
USER nobody
RUN ln -s $T/outside/file \${ORCH_DATA}/volumes/v/to-file && ln -s $T/outside/dir \${ORCH_DATA}/volumes/v/to-dir && mkdir \${ORCH_DATA}/volumes/v/sub && ln -s ../../../../outside \${ORCH_DATA}/volumes/v/sub/up && touch \${ORCH_DATA}/volumes/v/planted && exec sleep 1000
EOF2
"$ORCHD" grow || fail "grow"
wait_for 20 test -e "$ORCH_DATA/volumes/v/planted" || fail "the service did not plant its links"
[ -L "$ORCH_DATA/volumes/v/to-dir" ] && [ "$(stat -c %U "$ORCH_DATA/volumes/v/to-dir")" = nobody ] ||
    fail "the links are not the service's"

"$ORCHD" fell > "$T/fell.out" 2>&1 &
fell_pid=$!
during=0
slowest=0
while kill -0 "$fell_pid" 2>/dev/null && [ -d "$ORCH_DATA/volumes/big" ]; do
    t0=$(date +%s%N)
    timeout 5 "$ORCHD" survey --json > /dev/null 2>&1 || { kill -0 "$fell_pid" 2>/dev/null && fail "survey did not answer during the removal"; break; }
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    # only counts when the removal was still going after the answer
    if kill -0 "$fell_pid" 2>/dev/null && [ -d "$ORCH_DATA/volumes/big" ]; then
        during=$((during + 1))
        [ "$ms" -gt "$slowest" ] && slowest=$ms
        if [ "$during" = 1 ]; then
            timeout 60 "$ORCHD" fell > "$T/fell2.out" 2>&1 || fail "a second fell during the removal: $(cat "$T/fell2.out")"
            [ -d "$ORCH_DATA/volumes/big" ] && fail "the second fell returned before the removal was done"
        fi
    fi
    sleep 0.05
done
wait "$fell_pid" || fail "fell: $(cat "$T/fell.out")"
echo "survey answered $during times during the removal, slowest ${slowest} ms"
[ "$during" -ge 1 ] || fail "the removal was over before survey could be asked (too fast to observe)"
[ "$slowest" -lt 2000 ] || fail "survey took ${slowest} ms during the removal"

[ ! -e "$ORCH_DATA/volumes" ] || fail "the volumes are still there: $(ls -R "$ORCH_DATA/volumes" | head)"
[ "$(cat "$T/outside/file")" = keep ] && [ "$(cat "$T/outside/dir/inner")" = keep ] ||
    fail "the outside was touched"
echo PASS
