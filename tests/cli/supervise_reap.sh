# The daemon is a child subreaper: a service that double-forks leaves no
# zombie behind when the grandchild exits, and fell still finds it.
. "$(dirname "$0")/lib/common.sh"

cat > Orchfile <<'OF'
SERVICE forker
RUN (sh -c 'echo $$ > grandchild.pid; sleep 0.5; exit 0' &) ; (sh -c 'echo $$ > daemonized.pid; exec sleep 1000' &); exec sleep 1000
OF
"$ORCHD" grow || fail "grow"
wait_for 5 test -s grandchild.pid || fail "no grandchild"
gc=$(cat grandchild.pid)
sleep 1.5
if [ -d "/proc/$gc" ]; then
    st=$(awk '{print $3}' "/proc/$gc/stat" 2>/dev/null || echo gone)
    [ "$st" != Z ] || fail "grandchild $gc is a zombie"
fi
daemonized=$(cat daemonized.pid)
[ -d "/proc/$daemonized" ] || fail "the daemonized process is not running"
"$ORCHD" fell || fail "fell"
[ ! -d "/proc/$daemonized" ] || fail "the daemonized grandchild survived fell"
echo PASS
