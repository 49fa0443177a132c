# ENV_FILE is read with the service's identity and with care: a symlink to
# a file its USER cannot read does not leak it, a FIFO does not block the
# daemon, /dev/zero and an oversize file are refused, each with a clear
# error naming service, path and why; survey keeps answering fast.
. "$(dirname "$0")/lib/common.sh"
throwaway_user orchte
chmod 711 "$T"

mkdir "$T/env"
chown "$U:" "$T/env"
chmod 755 "$T/env"
printf 'TOKEN=secret-of-another-service\n' > "$T/other.env"
chmod 600 "$T/other.env"
printf 'OK=fine\n' > "$T/env/ok.env"
as_user() { setpriv --reuid="$U" --regid="$U" --clear-groups sh -c "$1"; }
as_user "ln -s '$T/other.env' '$T/env/leak.env' && mkfifo '$T/env/fifo.env' &&
         ln -s /dev/zero '$T/env/zero.env'" || fail "setup as $U"
python3 -c "import sys; sys.stdout.write('A=' + 'x' * (2 << 20) + '\n')" > "$T/env/big.env"

cat > Orchfile <<OF
SERVICE good
USER $U
ENV_FILE $T/env/ok.env
RUN echo "OK=\$OK"; exec sleep 1000

SERVICE leak
USER $U
ENV_FILE $T/env/leak.env
RUN echo "TOKEN=\$TOKEN" > $T/env/leaked; exec sleep 1000

SERVICE fifo
USER $U
ENV_FILE $T/env/fifo.env
RUN exec sleep 1000

SERVICE zero
USER $U
ENV_FILE $T/env/zero.env
RUN exec sleep 1000

SERVICE big
ENV_FILE $T/env/big.env
RUN exec sleep 1000
OF

# expect SERVICE WHY: grow it alone, in at most 10 s; it fails with WHY
expect() {
    timeout 10 "$ORCHD" grow "$1" 2>err.txt && fail "grow $1 succeeded"
    [ $? = 124 ] && fail "grow $1 hung (the daemon's loop is blocked?)"
    grep -qF "service $1: failed: ENV_FILE $T/env/$1.env: $2" err.txt || fail "grow $1: $(cat err.txt)"
    start=$(date +%s%N)
    timeout 2 "$ORCHD" survey >/dev/null || fail "survey does not answer after $1"
    echo "$1 refused; survey answered in $(( ($(date +%s%N) - start) / 1000000 )) ms"
}

"$ORCHD" grow good 2>err.txt || fail "grow good: $(cat err.txt)"
expect leak "Permission denied (read as USER $U)"
[ ! -e "$T/env/leaked" ] || fail "the secret leaked: $(cat "$T/env/leaked")"
expect fifo "is a FIFO, not a regular file (read as USER $U)"
expect zero "is a character device, not a regular file (read as USER $U)"
expect big "is larger than 1048576 bytes"
[ "$(sv "s['good']['state']")" = running ] || fail "good was disturbed: $(survey)"
echo "PASS"
