# grow starts everything in dependency order and returns once it is up; a
# second grow keeps the same pids; logs show output; fell leaves nothing.
. "$(dirname "$0")/lib/common.sh"

cat > Orchfile <<'OF'
SERVICE db
RUN echo "db start $(date +%s%N)" >> order.log; exec sleep 1000
HEALTHCHECK grep -q "^db" order.log

SERVICE migrate
RUN echo "migrate $(date +%s%N)" >> order.log; echo migrated
REQUIRES db
ONESHOT true

SERVICE web
RUN echo "web start" >> order.log; echo hello from web; exec sleep 1000
REQUIRES migrate
OF

"$ORCHD" grow || fail "grow failed"
[ "$(sv "s['db']['state']")" = ready ] || fail "db not ready: $(survey)"
[ "$(sv "s['migrate']['state']")" = exited ] || fail "migrate not exited: $(survey)"
[ "$(sv "s['migrate']['exit_code']")" = 0 ] || fail "migrate exit code: $(survey)"
[ "$(sv "s['web']['state']")" = running ] || fail "web not running: $(survey)"
# grow returns once web's process runs, maybe before its first echo
wait_for 10 grep -q "^web" order.log || fail "web did not write order.log"
order=$(cut -d' ' -f1 order.log | tr '\n' ' ')
[ "$order" = "db migrate web " ] || fail "start order was: $order"

pid_db=$(sv "s['db']['pid']")
pid_web=$(sv "s['web']['pid']")
[ -d "/proc/$pid_web" ] || fail "web pid $pid_web does not exist"
# (its shell echoes twice before it execs sleep)
wait_for 10 grep -q "sleep" "/proc/$pid_web/cmdline" || fail "web pid is not the service's process"

"$ORCHD" grow || fail "second grow failed"
[ "$(sv "s['db']['pid']")" = "$pid_db" ] || fail "db pid changed on an unchanged grow"
[ "$(sv "s['web']['pid']")" = "$pid_web" ] || fail "web pid changed on an unchanged grow"
[ "$(grep -c '^migrate' order.log)" = 1 ] || fail "the oneshot ran again after success"

wait_for 10 sh -c '"$ORCHD" logs web | grep -q "hello from web"' || fail "logs web lacks the output"
wait_for 10 sh -c '"$ORCHD" logs -n 1 migrate | grep -qx "migrated"' || fail "logs -n 1 migrate"
[ -f "$ORCH_STATE_DIR/logs/$ORCH_NAMESPACE.web.log" ] || fail "default log path missing"

"$ORCHD" fell || fail "fell failed"
[ ! -d "/proc/$pid_web" ] || fail "web survived fell"
[ ! -d "/proc/$pid_db" ] || fail "db survived fell"
[ ! -S "$ORCH_STATE_DIR/orchd.sock" ] || fail "the daemon's socket is still there"
wait_for 10 no_leftovers || fail "processes left after fell: $(leftovers)"
echo PASS
