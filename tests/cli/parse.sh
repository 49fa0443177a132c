#!/bin/bash
# `orchd parse` / `orchd validate` and the CLI skeleton, on the real binary.
# Run by ctest with ORCHD=<binary> SRC=<repo>; exit 77 means skipped.
set -eu

ORCHD=${ORCHD:?set ORCHD to the orchd binary}
SRC=${SRC:?set SRC to the repository root}
EX="$SRC/examples/multi"
if [ ! -x "$ORCHD" ]; then
    echo "parse.sh: $ORCHD is not an executable; skipping" >&2
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/orch-cli-parse.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
checks=0

fail() {
    echo "parse.sh: FAIL: $*" >&2
    if [ -s "$tmp/out" ]; then echo "--- stdout:" >&2; head -n 40 "$tmp/out" >&2; fi
    if [ -s "$tmp/err" ]; then echo "--- stderr:" >&2; head -n 40 "$tmp/err" >&2; fi
    exit 1
}

# run WANT_RC CMD...: runs CMD with stdout in $tmp/out and stderr in $tmp/err
# and fails unless it exits with WANT_RC ("nonzero" accepts 1-125 but never a
# signal: a crash is not a clean failure).
run() {
    want=$1
    shift
    rc=0
    "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    checks=$((checks + 1))
    case $want in
    nonzero) [ "$rc" -ge 1 ] && [ "$rc" -le 125 ] ||
                 fail "'$*' exited $rc, want a non-zero exit code (not a crash)" ;;
    *) [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, want $want" ;;
    esac
}

# has FILE TEXT: FILE ($tmp/out or $tmp/err) contains TEXT literally.
has() {
    checks=$((checks + 1))
    grep -qF -- "$2" "$1" || fail "$(basename "$1") lacks '$2'"
}
lacks() {
    checks=$((checks + 1))
    if grep -qF -- "$2" "$1"; then fail "$(basename "$1") has '$2'"; fi
}
empty() {
    checks=$((checks + 1))
    [ ! -s "$1" ] || fail "$(basename "$1") is not empty"
}

# JSON well-formedness, when python3 is around to judge it.
json_ok() {
    if command -v python3 >/dev/null 2>&1; then
        checks=$((checks + 1))
        python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" ||
            fail "output is not valid JSON"
    fi
}

# ---- the CLI skeleton ------------------------------------------------------
run 0 "$ORCHD" --help
has "$tmp/out" "usage: orchd COMMAND"
has "$tmp/out" "parse"
has "$tmp/out" "validate"
run 0 "$ORCHD" help
has "$tmp/out" "usage: orchd"
run 0 "$ORCHD" version
has "$tmp/out" "orchd "
has "$tmp/out" "0.2.1"
run 0 "$ORCHD" --version
has "$tmp/out" "orchd "
run 2 "$ORCHD" no-such-command
has "$tmp/err" "unknown command 'no-such-command'"
empty "$tmp/out"
run 2 "$ORCHD"
has "$tmp/err" "usage: orchd"
run 0 "$ORCHD" parse --help
has "$tmp/out" "usage: orchd parse FILE..."
run 0 "$ORCHD" validate --help
has "$tmp/out" "usage: orchd validate FILE..."
run nonzero "$ORCHD" parse
has "$tmp/err" "no Orchfile given"
run nonzero "$ORCHD" parse --frobnicate "$EX/Orchfile"
has "$tmp/err" "unknown option '--frobnicate'"
run nonzero "$ORCHD" parse "$EX/Orchfile" --arg
run nonzero "$ORCHD" parse "$EX/Orchfile" --arg novalue

# ---- the example, base alone ------------------------------------------------
run 0 "$ORCHD" parse "$EX/Orchfile"
empty "$tmp/err"
json_ok "$tmp/out"
has "$tmp/out" '"version": "0.2.1"'
has "$tmp/out" '"web_port": "8080"'
has "$tmp/out" '"run_command": "./bin/shop-web --port 8080 --log-level info"'
has "$tmp/out" '"image": "localhost/shop:latest"'
has "$tmp/out" '"stdout": "${ORCH_STATE_DIR}/logs/${SERVICE_NAME}.out"'
has "$tmp/out" '"reload_command": "kill -HUP $MAINPID"'
# services in declaration order
order=$(grep -o '"name": "[a-z]*"' "$tmp/out" | tr '\n' ' ')
checks=$((checks + 1))
[ "$order" = '"name": "db" "name": "migrate" "name": "web" "name": "worker" ' ] ||
    fail "service order: $order"

