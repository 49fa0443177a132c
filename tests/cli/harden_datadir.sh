# Named volumes must survive a reboot: the default data dir is not under
# the state dir (a tmpfs for root) but /var/lib/orchd for root and the XDG
# data home otherwise; grow warns (and still works) when data is left at
# the old place, <state>/data.
. "$(dirname "$0")/lib/common.sh"
unset ORCH_DATA
printf 'SERVICE a\nRUN exec sleep 1000\n' > Orchfile

# data_dir SETTINGS...: the --data-dir the CLI hands the daemon it starts
data_dir() {
    "$ORCHD" grow "$@" 2>grow.err || fail "grow: $(cat grow.err)"
    pid=$(cat "$ORCH_STATE_DIR/orchd.lock")
    tr '\0' '\n' < "/proc/$pid/cmdline" | sed -n '/^--data-dir$/{n;p}'
    "$ORCHD" fell >/dev/null 2>&1
}

if [ "$(id -u)" = 0 ]; then
    [ "$(data_dir)" = /var/lib/orchd ] || fail "root's default data dir: $(data_dir)"
    ! grep -q "warning" grow.err || fail "a warning without old data: $(cat grow.err)"
fi

# The old place holds data: one warning line naming both, grow succeeds.
mkdir -p "$ORCH_STATE_DIR/data/volumes/keep"
"$ORCHD" grow 2>grow.err || fail "grow with old data failed: $(cat grow.err)"
grep -qF "orchd grow: warning: $ORCH_STATE_DIR/data holds data from an older orchd" grow.err ||
    fail "no warning: $(cat grow.err)"
[ "$(grep -c warning grow.err)" = 1 ] || fail "more than one warning: $(cat grow.err)"
"$ORCHD" fell >/dev/null 2>&1
# ...but not when ORCH_DATA says to keep using it.
ORCH_DATA=$ORCH_STATE_DIR/data "$ORCHD" grow 2>grow.err || fail "grow: $(cat grow.err)"
! grep -q warning grow.err || fail "warned although ORCH_DATA points there: $(cat grow.err)"
"$ORCHD" fell >/dev/null 2>&1

# A non-root user: $XDG_DATA_HOME/orchd, else ~/.local/share/orchd.
if [ "$(id -u)" = 0 ] && command -v useradd >/dev/null; then
    throwaway_user orchtd
    chmod 711 "$T"
    mkdir "$T/home" && chown "$U:" "$T/home"
    as_u() { setpriv --reuid="$U" --regid="$U" --clear-groups env -i PATH=/usr/bin:/bin HOME="$T/home" "$@"; }
    out=$(as_u sh -c "cd '$T/home' && printf 'SERVICE a\nRUN exec sleep 1000\n' > Orchfile &&
        '$ORCHD' grow && tr '\\0' '\\n' < /proc/\$(cat /tmp/orchd-$(id -u "$U")/orchd.lock)/cmdline |
        sed -n '/^--data-dir\$/{n;p}'; '$ORCHD' fell >/dev/null 2>&1" 2>&1)
    [ "$out" = "$T/home/.local/share/orchd" ] || fail "user default data dir: $out"
    out=$(as_u XDG_DATA_HOME="$T/home/xdg" sh -c "cd '$T/home' && '$ORCHD' grow &&
        tr '\\0' '\\n' < /proc/\$(cat /tmp/orchd-$(id -u "$U")/orchd.lock)/cmdline |
        sed -n '/^--data-dir\$/{n;p}'; '$ORCHD' fell >/dev/null 2>&1" 2>&1)
    [ "$out" = "$T/home/xdg/orchd" ] || fail "XDG_DATA_HOME data dir: $out"
    [ "$(stat -c %a:%U "/tmp/orchd-$(id -u "$U")")" = "700:$U" ] ||
        fail "the user's state dir: $(stat -c %a:%U "/tmp/orchd-$(id -u "$U")")"
    rm -rf "/tmp/orchd-$(id -u "$U")"
fi
echo "PASS"
