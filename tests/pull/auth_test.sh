#!/bin/bash
# Registry authentication (issue 3):
#  - a docker-registry with an htpasswd file (basic auth): no credentials,
#    a wrong password (both: a clear error naming service, image, registry
#    and user; the service failed), the right one from
#    $DOCKER_CONFIG/config.json `auths` ("auth": base64, and the
#    username/password form under an http:// key);
#  - anonymous bearer tokens, as Docker Hub hands them out: a proxy in front
#    of an open registry answers 401 with WWW-Authenticate: Bearer
#    realm=..,service=..,scope=..; orchd fetches the token from the realm and
#    pulls with it;
#  - transport security, with registries on this machine's non-loopback
#    address (skipped when it has none): https is verified against the
#    system CAs (a self-signed registry is refused, naming the certificate
#    problem); plain http is refused for such a host until
#    ORCH_INSECURE_REGISTRIES lists it;
#  - nothing half-written is left (ctr: no lease, no active ingest).
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
. "$SRC/tests/pull/lib.sh"
ctd_require
orchd_require
reg_require
command -v htpasswd >/dev/null 2>&1 || ctd_skip "htpasswd is not installed (apache2-utils)"
CTD_NS=auth$$
ctd_setup
orchd_setup
CTD_CLEANUP_EXTRA="orchd_teardown; reg_cleanup"
$CTD_CTR images rm "$CTD_IMAGE" >/dev/null
htpasswd -Bbc "$CTD_DIR/htpasswd" alice s3cret 2>/dev/null
reg_start p htpasswd "$CTD_DIR/htpasswd"
P=127.0.0.1:$REG_p_PORT
reg_push p "$CTD_DIR/image.tar" private:1 --dest-creds alice:s3cret
reg_push p "$CTD_DIR/image.tar" private:2 --dest-creds alice:s3cret
reg_start o
reg_push o "$CTD_DIR/image.tar" open:1
proxy_start b "$REG_o_PORT" --bearer
B=127.0.0.1:$PROXY_b_PORT
log "basic-auth registry at $P, bearer proxy at $B"

# the daemon reads the credentials file at each pull
export DOCKER_CONFIG=$CTD_DIR/docker
mkdir -p "$DOCKER_CONFIG"
creds() { printf '%s' "$1" >"$DOCKER_CONFIG/config.json"; }
b64() { printf '%s' "$1" | base64 -w0; }

cat >"$PROJ/Orchfile" <<EOF
SERVICE priv
FROM $P/private:1
CMD sh -c "echo private-ok; trap 'exit 0' TERM; sleep 600 & wait"

SERVICE priv2
FROM $P/private:2
DISABLED true
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"

SERVICE tok
FROM $B/open:1
DISABLED true
CMD sh -c "echo bearer-ok; trap 'exit 0' TERM; sleep 600 & wait"
EOF

# ---- no credentials
creds '{"auths": {}}'
o pull -f "$PROJ/Orchfile" priv >"$CTD_DIR/none.out" 2>&1 && bad "pull without credentials worked"
grep -q "service priv: image $P/private:1: the registry $P denied access to private" "$CTD_DIR/none.out" &&
    grep -q "$DOCKER_CONFIG/config.json has none for $P" "$CTD_DIR/none.out" &&
    ok "no credentials: $(grep 'service priv' "$CTD_DIR/none.out")" ||
    { bad "no credentials"; cat "$CTD_DIR/none.out"; }

# ---- a wrong password
creds "{\"auths\": {\"$P\": {\"auth\": \"$(b64 alice:wrong)\"}}}"
o grow -f "$PROJ/Orchfile" priv 2>"$CTD_DIR/wrong.err"
e=$(survey_field priv error)
state_is priv failed && echo "$e" | grep -q "the registry $P refused the credentials of user alice" &&
    ok "a wrong password: the service failed: $e" || bad "wrong password: $(survey_field priv state): $e"
assert_no_leftovers "after the refused pull"
has_image "$P/private:1" && bad "an image record after a refused pull"

# ---- the right one
creds "{\"auths\": {\"$P\": {\"auth\": \"$(b64 alice:s3cret)\"}}}"
o grow -f "$PROJ/Orchfile" priv 2>"$CTD_DIR/right.err" || { bad "grow with credentials"; cat "$CTD_DIR/right.err"; }
state_is priv running && ok "the right password: pulled and running" ||
    bad "right password: $(survey_field priv state) $(survey_field priv error)"
