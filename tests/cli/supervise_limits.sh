# What a bare service gets: environment (ENV_FILE then ENV), WORKDIR, USER,
# rlimits, cgroup limits, and its own process group.
. "$(dirname "$0")/lib/common.sh"

mkdir -p app
printf 'FROM_FILE=file\nSHARED=file\n# comment\n' > app.env
cat > Orchfile <<'OF'
SERVICE probe
RUN env > env.out; pwd > pwd.out; id -u > uid.out; exec sleep 1000
WORKDIR app
ENV_FILE ../app.env
ENV SHARED=env
ENV PLAIN=yes
LIMIT_NOFILE 1000
LIMIT_NPROC 500
MEMORY 64M
TASKS_MAX 32
CPUS 0.5
OF
sed -i 's|ENV_FILE ../app.env|ENV_FILE ${ORCH_PROJECT}/app.env|' Orchfile

"$ORCHD" grow || fail "grow"
pid=$(sv "s['probe']['pid']")
# uid.out is the last file the service writes: env.out and pwd.out are complete
wait_for 10 test -s app/uid.out || fail "the service did not write its env, pwd and uid"
grep -qx "FROM_FILE=file" app/env.out || fail "ENV_FILE value missing"
grep -qx "SHARED=env" app/env.out || fail "ENV does not override ENV_FILE"
grep -qx "PLAIN=yes" app/env.out || fail "ENV missing"
grep -qx "ORCH_SERVICE=probe" app/env.out || fail "ORCH_SERVICE missing"
[ "$(cat app/pwd.out)" = "$T/app" ] || fail "WORKDIR: $(cat app/pwd.out)"
grep -E '^Max open files +1000 +1000' "/proc/$pid/limits" >/dev/null || fail "nofile: $(grep 'open files' /proc/$pid/limits)"
grep -E '^Max processes +500 +500' "/proc/$pid/limits" >/dev/null || fail "nproc: $(grep 'Max processes' /proc/$pid/limits)"
# own process group and session
[ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ] || fail "not its own process group"

# cgroup limits, v2 or v1, wherever orchd put the service
mem=""; pids=""
while IFS=: read -r _ ctrl path; do
    case "$ctrl" in
    memory) mem=$(cat "/sys/fs/cgroup/memory$path/memory.limit_in_bytes" 2>/dev/null || true) ;;
    pids) pids=$(cat "/sys/fs/cgroup/pids$path/pids.max" 2>/dev/null || true) ;;
    "") [ -f "/sys/fs/cgroup$path/memory.max" ] && mem=$(cat "/sys/fs/cgroup$path/memory.max") &&
        pids=$(cat "/sys/fs/cgroup$path/pids.max") ;;
    esac
done < "/proc/$pid/cgroup"
if [ -z "$mem" ]; then
    echo "note: no writable cgroup hierarchy; cgroup limits not checked"
else
    [ "$mem" = 67108864 ] || fail "memory limit is $mem"
    [ "$pids" = 32 ] || fail "pids limit is $pids"
fi

# USER: run as nobody
cat > Orchfile.user <<OF
SERVICE nobody
RUN id -u > $T/nobody.uid; exec sleep 1000
USER nobody
WORKDIR /
OF
chmod 777 "$T"
"$ORCHD" grow --overlay Orchfile.user nobody || fail "grow nobody"
wait_for 5 test -s nobody.uid || fail "nobody wrote nothing"
[ "$(cat nobody.uid)" = "$(id -u nobody)" ] || fail "USER nobody ran as $(cat nobody.uid)"
echo PASS
