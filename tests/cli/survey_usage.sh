# survey shows what a bare service's cgroup uses against its limits, read
# from the cgroup files when asked: memory against MEMORY, CPU time, pids
# against TASKS_MAX; --watch turns CPU time into a percentage over the
# interval. The numbers are checked against the cgroup files the kernel
# keeps for the service's process (found through /proc/PID/cgroup), so a
# survey that made them up, or read another cgroup, fails.
. "$(dirname "$0")/lib/common.sh"
cat > Orchfile <<'OF'
SERVICE hog
RUN sleep 1000 & sleep 1000 & while :; do :; done
MEMORY 96M
TASKS_MAX 40
OF
"$ORCHD" grow 2>err.txt || fail "grow: $(cat err.txt)"
wait_for 10 state_is hog running || fail "hog not running: $(survey)"
pid=$(sv "s['hog']['pid']")
# the file NAME of pid's cgroup in whichever hierarchy has it
# (v2: the "0::" line, mounted at /sys/fs/cgroup or .../unified; v1: the
# controller's own line and mount)
cgfile() {
    while IFS=: read -r _ ctrls path; do
        if [ -z "$ctrls" ]; then
            mounts="/sys/fs/cgroup /sys/fs/cgroup/unified"
        else
            [ "$1" = cpu.stat ] && continue # usage_usec is v2 only
            case ",$ctrls," in *",${1%%.*},"*) ;; *) continue ;; esac
            mounts=/sys/fs/cgroup/${1%%.*}
        fi
        for m in $mounts; do
            [ -f "$m$path/$1" ] && { cat "$m$path/$1"; return 0; }
        done
    done < "/proc/$pid/cgroup"
    return 1
}
sleep 1
info() { sv "s['hog']['runtime_info'].get('$1', 'absent')"; }
memmax=$(cgfile memory.max || cgfile memory.limit_in_bytes) || skip "no memory cgroup here"
[ "$memmax" = $((96 << 20)) ] || fail "the cgroup's memory limit is $memmax"
[ "$(info memory_max)" = "$memmax" ] || fail "survey memory_max $(info memory_max), cgroup $memmax"
pmax=$(cgfile pids.max) || skip "no pids cgroup here"
[ "$(info pids_max)" = 40 ] && [ "$pmax" = 40 ] || fail "pids_max: survey $(info pids_max), cgroup $pmax"
[ "$(info pids)" = "$(cgfile pids.current)" ] || fail "pids: survey $(info pids), cgroup $(cgfile pids.current)"
[ "$(info pids)" = 3 ] || fail "pids $(info pids), expected 3 (sh and two sleeps)"
m1=$(cgfile memory.current || cgfile memory.usage_in_bytes)
m=$(info memory)
m2=$(cgfile memory.current || cgfile memory.usage_in_bytes)
lo=$(( (m1 < m2 ? m1 : m2) / 2 )); hi=$(( (m1 > m2 ? m1 : m2) * 2 ))
[ "$m" -ge "$lo" ] && [ "$m" -le "$hi" ] || fail "memory: survey $m, cgroup $m1..$m2"
c1=$(cgfile cpu.stat | awk '/^usage_usec/ {print $2}')
c=$(info cpu_usec)
c2=$(cgfile cpu.stat | awk '/^usage_usec/ {print $2}')
[ -n "$c1" ] && [ "$c1" -le "$c" ] && [ "$c" -le "$c2" ] || fail "cpu_usec: survey $c, cgroup $c1..$c2"
"$ORCHD" survey | grep -E '^hog .* [0-9.]+[KM]/96M +[0-9.]+s +3/40 ' >/dev/null ||
    fail "table: $("$ORCHD" survey)"
# --watch: a second screen shows a CPU percentage (a busy loop: well above 0)
timeout 5 "$ORCHD" survey --watch > watch.txt || true
pct=$(grep '^hog ' watch.txt | tail -1 | grep -oE '[0-9.]+%' | head -1)
[ -n "$pct" ] || fail "no CPU % in --watch: $(cat -v watch.txt | tail -3)"
[ "$(echo "$pct" | tr -d % | cut -d. -f1)" -ge 5 ] || fail "CPU $pct for a busy loop"
[ "$(grep -c $'\033\[H' watch.txt)" -ge 2 ] || fail "--watch did not refresh in place"
echo "ok: memory $m/$memmax, cpu ${c}us, pids 3/40, watch $pct"
