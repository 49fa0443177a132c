#!/bin/bash
# Every manifest orchd export writes is valid against the Kubernetes API
# schemas, without a cluster: the kubernetes-models npm packages check each
# object against the OpenAPI definitions (installed here, for the test only,
# into the build tree). The validator must also reject a broken manifest.
. "$SRC/tests/export/lib.sh"
command -v node >/dev/null && command -v npm >/dev/null || skip "node and npm are needed"
NODE_DIR=${EXPORT_NODE_DIR:-${BUILD:-$T}/export-node}
mkdir -p "$NODE_DIR"
if [ ! -d "$NODE_DIR/node_modules/kubernetes-models" ]; then
    cp "$SRC/tests/export/node/package.json" "$NODE_DIR/"
    (cd "$NODE_DIR" && timeout 300 npm install --no-audit --no-fund --loglevel=error >"$T/npm.log" 2>&1) ||
        { cat "$T/npm.log" >&2; fail "npm install of the schema packages failed"; }
fi
VALIDATE="node $SRC/tests/export/node/validate-k8s.cjs"
export NODE_PATH=$NODE_DIR/node_modules

cd "$T"
export_to a kubernetes multi/Orchfile
export_to b kubernetes multi/Orchfile multi/Orchfile.prod
export_to c kubernetes demo/Orchfile
cat >"$T/every.orch" <<'ORCH'
SERVICE api
FROM localhost/api:1
ENTRYPOINT ["/api", "--serve"]
CMD --port 8080 --greeting 'costs $5 (HOME is $(HOME))'
PUBLISH 0.0.0.0:8080:8080
PUBLISH 9090:9090
WORKDIR /srv
ENV MODE=prod
HEALTHCHECK http://127.0.0.1:8080/healthz
RESTART on-failure
STOP /api --drain
RELOAD kill -HUP 1
MEMORY 256M
CPUS 1.5
TIMEOUT_STOP 45s
REQUIRES cache setup
AFTER metrics
LIMIT_NOFILE 4096
IO_WEIGHT 200
DISABLED true

SERVICE cache
FROM localhost/cache:1
RESTART always
VOLUME cachedata:/data
VOLUME shared:/shared
HEALTHCHECK redis-cli ping

SERVICE setup
FROM localhost/setup:1
ONESHOT true
RESTART on-failure
START_LIMIT_BURST 4
VOLUME shared:/shared

SERVICE metrics
FROM localhost/metrics:1
CPU_QUOTA 25%
ORCH
export_to d kubernetes "$T/every.orch"
$VALIDATE "$T/a.yaml" "$T/b.yaml" "$T/c.yaml" "$T/d.yaml" >"$T/validate.out" 2>&1 || {
    cat "$T/validate.out" >&2
    fail "a manifest is not valid"
}
tail -1 "$T/validate.out"
grep -q "ok Deployment/api" "$T/validate.out" || fail "the Deployment was not checked"
grep -q "ok StatefulSet/cache" "$T/validate.out" || fail "the StatefulSet was not checked"
grep -q "ok Job/setup" "$T/validate.out" || fail "the Job was not checked"
grep -q "ok PersistentVolumeClaim/shared" "$T/validate.out" || fail "the shared claim was not checked"
ok "every manifest validates against the OpenAPI schemas"

# what the mapping promises, read back from the YAML
node -e '
const yaml = require("js-yaml"), fs = require("fs");
const docs = yaml.loadAll(fs.readFileSync(process.argv[1], "utf8")).filter(Boolean);
const get = (k, n) => docs.find(d => d.kind === k && d.metadata.name === n);
const fail = m => { console.error("FAIL: " + m); process.exit(1); };
const api = get("Deployment", "api"), c = api.spec.template.spec.containers[0];
if (api.spec.replicas !== 0) fail("DISABLED should give replicas 0");
if (api.spec.strategy.type !== "Recreate") fail("Deployments never run two copies");
if (JSON.stringify(c.command) !== JSON.stringify(["/api", "--serve"])) fail("command " + c.command);
if (JSON.stringify(c.args) !== JSON.stringify(["--port", "8080", "--greeting", "costs $$5 (HOME is $$(HOME))"])) fail("args " + c.args);
if (c.resources.limits.cpu !== "1500m" || c.resources.limits.memory !== "268435456") fail("limits");
if (c.readinessProbe.httpGet.path !== "/healthz" || c.readinessProbe.httpGet.port !== 8080) fail("probe");
if (!c.livenessProbe) fail("RESTART on-failure should add a livenessProbe");
if (api.spec.template.spec.terminationGracePeriodSeconds !== 45) fail("TIMEOUT_STOP");
if (JSON.stringify(c.lifecycle.preStop.exec.command) !== JSON.stringify(["/bin/sh", "-c", "/api --drain"])) fail("STOP");
const init = api.spec.template.spec.initContainers.map(i => i.name).join(",");
if (init !== "wait-for-cache,wait-for-setup") fail("initContainers " + init);
if (api.spec.template.spec.serviceAccountName !== "orchd-export-waiter") fail("waiter account");
const svc = get("Service", "api");
if (svc.spec.ports.map(p => p.port).join(",") !== "8080,9090") fail("Service ports");
const cache = get("StatefulSet", "cache");
if (cache.spec.volumeClaimTemplates.map(v => v.metadata.name).join(",") !== "cachedata") fail("claim templates");
if (cache.spec.template.spec.volumes[0].persistentVolumeClaim.claimName !== "shared") fail("shared claim");
if (get("PersistentVolumeClaim", "shared").spec.accessModes[0] !== "ReadWriteMany") fail("shared access mode");
const job = get("Job", "setup");
if (job.spec.template.spec.restartPolicy !== "OnFailure" || job.spec.backoffLimit !== 4) fail("Job restart");
if (get("Deployment", "metrics").spec.template.spec.containers[0].resources.limits.cpu !== "250m") fail("CPU_QUOTA");
console.log("ok: the mapping reads back as documented");
' "$T/d.yaml" || fail "the mapping does not read back"
for note in "LIMIT_NOFILE 4096" "IO_WEIGHT 200" "AFTER metrics" "RELOAD"; do
    grep -q "^# service api: $note" "$T/d.yaml" || fail "no comment for $note"
done
ok "unmapped directives are noted"

# the validator rejects what the API server would
cat >"$T/broken.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  replicas: "one"
  selector: {}
  template:
    spec:
      containers: []
YAML
if $VALIDATE "$T/broken.yaml" >"$T/broken.out" 2>&1; then
    cat "$T/broken.out"
    fail "the validator accepted a broken Deployment"
fi
ok "the validator rejects a broken manifest"
echo PASS
