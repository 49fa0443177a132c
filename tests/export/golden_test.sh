#!/bin/bash
# orchd export on the examples against golden files (tests/export/golden;
# UPDATE_GOLDEN=1 rewrites them), and what it says about what does not map.
. "$SRC/tests/export/lib.sh"
G=$SRC/tests/export/golden

check() { # NAME: compares $T/NAME.cmp with the golden file
    if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
        cp "$T/$1.cmp" "$G/$1.yaml"
        echo "updated $G/$1.yaml"
        return
    fi
    diff -u "$G/$1.yaml" "$T/$1.cmp" || fail "$1 differs from its golden file"
    ok "$1 matches its golden file"
}

cd "$T"
export_to multi.k8s kubernetes multi/Orchfile
check multi.k8s
export_to multi-prod.k8s kubernetes multi/Orchfile multi/Orchfile.prod
check multi-prod.k8s
export_to multi.compose compose multi/Orchfile
check multi.compose
export_to multi-prod.compose compose multi/Orchfile multi/Orchfile.prod --arg log_level=debug
check multi-prod.compose
export_to multi-prod.swarm compose --swarm multi/Orchfile multi/Orchfile.prod
check multi-prod.swarm
# CPUS and CPU_QUOTA together: the stricter, as in the runtimes (the prod
# worker has CPU_QUOTA 200%; CPUS 1.5 over it gives 1.5 cores, not 2).
printf 'SERVICE worker\nCPUS 1.5\n' >"$T/multi/Orchfile.cpu"
export_to multi-prod-cpu.k8s kubernetes multi/Orchfile multi/Orchfile.prod multi/Orchfile.cpu
check multi-prod-cpu.k8s
grep -q 'cpu: "1500m"' "$T/multi-prod-cpu.k8s.yaml" || fail "CPUS 1.5 with CPU_QUOTA 200% is not 1500m"
export_to multi-prod-cpu.compose compose multi/Orchfile multi/Orchfile.prod multi/Orchfile.cpu
check multi-prod-cpu.compose
grep -q 'cpus: "1.50"' "$T/multi-prod-cpu.compose.yaml" ||
    fail "CPUS 1.5 with CPU_QUOTA 200% is not 1.50 cpus: $(grep cpus "$T/multi-prod-cpu.compose.yaml")"
ok "CPUS with CPU_QUOTA: the stricter"
export_to demo.k8s kubernetes demo/Orchfile
check demo.k8s
export_to demo.compose compose demo/Orchfile
check demo.compose

# host services are reported, not dropped silently
grep -q "multi/Orchfile:38: service web: skipped: a RUN (host) service cannot run in a pod" \
    "$T/multi.k8s.err" || fail "the skipped RUN service web is not reported: $(cat "$T/multi.k8s.err")"
ok "RUN services are reported on stderr"
# what has no pod field is said in a comment
grep -q "^# service worker: TASKS_MAX 128: the version 3 schema has no pids_limit" \
    "$T/multi-prod.swarm.yaml" || fail "TASKS_MAX is not noted for swarm"
grep -q "^# service ticker: TASKS_MAX 32: a pod has no process limit field" "$T/demo.k8s.yaml" ||
    fail "TASKS_MAX is not noted for kubernetes"
ok "unmapped directives are comments"
# the ENV_FILE contents are in the ConfigMap, read at export time
grep -q 'POSTGRES_PASSWORD: s3cret' "$T/multi.k8s.yaml" || fail "ENV_FILE content not in a ConfigMap"
ok "ENV_FILE becomes a ConfigMap"

# --strict: a RUN service is an error naming it
if "$ORCHD" export kubernetes --strict multi/Orchfile >/dev/null 2>"$T/strict.err"; then
    fail "--strict accepted a RUN service"
fi
grep -q "multi/Orchfile:38: service web: a RUN (host) service cannot run in a pod (--strict)" \
    "$T/strict.err" || fail "--strict message: $(cat "$T/strict.err")"
ok "--strict refuses RUN services"
# an unreadable ENV_FILE names the file and line
rm "$T/multi/.env"
if "$ORCHD" export compose multi/Orchfile multi/Orchfile.prod >/dev/null 2>"$T/envfile.err"; then
    fail "a missing ENV_FILE was accepted"
fi
grep -q "multi/Orchfile:58: service worker: ENV_FILE: $T/multi/.env: No such file" "$T/envfile.err" ||
    fail "missing ENV_FILE message: $(cat "$T/envfile.err")"
ok "a missing ENV_FILE is an error with FILE:LINE"
printf 'SESSION_KEY=abc123\n' >"$T/multi/.env"
# -o DIR: one file per service
"$ORCHD" export kubernetes -o "$T/out" multi/Orchfile multi/Orchfile.prod 2>/dev/null ||
    fail "export -o"
for f in db.yaml migrate.yaml worker.yaml; do
    [ -s "$T/out/$f" ] || fail "-o did not write $f"
done
ok "-o DIR writes one file per service"
echo PASS
