# CPUS with CPU_QUOTA: the stricter applies (a service never gets more CPU
# than either line asked for), seen in the cgroup files of bare services; the
# containerd side is in tests/containerd/lifecycle_test.sh. orchd validate
# warns when both are set.
. "$(dirname "$0")/lib/common.sh"

cat > Orchfile <<'OF'
SERVICE cpus-stricter
RUN exec sleep 1000
CPUS 0.5
CPU_QUOTA 150%

SERVICE quota-stricter
RUN exec sleep 1000
CPU_QUOTA 30%
CPUS 2

SERVICE quota-only
RUN exec sleep 1000
CPU_QUOTA 250%
OF

"$ORCHD" validate Orchfile 2>"$T/validate.err" || fail "validate: $(cat "$T/validate.err")"
grep -qF "Orchfile:4: warning: service cpus-stricter sets both CPUS and CPU_QUOTA: the stricter applies, CPUS (0.5 CPUs)" \
    "$T/validate.err" || fail "no warning for cpus-stricter: $(cat "$T/validate.err")"
grep -qF "Orchfile:9: warning: service quota-stricter sets both CPUS and CPU_QUOTA: the stricter applies, CPU_QUOTA (0.3 CPUs)" \
    "$T/validate.err" || fail "no warning for quota-stricter: $(cat "$T/validate.err")"
if grep -q "quota-only" "$T/validate.err"; then fail "a warning for CPU_QUOTA alone"; fi

"$ORCHD" grow || fail "grow"

# quota_of SERVICE: the CFS quota in microseconds per 100 ms, v2 or v1
quota_of() {
    pid=$(sv "s['$1']['pid']")
    while IFS=: read -r _ ctrl path; do
        case "$ctrl" in
        cpu|cpu,*|*,cpu|*,cpu,*)
            for m in "/sys/fs/cgroup/$ctrl" /sys/fs/cgroup/cpu /sys/fs/cgroup/cpu,cpuacct; do
                [ -f "$m$path/cpu.cfs_quota_us" ] && cat "$m$path/cpu.cfs_quota_us" && return
            done ;;
        "") [ -f "/sys/fs/cgroup$path/cpu.max" ] && cut -d' ' -f1 "/sys/fs/cgroup$path/cpu.max" &&
            return ;;
        esac
    done < "/proc/$pid/cgroup"
    echo none
}
q=$(quota_of cpus-stricter)
[ "$q" != none ] || skip "no writable cpu cgroup here"
[ "$q" = 50000 ] || fail "CPUS 0.5 with CPU_QUOTA 150%: quota $q, want 50000"
q=$(quota_of quota-stricter)
[ "$q" = 30000 ] || fail "CPU_QUOTA 30% with CPUS 2: quota $q, want 30000"
q=$(quota_of quota-only)
[ "$q" = 250000 ] || fail "CPU_QUOTA 250%: quota $q, want 250000"
echo PASS