# --compact: one line, same content
run 0 "$ORCHD" parse --compact "$EX/Orchfile"
checks=$((checks + 1))
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "--compact printed more than one line"
has "$tmp/out" '{"version":"0.2.1","args":{"app_image":"localhost/shop:latest","web_port":"8080"'
json_ok "$tmp/out"

# ---- overlays ----------------------------------------------------------------
run 0 "$ORCHD" parse --compact "$EX/Orchfile" "$EX/Orchfile.prod"
empty "$tmp/err"
has "$tmp/out" '"app_image":"registry.example.com/shop:1.8.2"'
has "$tmp/out" '"log_level":"warn"'
# VOLUME merged by destination, the other volume kept
has "$tmp/out" '"volumes":[{"source":"/srv/shop/pgdata","destination":"/var/lib/postgresql/data","is_named":false},{"source":"./db/init"'
# the worker switched to a container: USER gone, ENV and REQUIRES kept
has "$tmp/out" '{"name":"worker","mode":"container","image":"registry.example.com/shop:1.8.2","cmd":"shop-worker --queues default,mail --log-level warn","workdir":"/app","env":{"DATABASE_URL":"postgres://shop@127.0.0.1:5432/shop","WORKER_CONCURRENCY":"8"}'
has "$tmp/out" '"env_files":["${ORCH_PROJECT}/.env","${ORCH_PROJECT}/secrets/web.env"]'
has "$tmp/out" '"cpu_quota":"200%"'
has "$tmp/out" '"restart":{"policy":"on_failure","delay":"2s","start_limit_burst":10,"start_limit_interval":"1m"},"timeouts":{}'
run 0 "$ORCHD" parse --compact --typed "$EX/Orchfile" "$EX/Orchfile.prod"
has "$tmp/out" '"cpu_quota":200'
has "$tmp/out" '"restart":{"policy":"on_failure","delay":2,"start_limit_burst":10,"start_limit_interval":60},"timeouts":{"start":90,"stop":10}'

run 0 "$ORCHD" parse --compact "$EX/Orchfile" "$EX/Orchfile.dev.yaml"
empty "$tmp/err"
has "$tmp/out" '"run_command":"./bin/shop-web --port 3000 --log-level debug --reload"'
has "$tmp/out" '"env":{"POSTGRES_DB":"shop","POSTGRES_USER":"shop","POSTGRES_PASSWORD":"dev"}'
has "$tmp/out" '"after":["mailpit"]'
# a service only in the overlay comes last
checks=$((checks + 1))
case $(cat "$tmp/out") in
*'"name":"worker"'*'"name":"mailpit"'*) ;;
*) fail "mailpit is not after the base's services" ;;
esac

# all three; then --arg beats ORCH_ARG_ beats the files
run 0 "$ORCHD" validate "$EX/Orchfile" "$EX/Orchfile.prod" "$EX/Orchfile.dev.yaml"
empty "$tmp/out"
empty "$tmp/err"
ORCH_ARG_web_port=9000 run 0 "$ORCHD" parse --compact "$EX/Orchfile"
has "$tmp/out" '"web_port":"9000"'
ORCH_ARG_web_port=9000 run 0 "$ORCHD" parse --compact "$EX/Orchfile" --arg web_port=9100
has "$tmp/out" '"healthcheck":"http://127.0.0.1:9100/healthz"'
run 0 "$ORCHD" parse --compact --arg=log_level=trace "$EX/Orchfile" "$EX/Orchfile.prod"
has "$tmp/out" '"log_level":"trace"'
# an override no file declares: a warning, still success
run 0 "$ORCHD" validate --arg nosuch=1 "$EX/Orchfile"
empty "$tmp/out"
has "$tmp/err" "warning:"
has "$tmp/err" "nosuch"
# a value that is not UTF-8 fails cleanly (no crash)
run nonzero "$ORCHD" parse "$EX/Orchfile" --arg "web_port=$(printf '\377')"
has "$tmp/err" "not valid UTF-8"

