# Shared by the export tests (sourced, bash): a temporary copy of the
# examples with the files their ENV_FILEs name, removed on exit.
set -euo pipefail
: "${ORCHD:?}" "${SRC:?}"
T=$(mktemp -d /tmp/orchd-export.XXXXXX)
EXTRA_CLEANUP=${EXTRA_CLEANUP:-}
cleanup() {
    local rc=$?
    if [ -n "$EXTRA_CLEANUP" ]; then eval "$EXTRA_CLEANUP" || true; fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
ok() { echo "ok: $*"; }

# The examples, with the ENV_FILEs they read.
cp -r "$SRC/examples/multi" "$T/multi"
mkdir -p "$T/multi/secrets" "$T/multi/db/init"
printf 'POSTGRES_PASSWORD=s3cret\n' >"$T/multi/secrets/db.env"
printf 'WEB_TOKEN=t0ken\n' >"$T/multi/secrets/web.env"
printf 'SESSION_KEY=abc123\n' >"$T/multi/.env"
cp -r "$SRC/examples/demo" "$T/demo"

# export NAME ARGS...: runs orchd export into $T/NAME.yaml (stderr in
# $T/NAME.err); the project path is replaced by @PROJECT@ in $T/NAME.cmp.
export_to() {
    local name=$1
    shift
    "$ORCHD" export "$@" >"$T/$name.yaml" 2>"$T/$name.err" || {
        cat "$T/$name.err" >&2
        fail "orchd export $* failed"
    }
    sed -e "s|$T/multi|@PROJECT@|g; s|$T/demo|@PROJECT@|g" "$T/$name.yaml" >"$T/$name.cmp"
}
