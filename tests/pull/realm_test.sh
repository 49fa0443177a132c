#!/bin/bash
# Where registry credentials go (issue 17, item 8): the credentials of
# $DOCKER_CONFIG/config.json are sent to a bearer token realm over https, or
# over plain http only to the registry's own host:port.
#  - a registry (a proxy in front of an open one) whose challenge names
#    Bearer realm="http://127.0.0.2:T/token": a second listener there records
#    every Authorization header it gets; the pull fails, the message names the
#    realm and why, and the listener got no credentials (nor any request);
#  - the same registry with its realm on its own host:port: the credentials
#    are sent there (the recorder sees them: it is not blind) and the pull works;
#  - nothing half-written is left.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
. "$SRC/tests/pull/lib.sh"
ctd_require
orchd_require
reg_require
CTD_NS=realm$$
ctd_setup
orchd_setup
CTD_CLEANUP_EXTRA="orchd_teardown; reg_cleanup"
$CTD_CTR images rm "$CTD_IMAGE" >/dev/null
reg_start o
reg_push o "$CTD_DIR/image.tar" open:1

# the foreign token service, on another loopback address
T=$(free_port)
REC=$CTD_DIR/foreign-auth.log
: >"$REC"
python3 "$SRC/tests/pull/regproxy.py" --port "$T" --bind 127.0.0.2 --token-only --record "$REC" \
    >>"$CTD_DIR/token-foreign.log" 2>&1 &
REG_PIDS="$REG_PIDS $!"
for i in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.2:$T/" && break
    sleep 0.1
done
curl -s -o /dev/null "http://127.0.0.2:$T/" || ctd_skip "cannot listen on 127.0.0.2"
: >"$REC"
REALM="http://127.0.0.2:$T/token"
proxy_start f "$REG_o_PORT" --bearer --realm "$REALM"
OWN_REC=$CTD_DIR/own-auth.log
proxy_start s "$REG_o_PORT" --bearer --record "$OWN_REC"
F=127.0.0.1:$PROXY_f_PORT
S=127.0.0.1:$PROXY_s_PORT
log "registry with a foreign realm at $F ($REALM), with its own realm at $S"

export DOCKER_CONFIG=$CTD_DIR/docker
mkdir -p "$DOCKER_CONFIG"
b64() { printf '%s' "$1" | base64 -w0; }
printf '{"auths": {"%s": {"auth": "%s"}, "%s": {"auth": "%s"}}}' \
    "$F" "$(b64 alice:s3cret)" "$S" "$(b64 alice:s3cret)" >"$DOCKER_CONFIG/config.json"

cat >"$PROJ/Orchfile" <<EOF
SERVICE foreign
FROM $F/open:1
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"

SERVICE own
FROM $S/open:1
DISABLED true
CMD sh -c "echo own-ok; trap 'exit 0' TERM; sleep 600 & wait"
EOF

# ---- a plain-http realm on another host: refused, credentials withheld
o grow -f "$PROJ/Orchfile" foreign 2>"$CTD_DIR/foreign.err"
e=$(survey_field foreign error)
state_is foreign failed && ok "the service failed: $e" || bad "foreign: $(survey_field foreign state): $e"
echo "$e" | grep -qF "$REALM" && echo "$e" | grep -q "plain http on 127.0.0.2:$T, not the registry $F" &&
    echo "$e" | grep -q "credentials of user alice" &&
    ok "the message names the realm, the user and why" || bad "message: $e"
if grep -q "AUTH" "$REC"; then
    bad "the foreign realm received: $(cat "$REC")"
else
    ok "the foreign realm received no Authorization header ($(wc -l <"$REC") requests)"
fi
assert_no_leftovers "after the refused pull"

# ---- the realm on the registry's own host:port: credentials go there
o grow -f "$PROJ/Orchfile" own 2>"$CTD_DIR/own.err"
state_is own running && ok "own realm: pulled and running" ||
    { bad "own: $(survey_field own state) $(survey_field own error)"; cat "$CTD_DIR/own.err"; }
grep -qx "AUTH Basic $(b64 alice:s3cret)" "$OWN_REC" &&
    ok "the registry's own realm got the credentials (the recorder works)" ||
    bad "own realm did not get the credentials: $(cat "$OWN_REC" 2>/dev/null)"

o fell >/dev/null || bad "fell"
assert_clean "after fell"
finish