wait_cond 10 'grep -q private-ok "$ORCH_STATE_DIR/logs/$CTD_NS.priv.log"' &&
    ok "it printed its line" || bad "no output from priv"
creds "{\"auths\": {\"http://$P\": {\"username\": \"alice\", \"password\": \"s3cret\"}}}"
o pull -f "$PROJ/Orchfile" priv2 >"$CTD_DIR/right2.out" 2>&1 &&
    has_image "$P/private:2" && ok "username/password under an http:// key work too" ||
    { bad "username/password form"; cat "$CTD_DIR/right2.out"; }

# ---- anonymous bearer tokens
o grow -f "$PROJ/Orchfile" tok 2>"$CTD_DIR/tok.err"
state_is tok running && ok "bearer: pulled with an anonymous token, running" ||
    { bad "bearer: $(survey_field tok state) $(survey_field tok error)"; cat "$CTD_DIR/tok.err"; }
grep -qi "^GET /token?service=orchd-test&scope=repository%3Aopen%3Apull" "$CTD_DIR/proxy-b.log" &&
    ok "the token came from the challenge's realm, service and scope" ||
    { bad "no token request"; cat "$CTD_DIR/proxy-b.log"; }

# ---- transport security: a host that is not loopback
IP=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ print $4 }' | cut -d/ -f1 | head -1)
if [ -n "$IP" ] && command -v openssl >/dev/null 2>&1; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$IP" \
        -addext "subjectAltName=IP:$IP" -keyout "$CTD_DIR/tls.key" -out "$CTD_DIR/tls.crt" \
        >/dev/null 2>&1
    REG_HOST=$IP reg_start s tls "$CTD_DIR/tls.crt" "$CTD_DIR/tls.key"
    REG_HOST=$IP reg_start h
    reg_push s "$CTD_DIR/image.tar" tls:1
    reg_push h "$CTD_DIR/image.tar" plain:1
    TS=$IP:$REG_s_PORT
    TH=$IP:$REG_h_PORT
    printf 'SERVICE tls\nFROM %s/tls:1\n\nSERVICE plain\nFROM %s/plain:1\n' "$TS" "$TH" \
        >"$PROJ/Orchfile.sec"
    o pull -f "$PROJ/Orchfile.sec" tls >"$CTD_DIR/tls.out" 2>&1 && bad "a self-signed registry was trusted"
    grep -qi "service tls: image $TS/tls:1: cannot reach the registry $TS: .*certificate" "$CTD_DIR/tls.out" &&
        ok "https is verified: $(grep 'service tls' "$CTD_DIR/tls.out")" ||
        { bad "self-signed registry"; cat "$CTD_DIR/tls.out"; }
    o pull -f "$PROJ/Orchfile.sec" plain >"$CTD_DIR/plain.out" 2>&1 &&
        bad "plain http was used for $TH without ORCH_INSECURE_REGISTRIES"
    grep -q "service plain: image $TH/plain:1: cannot reach the registry $TH" "$CTD_DIR/plain.out" &&
        ok "plain http is not used for $IP by default: $(grep 'service plain' "$CTD_DIR/plain.out")" ||
        { bad "plain registry without the setting"; cat "$CTD_DIR/plain.out"; }
    # the daemon reads ORCH_INSECURE_REGISTRIES from its environment
    o fell >/dev/null
    export ORCH_INSECURE_REGISTRIES="other.example:5000, $TH"
    o pull -f "$PROJ/Orchfile.sec" plain >"$CTD_DIR/plain2.out" 2>&1 && has_image "$TH/plain:1" &&
        ok "with ORCH_INSECURE_REGISTRIES=$ORCH_INSECURE_REGISTRIES: pulled over http" ||
        { bad "ORCH_INSECURE_REGISTRIES"; cat "$CTD_DIR/plain2.out"; }
    unset ORCH_INSECURE_REGISTRIES
else
    echo "(no non-loopback address or no openssl: transport security not tested)"
fi

assert_no_leftovers "after the pulls"
o fell >/dev/null || bad "fell"
assert_clean "after fell"
finish