# ---- the reference parser's JSON shape, every directive ------------------------
cat >"$tmp/every" <<'ORCH'
ORCH_VERSION 1.0.0-rc
ARG port=8080
SERVICE cache
FROM docker.io/library/redis:7
ENTRYPOINT docker-entrypoint.sh
CMD redis-server
PUBLISH 127.0.0.1:6379:6379
VOLUME data:/data
RECREATE always
SERVICE web
RUN ./web --port ${port}
USER www-data
STOP kill $MAINPID
RELOAD kill -HUP $MAINPID
WORKDIR backend
ENV A=1
ENV_FILE .env
REQUIRES cache
AFTER cache
HEALTHCHECK http://127.0.0.1:${port}/health
READINESS_TIMEOUT 10
ONESHOT false
DISABLED false
RESTART on-failure
RESTART_DELAY 2m
START_LIMIT_BURST 3
START_LIMIT_INTERVAL 1h
TIMEOUT_START 30s
TIMEOUT_STOP 90
MEMORY 1.5G
CPUS 2
CPU_QUOTA 150%
LIMIT_NOFILE 65536
LIMIT_NPROC 512
TASKS_MAX 64
IO_WEIGHT 200
STDOUT /var/log/web.out
STDERR /var/log/web.err
SERVICE bare
RUN true
ORCH
run 0 "$ORCHD" parse "$tmp/every"
empty "$tmp/err"
json_ok "$tmp/out"
if command -v python3 >/dev/null 2>&1; then
    checks=$((checks + 1))
    python3 - "$tmp/out" <<'PY' || fail "the JSON is not the reference shape"
import json, sys
m = json.load(open(sys.argv[1]))
cache, web, bare = m["services"]
want_web = {
    "readiness_timeout": "10", "oneshot": False, "disabled": False,
    "restart": {"policy": "on_failure", "delay": "2m", "start_limit_burst": 3,
                "start_limit_interval": "1h"},
    "timeouts": {"start": "30s", "stop": "90"},
    "resources": {"memory": "1.5G", "cpus": 2.0, "cpu_quota": "150%", "limit_nofile": 65536,
                  "limit_nproc": 512, "tasks_max": 64, "io_weight": 200},
    "logging": {"stdout": "/var/log/web.out", "stderr": "/var/log/web.err"},
    "healthcheck": "http://127.0.0.1:8080/health", "user": "www-data",
}
for k, v in want_web.items():
    assert web[k] == v and type(web[k]) is type(v), (k, web.get(k), v)
assert type(web["resources"]["cpus"]) is float
assert cache["publish"] == [{"address": "127.0.0.1", "host": 6379, "container": 6379}]
assert cache["recreate"] == "always"
# nothing the file did not write, except restart.policy; resources, logging always
assert bare == {"name": "bare", "mode": "host", "run_command": "true",
                "restart": {"policy": "no"}, "timeouts": {}, "resources": {},
                "logging": {}}, bare
assert "recreate" not in web and "readiness_timeout" not in cache
PY
fi
# the typed form: seconds, bytes, percent, defaults filled in
run 0 "$ORCHD" parse --compact --typed "$tmp/every"
has "$tmp/out" '"readiness_timeout":10,"oneshot":false,"disabled":false,"recreate":"never","restart":{"policy":"on_failure","delay":120,"start_limit_burst":3,"start_limit_interval":3600},"timeouts":{"start":30,"stop":90},"resources":{"memory":1610612736,"cpus":2,"cpu_quota":150'
# still validated, at FILE:LINE
printf 'SERVICE a\nRUN x\nRESTART_DELAY soon\n' >"$tmp/soon"
run nonzero "$ORCHD" validate "$tmp/soon"
has "$tmp/err" "$tmp/soon:3: RESTART_DELAY 'soon': expected a duration such as 30s or 2m"

