#!/bin/bash
# Image pulls from a real registry on loopback (issue 3): Debian's
# docker-registry on 127.0.0.1 (own storage, random port), the busybox test
# image pushed with skopeo, a private containerd, the real orchd.
#  - grow pulls what is missing and runs it; two services sharing the image
#    pull it once (each blob GET once in the registry's access log);
#  - pull twice: the second fetches no blob; --pull never does not ask the
#    registry; --pull always asks for the manifest only;
#  - a multi-arch index: the linux/<arch> manifest is chosen, the other
#    arch's blobs are not fetched; a digest reference;
#  - unknown tag, unknown repository, no manifest for this arch: a clear
#    error naming service and image, the service failed;
#  - progress: a line per layer in a pipe, updating lines on a terminal;
#  - afterwards (ctr): the image records and blobs are there, no lease and
#    no active ingest is left;
#  - libcurl comes with the first pull: a daemon running a container of an
#    image already in containerd maps no libcurl (nor nghttp2, ssh2, ldap,
#    krb5, ...), the same daemon maps it once it has pulled.
# Environment: ORCHD (ctest), SRC.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/containerd/lib.sh"
. "$SRC/tests/containerd/orchd_lib.sh"
. "$SRC/tests/pull/lib.sh"
ctd_require
orchd_require
reg_require
CTD_NS=pull$$
ctd_setup
orchd_setup
CTD_CLEANUP_EXTRA="orchd_teardown; reg_cleanup"
# libcurl and what only it brings (bench/lib/smaps_breakdown.py's group)
maps_curl() {
    grep -E 'libcurl|libnghttp2|libssh2|libldap|liblber|libgssapi|libkrb5|librtmp|libpsl|libidn2|libbrotli' \
        "/proc/$1/maps" | awk '{print $6}' | sort -u | tr '\n' ' '
}
# ---- no pull, no libcurl: a container of the image the harness imported
cat >"$PROJ/Orchfile" <<ORCH
SERVICE local
FROM $CTD_IMAGE
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
ORCH
o grow --pull never -f "$PROJ/Orchfile" >"$CTD_DIR/local.out" 2>&1 || { bad "grow local failed"; cat "$CTD_DIR/local.out"; }
DPID=$(daemon_pid)
if state_is local running && [ -n "$DPID" ]; then
    grep -q orchd-containerd "/proc/$DPID/maps" || bad "daemon $DPID does not map the containerd module (?)"
    m=$(maps_curl "$DPID")
    [ -z "$m" ] && ok "daemon $DPID runs a container (module loaded, no pull): no libcurl mapped" ||
        bad "daemon $DPID maps libcurl or its libraries before any pull: $m"
else
    bad "local: $(survey_field local state) $(survey_field local error)"
fi
o fell -f "$PROJ/Orchfile" local >/dev/null 2>&1 || bad "fell local"
# an empty store: the harness imported the test image; pulls start from nothing
$CTD_CTR images rm --sync "$CTD_IMAGE" >/dev/null
reg_start a
R=127.0.0.1:$REG_a_PORT
reg_push a "$CTD_DIR/image.tar" orchd-test:latest
python3 "$SRC/tests/pull/make_images.py" "$CTD_DIR/image.tar" multi "$CTD_DIR/multi.tar" >/dev/null
python3 "$SRC/tests/pull/make_images.py" "$CTD_DIR/image.tar" foreign "$CTD_DIR/foreign.tar" >/dev/null
reg_push a "$CTD_DIR/multi.tar" multi:1 --all
reg_push a "$CTD_DIR/foreign.tar" foreign:1 --all
reg_push a "$CTD_DIR/image.tar" orchd-test:other
log "containerd at $CTD_SOCK, registry at $R, namespace $CTD_NS"

# what the registry serves (skopeo may have compressed or rewritten things)
manifest_of() {
    curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$R/v2/$1/manifests/$2"
}
digest_of() {
    curl -s -o /dev/null -D - -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$R/v2/$1/manifests/$2" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }'
}
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
LAYER=$(manifest_of orchd-test latest | jq_py 'd["layers"][0]["digest"]')
CONFIG=$(manifest_of orchd-test latest | jq_py 'd["config"]["digest"]')
TOP=$(digest_of orchd-test latest)

# ---- grow pulls, runs; two services, one pull
BASE="SERVICE web
FROM $R/orchd-test:latest
CMD sh -c \"echo hello-from-pulled; trap 'exit 0' TERM; sleep 600 & wait\"

