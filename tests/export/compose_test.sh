#!/bin/bash
# orchd export compose: docker-compose (Debian's) accepts every compose file
# it writes (`config -q`), and a `--swarm` export is deployed on a one-node
# Docker swarm of a private dockerd (own data root, socket and exec root,
# started and stopped here, by pid) with the busybox test image: the
# long-running services reach running, the one-shot completes.
. "$SRC/tests/export/lib.sh"
command -v docker-compose >/dev/null || skip "docker-compose is not installed (scripts/install-deps.sh)"

cd "$T"
for spec in "multi.compose compose multi/Orchfile" \
            "multi-prod.compose compose multi/Orchfile multi/Orchfile.prod" \
            "multi-prod.swarm compose --swarm multi/Orchfile multi/Orchfile.prod" \
            "demo.compose compose demo/Orchfile" \
            "swarm.compose compose $SRC/tests/export/swarm/Orchfile"; do
    # shellcheck disable=SC2086
    export_to $spec
    name=${spec%% *}
    docker-compose -f "$T/$name.yaml" config -q 2>"$T/$name.config" ||
        { cat "$T/$name.config" >&2; fail "docker-compose rejects $name"; }
    ok "docker-compose config accepts $name"
done
grep -q 'condition: service_healthy' "$T/swarm.compose.yaml" &&
    grep -q 'condition: service_completed_successfully' "$T/swarm.compose.yaml" ||
    fail "depends_on conditions missing"
ok "depends_on carries service_healthy and service_completed_successfully"

# ---- the swarm ----
[ "$(id -u)" = 0 ] || skip "the swarm part needs root (a private dockerd)"
DOCKERD=$(command -v dockerd || true)
DOCKER=/usr/bin/docker # Debian's client, the daemon's own version
[ -n "$DOCKERD" ] && [ -x "$DOCKER" ] || { echo "SKIP: the swarm part: docker.io is not installed"; echo PASS; exit 0; }
D=$(mktemp -d /tmp/orchd-dk.XXXXXX)
export DOCKER_HOST=unix://$D/docker.sock
DPID=""
stop_docker() {
    [ -n "$DPID" ] || return 0
    timeout 30 "$DOCKER" stack rm orchdx >/dev/null 2>&1 || true
    timeout 30 "$DOCKER" swarm leave --force >/dev/null 2>&1 || true
    kill -TERM "$DPID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$DPID" 2>/dev/null || true
    # dockerd's own containerd and shims, by the pids they recorded
    for pf in "$D"/exec/containerd/containerd.pid "$D"/root/containerd/daemon/*.pid; do
        [ -f "$pf" ] && kill -KILL "$(cat "$pf")" 2>/dev/null || true
    done
    grep " $D" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$D"
}
EXTRA_CLEANUP=stop_docker
"$DOCKERD" --data-root "$D/root" --exec-root "$D/exec" -H "$DOCKER_HOST" --pidfile "$D/docker.pid" \
    --iptables=false --ip6tables=false --bridge=none >"$D/dockerd.log" 2>&1 &
DPID=$!
for _ in $(seq 1 150); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.2; done
"$DOCKER" info >/dev/null 2>&1 || { tail -20 "$D/dockerd.log"; echo "SKIP: the swarm part: dockerd does not start here"; echo PASS; exit 0; }
# a port the kernel says is free now (a random one may be in use)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
timeout 60 "$DOCKER" swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$port" >/dev/null ||
    fail "docker swarm init: $(tail -5 "$D/dockerd.log")"
ok "a one-node swarm on a private dockerd"

# the busybox test image, imported from its one layer
"$SRC/scripts/build-test-image.sh" "$T/img.tar" >/dev/null
mkdir "$T/img" && tar -xf "$T/img.tar" -C "$T/img"
layer=$(python3 - "$T/img" <<'PY'
import json, sys, os
root = sys.argv[1]
blob = lambda d: os.path.join(root, "blobs", *d.split(":"))
idx = json.load(open(os.path.join(root, "index.json")))
man = json.load(open(blob(idx["manifests"][0]["digest"])))
print(blob(man["layers"][0]["digest"]))
PY
)
"$DOCKER" import --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["sh"]' \
    "$layer" localhost/orchd-test:latest >/dev/null || fail "docker import of the test image"

export_to swarm.swarm compose --swarm "$SRC/tests/export/swarm/Orchfile"
timeout 120 "$DOCKER" stack deploy --resolve-image never -c "$T/swarm.swarm.yaml" orchdx >"$T/deploy.out" 2>&1 ||
    { cat "$T/deploy.out"; fail "docker stack deploy rejected the export"; }
ok "docker stack deploy accepts the --swarm export"

replicas() { "$DOCKER" service ls --filter "name=orchdx_$1" --format '{{.Replicas}}' 2>/dev/null; }
end=$(( $(date +%s) + 150 ))
while :; do
    w=$(replicas web) k=$(replicas worker)
    s=$("$DOCKER" service ps orchdx_setup --format '{{.CurrentState}}' 2>/dev/null | head -1)
    [ "$w" = "1/1" ] && [ "$k" = "1/1" ] && [[ $s == Complete* ]] && break
    if [ "$(date +%s)" -ge "$end" ]; then
        "$DOCKER" service ps --no-trunc orchdx_web orchdx_worker orchdx_setup >&2 || true
        fail "services did not reach running: web $w, worker $k, setup $s"
    fi
    sleep 1
done
ok "on the swarm: web $w, worker $k running, setup ${s%% *}"
health=$("$DOCKER" inspect --format '{{.State.Health.Status}}' \
    "$("$DOCKER" ps -q --filter name=orchdx_web | head -1)" 2>/dev/null || echo none)
echo "web's health check inside the swarm: $health"
echo PASS
