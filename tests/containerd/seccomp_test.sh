#!/bin/bash
# Containers run under containerd's default seccomp profile (issue 17, item
# 10; docs/OCI-SPEC.md, "seccomp"): a static probe (seccomp_probe.c, bind-
# mounted into the test image) run as a ONESHOT container finds the kernel's
# seccomp filter on (mode 2), unshare(0), keyctl, mount, kexec_load and an
# unlisted persona refused with EPERM and clone3 with ENOSYS, while getpid,
# write and fork work. The controls show those refusals come from the
# profile: the same binary on the host, and in the same container under
# ORCH_SECCOMP=unconfined (no filter, mode 0), gets something else. An
# ORCH_SECCOMP typo makes grow fail, naming the variable.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
ctd_require
orchd_require
command -v gcc >/dev/null 2>&1 || ctd_skip "gcc is not installed (the probe is built static)"
CTD_NS=secc$$
ctd_setup
orchd_setup
log "containerd at $CTD_SOCK (snapshotter $ORCH_SNAPSHOTTER), namespace $CTD_NS"

mkdir -p "$PROJ/probe"
gcc -static -O2 -o "$PROJ/probe/seccomp_probe" "$SRC/tests/containerd/seccomp_probe.c" 2>"$CTD_DIR/gcc.err" ||
    ctd_skip "cannot build a static binary here: $(head -c 300 "$CTD_DIR/gcc.err")"

cat >"$PROJ/Orchfile" <<'EOF'
SERVICE probe
FROM localhost/orchd-test:latest
CMD /probe/seccomp_probe
VOLUME ./probe:/probe
ONESHOT true
STDOUT ${ORCH_STATE_DIR}/probe.out
EOF

# result FILE NAME: the probe's verdict for one syscall ("ok", "EPERM", ...)
result() { awk -v n="$2" '$1 == n { print $2 }' "$1" 2>/dev/null; }

# expect FILE WHAT NAME VERDICT: VERDICT is "X" (exactly) or "!X" (anything
# but X, and present)
expect() {
    local got
    got=$(result "$1" "$3")
    case $4 in
    !*) [ -n "$got" ] && [ "$got" != "${4#!}" ] && ok "$2: $3 -> $got" ||
            bad "$2: $3 -> '${got}', wanted anything but ${4#!}" ;;
    *) [ "$got" = "$4" ] && ok "$2: $3 -> $got" || bad "$2: $3 -> '${got}', wanted $4" ;;
    esac
}

# run_probe WHAT: grows the oneshot in a fresh daemon, waits for its exit and
# leaves its output in $CTD_DIR/WHAT.out; the daemon is felled after.
run_probe() {
    rm -f "$ORCH_STATE_DIR/probe.out"
    o grow -f "$PROJ/Orchfile" || bad "$1: grow failed"
    wait_cond 30 'state_is probe exited' ||
        bad "$1: probe is $(survey_field probe state): $(survey_field probe error)"
    [ "$(survey_field probe exit_code)" = 0 ] || bad "$1: probe exit code $(survey_field probe exit_code)"
    cp "$ORCH_STATE_DIR/probe.out" "$CTD_DIR/$1.out" 2>/dev/null || : >"$CTD_DIR/$1.out"
    sed "s/^/  $1: /" "$CTD_DIR/$1.out"
    timeout 60 "$ORCHD" fell >/dev/null 2>&1 || bad "$1: fell failed"
    local pid
    pid=$(daemon_pid)
    [ -n "$pid" ] && wait_cond 10 '! kill -0 "$pid"'
}

# ---- control 1: the host, no filter (the probe's arguments are harmless)
"$PROJ/probe/seccomp_probe" >"$CTD_DIR/host.out" 2>&1
sed 's/^/  host: /' "$CTD_DIR/host.out"
expect "$CTD_DIR/host.out" host unshare ok
expect "$CTD_DIR/host.out" host keyctl '!EPERM'
expect "$CTD_DIR/host.out" host clone3 ok
expect "$CTD_DIR/host.out" host personality ok
expect "$CTD_DIR/host.out" host mount '!EPERM'
expect "$CTD_DIR/host.out" host kexec_load '!EPERM'

# ---- the default: containerd's profile
unset ORCH_SECCOMP
run_probe default
f=$CTD_DIR/default.out
expect "$f" default seccomp 2
for s in getpid write fork; do expect "$f" default $s ok; done
for s in unshare keyctl personality mount kexec_load; do expect "$f" default $s EPERM; done
expect "$f" default clone3 ENOSYS

# ---- control 2: the same container, ORCH_SECCOMP=unconfined
export ORCH_SECCOMP=unconfined # read by the daemon the next grow starts
run_probe unconfined
f=$CTD_DIR/unconfined.out
expect "$f" unconfined seccomp 0
for s in getpid write fork unshare clone3 personality; do expect "$f" unconfined $s ok; done
expect "$f" unconfined keyctl '!EPERM'
expect "$f" unconfined mount ENOENT # reaches the path lookup: no filter in front
grep -q "no seccomp profile (ORCH_SECCOMP=unconfined" "$ORCH_STATE_DIR/orchd.log" &&
    ok "the daemon log says the container runs without a profile" ||
    bad "orchd.log does not mention ORCH_SECCOMP=unconfined"

# ---- a value that is neither: grow refused, naming it; nothing started
export ORCH_SECCOMP=unconfine
o grow -f "$PROJ/Orchfile" >"$CTD_DIR/typo.out" 2>&1
rc=$?
unset ORCH_SECCOMP
if [ $rc != 0 ] && grep -q "ORCH_SECCOMP='unconfine'" "$CTD_DIR/typo.out"; then
    ok "ORCH_SECCOMP=unconfine: grow refused (rc $rc): $(head -1 "$CTD_DIR/typo.out")"
else
    bad "ORCH_SECCOMP=unconfine: grow rc $rc: $(cat "$CTD_DIR/typo.out")"
fi
[ -z "$($CTD_CTR containers ls -q 2>&1)" ] && ok "no container was made under the bad setting" ||
    bad "containers exist: $($CTD_CTR containers ls -q 2>&1)"
timeout 60 "$ORCHD" fell >/dev/null 2>&1

assert_clean "after the runs"
finish