SERVICE web2
FROM $R/orchd-test
CMD sh -c \"trap 'exit 0' TERM; sleep 600 & wait\"
"
# every Orchfile holds web and web2: a grow of other services (by name)
# leaves them alone
orchfile() { { echo "$BASE"; cat; } >"$PROJ/$1"; }
orchfile Orchfile </dev/null
t0=$(now_ms)
o grow -f "$PROJ/Orchfile" 2>"$CTD_DIR/grow.err" || { bad "grow failed"; cat "$CTD_DIR/grow.err"; }
log "grow with the pull: $(( $(now_ms) - t0 )) ms"
state_is web running && state_is web2 running && ok "both services run the pulled image" ||
    bad "web: $(survey_field web state) $(survey_field web error); web2: $(survey_field web2 state)"
wait_cond 10 'grep -q hello-from-pulled "$ORCH_STATE_DIR/logs/$CTD_NS.web.log"' &&
    ok "the container printed its line" || bad "no output from web"
[ "$(blob_gets a "$LAYER")" = 1 ] && [ "$(blob_gets a "$CONFIG")" = 1 ] &&
    ok "layer and config fetched once for two services" ||
    bad "blob GETs: layer $(blob_gets a "$LAYER"), config $(blob_gets a "$CONFIG")"
grep -q "layer ${LAYER:7:12}: done" "$CTD_DIR/grow.err" &&
    grep -q "$R/orchd-test:latest: pulled $TOP" "$CTD_DIR/grow.err" &&
    ok "grow showed a line per layer and the pull (in a pipe)" ||
    { bad "grow's progress lines"; cat "$CTD_DIR/grow.err"; }
has_image "$R/orchd-test:latest" && ok "ctr: image $R/orchd-test:latest recorded" ||
    bad "no image record: $($CTD_CTR images ls -q)"
target=$($CTD_CTR images ls | awk -v n="$R/orchd-test:latest" '$1 == n { print $3 }')
[ "$target" = "$TOP" ] && ok "its target is the registry's manifest $TOP" || bad "target $target"
has_content "$LAYER" && has_content "$CONFIG" && has_content "$TOP" &&
    ok "ctr: manifest, config and layer are in the content store" ||
    bad "content: $($CTD_CTR content ls -q)"
$CTD_CTR content ls | grep "^$TOP" | grep -q "containerd.io/gc.ref.content.l.0=$LAYER" &&
    ok "the manifest blob carries the GC labels of its children" || bad "manifest labels"
assert_no_leftovers "after the pull"
if [ -n "$DPID" ] && [ "$(daemon_pid)" = "$DPID" ]; then
    m=$(maps_curl "$DPID")
    grep -q 'libcurl' <<<"$m" && ok "after the pull, the same daemon $DPID maps libcurl: $m" ||
        bad "daemon $DPID pulled without mapping libcurl (?): $m"
else
    bad "the daemon changed between the local container and the pull: $DPID -> $(daemon_pid)"
fi

# ---- pull twice: no refetch
gets0=$(blob_gets a)
man0=$(manifest_gets a)
o pull -f "$PROJ/Orchfile" >"$CTD_DIR/pull2.out" 2>&1 ||
    bad "second pull failed: $(cat "$CTD_DIR/pull2.out")"
[ "$(blob_gets a)" = "$gets0" ] && ok "pull again: no blob fetched ($gets0 blob GETs in all)" ||
    bad "pull again fetched blobs: $gets0 -> $(blob_gets a)"
[ "$(manifest_gets a)" -gt "$man0" ] && ok "pull again asked for the manifest (a tag may move)" ||
    bad "pull again did not resolve the tag"
grep -q "layer ${LAYER:7:12}: already present" "$CTD_DIR/pull2.out" &&
    ok "it says the layer is already present" || { bad "pull2 output"; cat "$CTD_DIR/pull2.out"; }

# ---- --pull never / always
man0=$(manifest_gets a)
orchfile Orchfile.other <<EOF
SERVICE other
FROM $R/orchd-test:other
DISABLED true
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
EOF
o grow -f "$PROJ/Orchfile.other" --pull never other 2>/dev/null
err=$(survey_field other error)
state_is other failed && echo "$err" | grep -q "image $R/orchd-test:other is not in containerd's store" &&
    ok "--pull never: failed, not pulled ($err)" || bad "--pull never: $(survey_field other state): $err"
[ "$(manifest_gets a)" = "$man0" ] && ok "--pull never did not ask the registry" ||
    bad "--pull never asked the registry"