# ---- validate: what this orchd cannot run ------------------------------------
# A remapping PUBLISH is a valid Orchfile (parse accepts it, other engines can
# remap) but containers here share the host's network: validate refuses it.
printf 'SERVICE c\nFROM img\nPUBLISH 8080:8080\nPUBLISH 127.0.0.1:8443:443\n' >"$tmp/remap"
run 0 "$ORCHD" parse --compact "$tmp/remap"
run nonzero "$ORCHD" validate "$tmp/remap"
has "$tmp/err" "$tmp/remap:4: service c: PUBLISH 127.0.0.1:8443:443 maps host port 8443 to container port 443, but containers share the host's network, which cannot remap ports: publish the same port on both sides (443:443)"
lacks "$tmp/err" "$tmp/remap:3:"
checks=$((checks + 1))
[ "$(grep -c "cannot remap" "$tmp/err")" = 1 ] || fail "the remap is reported more than once"
# CPUS with CPU_QUOTA: a warning naming the one that applies, still success
printf 'SERVICE h\nRUN x\nCPUS 2\nCPU_QUOTA 150%%\n' >"$tmp/cpu"
run 0 "$ORCHD" validate "$tmp/cpu"
has "$tmp/err" "$tmp/cpu:4: warning: service h sets both CPUS and CPU_QUOTA: the stricter applies, CPU_QUOTA (1.5 CPUs)"

# ---- validate: silent on success ---------------------------------------------
run 0 "$ORCHD" validate "$EX/Orchfile"
empty "$tmp/out"
empty "$tmp/err"
# an overlay on its own is not a complete model: C1 names the YAML place
run nonzero "$ORCHD" validate "$EX/Orchfile.dev.yaml"
has "$tmp/err" "$EX/Orchfile.dev.yaml:23:3: service worker has neither FROM nor RUN (C1"

# every example in the repository is valid on its own
for f in "$SRC"/examples/*/Orchfile "$SRC"/examples/*/Orchfile.yaml; do
    [ -e "$f" ] || continue
    run 0 "$ORCHD" validate "$f"
done

# ---- broken files ----------------------------------------------------------------
printf 'SERVICE web\nRUN ./web\nMEMORY lots\nFOO bar\n' >"$tmp/broken"
run nonzero "$ORCHD" parse "$tmp/broken"
empty "$tmp/out"
has "$tmp/err" "$tmp/broken:3: MEMORY 'lots'"
has "$tmp/err" "$tmp/broken:4: unknown directive 'FOO'"
run nonzero "$ORCHD" validate "$tmp/broken"
has "$tmp/err" "$tmp/broken:3:"

printf 'services:\n  web:\n    run: ./web\n    memory: lots\n' >"$tmp/broken.yaml"
run nonzero "$ORCHD" validate "$tmp/broken.yaml"
has "$tmp/err" "$tmp/broken.yaml:4:13: MEMORY 'lots'"

# a broken overlay over a good base names the overlay
printf 'SERVICE db\nUSER root\n' >"$tmp/bad.overlay"
run nonzero "$ORCHD" validate "$EX/Orchfile" "$tmp/bad.overlay"
has "$tmp/err" "$tmp/bad.overlay:2: USER is for host services (C3)"

run nonzero "$ORCHD" parse "$tmp/does-not-exist"
has "$tmp/err" "$tmp/does-not-exist: cannot read"

printf 'SERVICE a\nRUN \377\n' >"$tmp/latin1"
run nonzero "$ORCHD" validate "$tmp/latin1"
has "$tmp/err" "$tmp/latin1:2:"
has "$tmp/err" "UTF-8"

printf 'SERVICE a\nRUN a\nREQUIRES b\nSERVICE b\nRUN b\nAFTER a\n' >"$tmp/cycle"
run nonzero "$ORCHD" validate "$tmp/cycle"
has "$tmp/err" "$tmp/cycle:6: dependency cycle (C4): a -> b -> a"

echo "parse.sh: $checks checks passed"
