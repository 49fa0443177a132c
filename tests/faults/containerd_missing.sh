# No containerd socket at the configured path: grow's first line names the
# socket and says "not reachable" (not "image ... is not in containerd's
# store"), and it says so within a second instead of ~3 s of retries.
# No containerd is needed: the path simply does not exist.
. "$SRC/tests/cli/lib/common.sh"

[ -f "$(dirname "$ORCHD")/orchd-containerd.so" ] || skip "the containerd module is not built"
export ORCH_CONTAINERD_SOCKET="$T/no-such-dir/containerd.sock"
cat > Orchfile <<'OF'
SERVICE web
FROM docker.io/library/busybox:latest
CMD sleep 1000
OF

for pull in default never; do
    args=""
    [ "$pull" = never ] && args="--pull never"
    t0=$(date +%s%N)
    rc=0
    # shellcheck disable=SC2086
    timeout 20 "$ORCHD" grow $args > out.txt 2> err.txt || rc=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "pull $pull: grow exited $rc after $ms ms; first line: $(head -n 1 err.txt)"
    [ "$rc" != 0 ] || fail "grow succeeded without containerd"
    [ "$rc" != 124 ] || fail "grow hung"
    first=$(grep -v '^$' err.txt out.txt | head -n 1)
    case "$first" in
    *"not reachable"*"$ORCH_CONTAINERD_SOCKET"* | *"$ORCH_CONTAINERD_SOCKET"*"not reachable"*) ;;
    *) fail "pull $pull: the first line does not name the socket and 'not reachable': $first" ;;
    esac
    case "$first" in
    *"is not in containerd's store"*) fail "pull $pull: the first line blames the image: $first" ;;
    esac
    [ "$ms" -lt 5000 ] || fail "pull $pull: grow took $ms ms"
    "$ORCHD" fell >/dev/null 2>&1 || true
done
echo PASS
