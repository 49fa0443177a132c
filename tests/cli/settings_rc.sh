# Settings as upstream orchd users write them: .orchrc in both forms
# (ORCH_NAMESPACE=x and namespace = x), precedence flag > env > project
# .orchrc > $HOME/.orchrc with flags before and after the verb, warnings
# naming file:line for what is ignored, ${PORT_OFFSET} settable, and
# --runtime taking effect or being refused.
. "$(dirname "$0")/lib/common.sh"

mkdir -p proj home
export HOME="$T/home"
# The namespaces this test uses, unique to it (cgroups are named after them).
N=$$
TEST_NS=$ORCH_NAMESPACE
unset ORCH_NAMESPACE ORCH_PORT_OFFSET ORCH_RUNTIME
settings_cleanup() {
    rc_=$?
    set +e
    export ORCH_NAMESPACE=$TEST_NS HOME="$T/home"
    for ns in h$N p$N f$N e$N; do
        for d in /sys/fs/cgroup/orchd/"$ns" /sys/fs/cgroup/*/orchd/"$ns"; do
            [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
    done
    rm -f "$T/proj/.orchrc" # a FIFO must not stop rm -rf
    (exit $rc_)
    cleanup
}
trap settings_cleanup EXIT INT TERM
# A oneshot that writes what the daemon filled in: the namespace shows in
# ${CONTAINER_PREFIX} (<namespace>-).
cat > proj/Orchfile <<OF
SERVICE probe
RUN echo "prefix=\${CONTAINER_PREFIX} offset=\${PORT_OFFSET}" > "$T/probe.out"
ONESHOT true
OF

# grow_probe WANT ARGS...: grows (ARGS are orchd's arguments), checks what the
# probe saw, fells.
grow_probe() {
    want=$1
    shift
    rm -f "$T/probe.out"
    "$ORCHD" "$@" >"$T/grow.out" 2>&1 || fail "orchd $* failed: $(cat "$T/grow.out")"
    got=$(cat "$T/probe.out" 2>/dev/null || echo "(no output)")
    [ "$got" = "$want" ] || fail "orchd $*: the service saw '$got', want '$want'"
    "$ORCHD" fell >/dev/null 2>&1 || fail "fell after orchd $*"
}

# Defaults: offset 0 (the namespace from the flag: the default "orch" is
# shared with whatever else runs here).
grow_probe "prefix=f$N- offset=0" grow -f proj/Orchfile --namespace "f$N"

# $HOME/.orchrc in upstream's form, with blanks around '=' and quotes.
printf 'namespace = h%s\n  port_offset=\t3  \n' "$N" > home/.orchrc
grow_probe "prefix=h$N- offset=3" grow -f proj/Orchfile

# The project's .orchrc (next to the Orchfile) beats $HOME's; orchd's form.
printf '# the project\nORCH_NAMESPACE=p%s\nORCH_PORT_OFFSET=5\n' "$N" > proj/.orchrc
grow_probe "prefix=p$N- offset=5" grow -f proj/Orchfile
# Upstream's form in the same file: the later line wins.
printf 'ORCH_PORT_OFFSET=5\nport_offset = "6"\n' > proj/.orchrc
grow_probe "prefix=h$N- offset=6" grow -f proj/Orchfile
# orchfile= in .orchrc (project dir given, so that is where .orchrc is read).
printf 'orchfile = %s/proj/Orchfile\nnamespace=p%s\n' "$T" "$N" > proj/.orchrc
(cd / && grow_probe "prefix=p$N- offset=3" grow --project-dir "$T/proj") ||
    fail "orchfile= from .orchrc"

# The environment beats both files; a flag beats the environment, before or
# after the verb.
ORCH_PORT_OFFSET=8 grow_probe "prefix=p$N- offset=8" grow -f proj/Orchfile
ORCH_PORT_OFFSET=8 grow_probe "prefix=p$N- offset=9" grow -f proj/Orchfile --port-offset 9
ORCH_PORT_OFFSET=8 grow_probe "prefix=f$N- offset=10" --port-offset 10 --namespace f$N \
    grow -f proj/Orchfile
ORCH_NAMESPACE=e$N grow_probe "prefix=e$N- offset=3" grow -f proj/Orchfile

# A running daemon serves one port offset: a grow asking for another is
# refused and says which it serves.
"$ORCHD" grow -f proj/Orchfile --port-offset 11 >/dev/null 2>&1 || fail "grow with offset 11"
if "$ORCHD" grow -f proj/Orchfile --port-offset 12 >"$T/err" 2>&1; then
    fail "a grow with another port offset was accepted"
fi
grep -q "port offset 11" "$T/err" || fail "the refusal does not name the offset: $(cat "$T/err")"
"$ORCHD" fell >/dev/null 2>&1 || fail "fell"
if "$ORCHD" grow -f proj/Orchfile --port-offset 70000 >"$T/err" 2>&1; then
    fail "port offset 70000 was accepted"
fi
grep -q "port offset '70000': expected a whole number from 0 to 65535" "$T/err" ||
    fail "bad port offset message: $(cat "$T/err")"

# state_dir= and data_dir= (upstream's names) take effect.
printf 'state_dir = %s/rcstate\ndata_dir = %s/rcdata\n' "$T" "$T" > proj/.orchrc
cat > proj/Dirs <<OF
SERVICE dirs
RUN echo "\${ORCH_STATE_DIR} \${ORCH_DATA}" > "$T/dirs.out"
ONESHOT true
OF
(
    unset ORCH_STATE_DIR ORCH_DATA
    "$ORCHD" grow -f proj/Dirs >/dev/null 2>&1 || exit 1
    [ -S "$T/rcstate/orchd.sock" ] || exit 2
    "$ORCHD" fell -f proj/Dirs >/dev/null 2>&1 || exit 3
) || fail "state_dir= from .orchrc (step $?)"
[ "$(cat "$T/dirs.out")" = "$T/rcstate $T/rcdata" ] ||
    fail "state_dir=/data_dir= from .orchrc: the service saw $(cat "$T/dirs.out")"

# What is ignored is named, with file and line, instead of silence.
{
    echo "namespace=p$N"
    echo "nmespace = typo"
    echo "ORCH_SECCOMP=unconfined"
    echo "just words"
    printf 'port_offset=%05000d\n' 1
    echo "port_offset=4"
} > proj/.orchrc
grow_probe "prefix=p$N- offset=4" grow -f proj/Orchfile
rc="$T/proj/.orchrc"
grep -qF "orchd: warning: $rc:2: unknown key 'nmespace' (ignored)" "$T/grow.out" ||
    fail "no warning for an unknown key: $(cat "$T/grow.out")"
grep -qF "$rc:3: unknown key 'ORCH_SECCOMP' (ignored)" "$T/grow.out" ||
    fail "no warning for an environment-only key"
grep -qF "$rc:4: not KEY=value (ignored)" "$T/grow.out" || fail "no warning for a bad line"
grep -qF "$rc:5: line longer than 4095 bytes (ignored)" "$T/grow.out" ||
    fail "no warning for an overlong line: $(cat "$T/grow.out")"
# A file setting every key in both forms warns about nothing.
printf 'namespace=a\nruntime=containerd\nport_offset=1\ncontainerd_socket=/x\nORCH_NAMESPACE=b\n' \
    > proj/.orchrc
"$ORCHD" survey -f proj/Orchfile >/dev/null 2>"$T/err" || true
if grep -q warning "$T/err"; then fail "a valid .orchrc warned: $(cat "$T/err")"; fi
rm -f proj/.orchrc home/.orchrc

# A .orchrc that is a FIFO does not hang the command.
mkfifo proj/.orchrc
timeout 10 "$ORCHD" survey -f proj/Orchfile >/dev/null 2>"$T/err" && true
[ $? -ne 124 ] || fail "a FIFO .orchrc hung orchd"
grep -qF "$T/proj/.orchrc: not a regular file (ignored)" "$T/err" ||
    fail "no warning for a FIFO .orchrc: $(cat "$T/err")"
rm -f proj/.orchrc

# --runtime: a value that cannot run FROM services is refused, naming the
# valid ones, from a flag (before or after the verb), the environment or
# .orchrc; nothing starts.
for how in "--runtime bare grow" "grow --runtime bare" "grow --runtime contaienrd"; do
    # shellcheck disable=SC2086
    if "$ORCHD" $how -f proj/Orchfile >"$T/err" 2>&1; then fail "orchd $how was accepted"; fi
    grep -q "cannot run FROM services: use containerd or vm" "$T/err" ||
        fail "orchd $how: $(cat "$T/err")"
done
if ORCH_RUNTIME=bare "$ORCHD" grow -f proj/Orchfile >"$T/err" 2>&1; then
    fail "ORCH_RUNTIME=bare was accepted"
fi
grep -q "runtime 'bare' cannot run FROM services" "$T/err" || fail "ORCH_RUNTIME=bare: $(cat "$T/err")"
printf 'runtime = bare\n' > proj/.orchrc
if "$ORCHD" grow -f proj/Orchfile >"$T/err" 2>&1; then fail "runtime = bare in .orchrc was accepted"; fi
grep -q "runtime 'bare' cannot run FROM services" "$T/err" || fail ".orchrc runtime: $(cat "$T/err")"
rm -f proj/.orchrc
[ ! -e "$ORCH_STATE_DIR/orchd.sock" ] || ! "$ORCHD" survey >/dev/null 2>&1 ||
    fail "a refused runtime left a daemon running"

# --runtime takes effect: vm refuses a registry image (it boots archives),
# containerd names its socket.
printf 'SERVICE c\nFROM docker.io/library/busybox:latest\n' > proj/Cfile
"$ORCHD" --runtime vm grow -f proj/Cfile --pull never >"$T/err" 2>&1 && fail "vm grew a registry image"
grep -q "the vm runtime takes oci-archive: or oci: images" "$T/err" ||
    fail "--runtime vm did not select the vm runtime: $(cat "$T/err")"
"$ORCHD" fell >/dev/null 2>&1 || true
printf 'runtime=containerd\ncontainerd_socket = %s/no.sock\n' "$T" > proj/.orchrc
"$ORCHD" grow -f proj/Cfile --pull never >"$T/err" 2>&1 && fail "grew without containerd"
grep -q "containerd not reachable at $T/no.sock" "$T/err" ||
    fail "containerd_socket= from .orchrc was not used: $(cat "$T/err")"
"$ORCHD" fell >/dev/null 2>&1 || true
echo PASS