pid_web=$(survey_field web pid)
gets0=$(blob_gets a)
o grow -f "$PROJ/Orchfile" --pull always 2>/dev/null || bad "grow --pull always"
[ "$(manifest_gets a)" -gt "$man0" ] && [ "$(blob_gets a)" = "$gets0" ] &&
    ok "--pull always: the manifest again, no blob" ||
    bad "--pull always: blob GETs $gets0 -> $(blob_gets a)"
[ "$(survey_field web pid)" = "$pid_web" ] && ok "an unchanged running service was not touched" ||
    bad "web restarted"

# ---- multi-arch index, digest reference
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
ARM=$(manifest_of multi 1 |
    jq_py '[m["digest"] for m in d["manifests"] if m["platform"]["architecture"] == "arm64"][0]')
ARM_LAYER=$(manifest_of multi "$ARM" | jq_py 'd["layers"][0]["digest"]')
MULTI=$(digest_of multi 1)
orchfile Orchfile.multi <<EOF
SERVICE multi
FROM $R/multi:1
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"

SERVICE bydigest
FROM $R/orchd-test@$TOP
CMD sh -c "trap 'exit 0' TERM; sleep 600 & wait"
EOF
o grow -f "$PROJ/Orchfile.multi" multi bydigest 2>"$CTD_DIR/multi.err"
state_is multi running && ok "multi-arch index: the linux/$ARCH image runs" ||
    { bad "multi: $(survey_field multi state) $(survey_field multi error)"; cat "$CTD_DIR/multi.err"; }
target=$($CTD_CTR images ls | awk -v n="$R/multi:1" '$1 == n { print $3 }')
[ "$target" = "$MULTI" ] && ok "its record names the index $MULTI" || bad "multi target $target"
! has_content "$ARM" && ! has_content "$ARM_LAYER" && [ "$(blob_gets a "$ARM_LAYER")" = 0 ] &&
    ok "the arm64 manifest and layer were not fetched" || bad "arm64 content was fetched"
state_is bydigest running && has_image "$R/orchd-test@$TOP" &&
    ok "a digest reference pulls and runs" || bad "bydigest: $(survey_field bydigest error)"

# ---- bad input
orchfile Orchfile.bad <<EOF
SERVICE notag
FROM $R/orchd-test:no-such-tag

SERVICE norepo
FROM $R/no-such-repo:1

SERVICE foreign
FROM $R/foreign:1
EOF
t0=$(now_ms)
o pull -f "$PROJ/Orchfile.bad" notag norepo foreign >"$CTD_DIR/bad.out" 2>&1 &&
    bad "pull of bad images succeeded"
expect_report() {
    grep -qE "$2" "$CTD_DIR/bad.out" && ok "$1" || { bad "$1: no '$2' in:"; cat "$CTD_DIR/bad.out"; }
}
expect_report "unknown tag" \
    "service notag: image $R/orchd-test:no-such-tag: tag 'no-such-tag' not found in orchd-test on $R"
expect_report "unknown repository" "service norepo: image $R/no-such-repo:1: .*not found"
expect_report "no manifest for this arch" \
    "service foreign: image $R/foreign:1: no manifest for linux/$ARCH \(it has: linux/arm64, linux/s390x\)"
o grow -f "$PROJ/Orchfile.bad" notag norepo foreign 2>/dev/null
for s in notag norepo foreign; do
    e=$(survey_field $s error)
    state_is $s failed && echo "$e" | grep -q "$R" && ok "$s: failed: $e" ||
        bad "$s: $(survey_field $s state): $e"
done
log "bad images reported and failed in $(( $(now_ms) - t0 )) ms"
assert_no_leftovers "after the failed pulls"

# ---- a terminal gets updating lines
$CTD_CTR images rm "$R/orchd-test:other" >/dev/null 2>&1
orchfile Orchfile.tty <<EOF
SERVICE tty
FROM $R/orchd-test:other
EOF
if command -v script >/dev/null 2>&1; then
    TERM=xterm script -qec "$ORCHD pull -f $PROJ/Orchfile.tty tty" /dev/null >"$CTD_DIR/tty.out" 2>&1
    grep -q $'\033\\[2K' "$CTD_DIR/tty.out" && grep -q "pulled" "$CTD_DIR/tty.out" &&
        ok "on a terminal: lines rewritten in place" || { bad "tty output"; cat -v "$CTD_DIR/tty.out"; }
fi

o fell >/dev/null || bad "fell"
assert_clean "after fell"
assert_no_leftovers "after fell"
finish
