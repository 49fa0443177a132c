# shellcheck shell=bash
# Shared by the image pull tests (sourced after tests/containerd/lib.sh and
# orchd_lib.sh): Debian's docker-registry on 127.0.0.1 (own config, storage
# and random port), the busybox test image pushed to it with skopeo, and a
# small proxy (regproxy.py) that can throttle, stall, demand bearer tokens
# and count requests. Everything is stopped by the EXIT trap.
#
#   reg_require              # exit 77 when docker-registry/skopeo are missing
#   reg_start NAME [htpasswd FILE]   # sets REG_<NAME>_PORT, REG_<NAME>_DIR
#   reg_stop NAME            # kill -9 (a registry that dies)
#   reg_push NAME ARCHIVE REPO:TAG [--all] [creds]
#   proxy_start NAME UPSTREAM_PORT [options]  # sets PROXY_<NAME>_PORT
#   blob_gets NAME           # blob GETs in the registry's access log

# loopback traffic never goes through a proxy of the environment
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"

reg_require() {
    local b
    for b in docker-registry skopeo; do
        command -v "$b" >/dev/null 2>&1 || ctd_skip "$b is not installed (scripts/install-deps.sh)"
    done
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

REG_PIDS=""

reg_cleanup() {
    local p f
    # registries started in subshells are known by their pid files only
    for f in "${CTD_DIR:-/nonexistent}"/reg-*/pid; do
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    for p in $REG_PIDS; do
        kill -9 "$p" 2>/dev/null
    done
    for p in $REG_PIDS; do
        wait "$p" 2>/dev/null
    done
    REG_PIDS=""
}

# reg_start NAME [htpasswd FILE | tls CERT KEY]: a registry of its own under
# $CTD_DIR/reg-NAME, on $REG_HOST (default 127.0.0.1).
reg_start() {
    local name=$1 dir port auth="" tls="" host=${REG_HOST:-127.0.0.1} scheme=http
    dir=$CTD_DIR/reg-$name
    mkdir -p "$dir/storage"
    port=$(eval echo "\${REG_${name}_PORT:-}")
    [ -n "$port" ] || port=$(free_port)
    if [ "${2:-}" = htpasswd ]; then
        auth="auth:
  htpasswd:
    realm: orchd-test
    path: $3"
    elif [ "${2:-}" = tls ]; then
        tls="  tls:
    certificate: $3
    key: $4"
        scheme=https
    fi
    cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $host:$port
$tls
$auth
YML
    docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 &
    local pid=$!
    echo "$pid" >"$dir/pid"
    REG_PIDS="$REG_PIDS $pid"
    eval "REG_${name}_PORT=$port REG_${name}_DIR=$dir REG_${name}_PID=$pid REG_${name}_HOST=$host"
    local i
    for i in $(seq 100); do
        curl -sk -o /dev/null "$scheme://$host:$port/v2/" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "FAIL: docker-registry $name did not start; its log:" >&2
    tail -20 "$dir/registry.log" >&2
    exit 1
}

reg_stop() {
    local pid dir
    dir=$(eval echo "\${REG_${1}_DIR:-}")
    pid=$(cat "$dir/pid" 2>/dev/null)
    [ -n "$pid" ] || pid=$(eval echo "\${REG_${1}_PID:-}")
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -f "$dir/pid"
    return 0
}

# reg_push NAME ARCHIVE REPO:TAG [--all] [--dest-creds U:P]
reg_push() {
    local name=$1 archive=$2 ref=$3 port
    shift 3
    port=$(eval echo "\${REG_${name}_PORT}")
    local host
    host=$(eval echo "\${REG_${name}_HOST:-127.0.0.1}")
    skopeo copy -q --insecure-policy --dest-tls-verify=false "$@" "oci-archive:$archive" \
        "docker://$host:$port/$ref" >/dev/null || {
        echo "FAIL: skopeo could not push $archive to $host:$port/$ref" >&2
        exit 1
    }
}

# blob_gets NAME [DIGEST]: GETs of blobs (of one digest) the registry served.
blob_gets() {
    local dir
    dir=$(eval echo "\${REG_${1}_DIR}")
    grep -E "\"GET /v2/[^ ]*/blobs/${2:-sha256:}" "$dir/registry.log" | grep -c 'HTTP/1.1" 20[06]'
}

manifest_gets() {
    local dir
    dir=$(eval echo "\${REG_${1}_DIR}")
    grep -E '"GET /v2/[^ ]*/manifests/' "$dir/registry.log" | grep -c 'HTTP/1.1" 200'
}

# proxy_start NAME UPSTREAM_PORT [--rate BYTES/S] [--stall] [--bearer] ...
proxy_start() {
    local name=$1 up=$2 port
    shift 2
    port=$(free_port)
    python3 "$SRC/tests/pull/regproxy.py" --port "$port" --upstream "127.0.0.1:$up" "$@" \
        >>"$CTD_DIR/proxy-$name.log" 2>&1 &
    local pid=$!
    REG_PIDS="$REG_PIDS $pid"
    eval "PROXY_${name}_PORT=$port PROXY_${name}_PID=$pid"
    local i
    for i in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        sleep 0.1
    done
    echo "FAIL: proxy $name did not start" >&2
    cat "$CTD_DIR/proxy-$name.log" >&2
    exit 1
}

proxy_stop() {
    local pid
    pid=$(eval echo "\${PROXY_${1}_PID:-}")
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    return 0
}

# Nothing half-written: no lease, no active ingest in the namespace.
assert_no_leftovers() {
    local what=$1 l a
    l=$($CTD_CTR leases ls -q 2>&1)
    a=$($CTD_CTR content active 2>&1 | awk 'NR > 1')
    if [ -n "$l$a" ]; then
        bad "$what: containerd still holds leases [$l] active ingests [$a]"
        return 1
    fi
    ok "$what: no lease and no active ingest left"
}

has_image() { $CTD_CTR images ls -q | grep -qxF "$1"; }
has_content() { $CTD_CTR content ls -q | grep -qxF "$1"; }
