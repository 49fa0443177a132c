/* Pulling from an OCI / Docker v2 registry (distribution-spec), as
 * containerd's remotes/docker does it:
 *
 *   GET /v2/<name>/manifests/<tag|digest>   Accept: OCI + Docker v2 types
 *     401 + WWW-Authenticate: Bearer realm=..,service=..,scope=..
 *       -> GET realm?service=..&scope=repository:<name>:pull (Basic auth
 *          with credentials from ~/.docker/config.json, if any) -> token
 *     401 + Basic realm=..  -> again with the credentials
 *   an index -> the linux/<arch> manifest (by digest)
 *   GET /v2/<name>/blobs/<digest>  (config, layers; Range to resume)
 *
 * Every manifest is checked against the digest that named it; blobs are
 * checked by containerd when they are committed (ingest.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "common/curl_dl.h" /* before pull_internal.h: curl's names go through orch_curl */
#include "containerd/fetch/auth.h"
#include "containerd/fetch/pull_internal.h"
#include "common/xalloc.h"

#define ACCEPT                                                                                  \
    "Accept: " MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST \
    ", */*;q=0.5"

typedef struct reg_req reg_req;

typedef struct chain_entry {
    char *mt, *digest;
    char *bytes;
    size_t len;
    char **labels; /* key, value, ..., NULL */
} chain_entry;

typedef struct reg {
    char *base;   /* "https://host/v2/<name>/" */
    char *host;   /* host[:port], for messages */
    char *auth;   /* "Authorization: ..." once known */
    bool creds_loaded, have_creds, sent_creds;
    char *user, *secret, *creds_file;
    reg_req *manifest;
    int depth;
    chain_entry *chain; /* the manifests, top first */
    size_t n_chain;
} reg;

struct reg_req {
    img_job *j;
    char *url;
    bool accept_manifests;
    int64_t range_from;
    size_t max_body;
    int (*on_data)(void *arg, const char *d, size_t n);
    void (*done)(void *arg, const http_result *res, const orch_error *err);
    void *arg;
    http_req *h;     /* the request, or */
    http_req *token; /* the token request */
    int rounds;
};

/* ---------------------------------------------------------------- helpers */

/* The registry's error body: {"errors":[{"code":..,"message":..}]} */
static char *registry_error(const http_result *res, char **code_out)
{
    if (code_out)
        *code_out = NULL;
    if (!res->body_len)
        return NULL;
    char why[64];
    yajl_val root = yajl_tree_parse(res->body, why, sizeof why);
    if (!root)
        return NULL;
    const char *ep[] = {"errors", NULL};
    yajl_val errs = yajl_tree_get(root, ep, yajl_t_array);
    char *out = NULL;
    if (errs && errs->u.array.len > 0) {
        yajl_val e = errs->u.array.values[0];
        const char *code = jstr(e, "code"), *msg = jstr(e, "message");
        out = xasprintf("%s%s%s", code ? code : "", code && msg ? ": " : "", msg ? msg : "");
        if (code_out && code)
            *code_out = xstrdup(code);
    }
    yajl_tree_free(root);
    return out;
}

static char *strip_params(const char *ct)
{
    if (!ct)
        return NULL;
    size_t n = strcspn(ct, ";");
    while (n && ct[n - 1] == ' ')
        n--;
    return xstrndup(ct, n);
}

/* ---------------------------------------------------------------- requests with auth */

static void rr_start(reg_req *rr);

static void rr_free(reg_req *rr)
{
    free(rr->url);
    free(rr);
}

static void rr_cancel(reg_req *rr)
{
    if (!rr)
        return;
    http_cancel(rr->h);
    http_cancel(rr->token);
    rr_free(rr);
}

static void rr_finish(reg_req *rr, const http_result *res, const orch_error *err)
{
    rr->done(rr->arg, res, err);
    rr_free(rr);
}

/* The request fails before an answer worth reading: err (taken). */
static void rr_fail(reg_req *rr, orch_error *err)
{
    http_result none;
    memset(&none, 0, sizeof none);
    none.error = "";
    none.body = "";
    rr_finish(rr, &none, err);
    orch_error_free(err);
}

static void load_creds(reg *r, img_job *j)
{
    if (r->creds_loaded)
        return;
    r->creds_loaded = true;
    char *problem = NULL;
    r->have_creds = auth_find_credentials(j->ref.domain, &r->user, &r->secret, &r->creds_file,
                                          &problem);
    if (problem) {
        fprintf(stderr, "orchd: image %s: %s\n", j->name, problem);
        free(problem);
    }
}

static orch_error *refused(reg *r, img_job *j, const http_result *res)
{
    char *detail = registry_error(res, NULL);
    char *m;
    if (r->sent_creds)
        m = xasprintf("the registry %s refused the credentials of user %s (from %s)%s%s%s",
                      r->host, r->user, r->creds_file, detail ? " (" : "", detail ? detail : "",
                      detail ? ")" : "");
    else {
        char *cfg = auth_config_path();
        m = xasprintf("the registry %s denied access to %s%s%s%s: the repository does not exist, "
                      "or it needs credentials (%s has none for %s)",
                      r->host, j->ref.path, detail ? " (" : "", detail ? detail : "",
                      detail ? ")" : "", cfg, j->ref.domain);
        free(cfg);
    }
    free(detail);
    orch_error *e = orch_error_new(ORCH_E_PERMISSION, "%s", m);
    free(m);
    return e;
}

static void on_token(void *arg, const http_result *res)
{
    reg_req *rr = arg;
    img_job *j = rr->j;
    reg *r = j->src_state;
    rr->token = NULL;
    if (res->curl_code != CURLE_OK) {
        rr_fail(rr, orch_error_new(ORCH_E_UNAVAILABLE, "cannot get a token for %s: %s", r->host, res->error));
        return;
    }
    if (res->status == 401 || res->status == 403) {
        rr_fail(rr, refused(r, j, res));
        return;
    }
    if (res->status != 200) {
        rr_fail(rr, orch_error_new(ORCH_E_PERMISSION, "the token service of %s answered HTTP %ld", r->host, res->status));
        return;
    }
    char why[64];
    yajl_val root = yajl_tree_parse(res->body, why, sizeof why);
    const char *tok = root ? jstr(root, "token") : NULL;
    if (!tok || !*tok)
        tok = root ? jstr(root, "access_token") : NULL;
    if (!tok || !*tok) {
        yajl_tree_free(root);
        rr_fail(rr, orch_error_new(ORCH_E_PERMISSION, "the token service of %s sent no token", r->host));
        return;
    }
    free(r->auth);
    r->auth = xasprintf("Authorization: Bearer %s", tok);
    yajl_tree_free(root);
    rr_start(rr);
}

/* host:port of a URL (the scheme's port when it names none), lowercased. */
static char *url_host_port(CURLU *u)
{
    char *host = NULL, *port = NULL;
    if (orch_curl.curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        orch_curl.curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        orch_curl.curl_free(host);
        return NULL;
    }
    char *hp = xasprintf("%s:%s", host, port);
    orch_curl.curl_free(host);
    orch_curl.curl_free(port);
    for (char *p = hp; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return hp;
}

/* May the stored credentials go to the token realm u (docs/IMAGES.md,
 * "Credentials")? As docker does, to any realm over https; over plain http
 * only to the registry itself (when plain http is allowed for it) or to a
 * host that ORCH_INSECURE_REGISTRIES names. NULL, or why not (malloc'ed). */
static char *realm_refusal(reg *r, CURLU *u, const char *realm)
{
    char *scheme = NULL;
    if (orch_curl.curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        return xasprintf("the realm %s has no scheme", realm);
    bool https = strcmp(scheme, "https") == 0, http = strcmp(scheme, "http") == 0;
    orch_curl.curl_free(scheme);
    if (https)
        return NULL;
    if (!http)
        return xasprintf("the realm %s is neither https nor http", realm);
    char *hp = url_host_port(u), *reg_hp = NULL;
    CURLU *b = orch_curl.curl_url();
    if (orch_curl.curl_url_set(b, CURLUPART_URL, r->base, 0) == CURLUE_OK)
        reg_hp = url_host_port(b);
    orch_curl.curl_url_cleanup(b);
    bool own = hp && reg_hp && strcmp(hp, reg_hp) == 0 && strncmp(r->base, "http:", 5) == 0;
    bool listed = hp && http_insecure_listed(hp);
    char *why = own || listed ? NULL
                              : xasprintf("the realm %s is plain http on %s, not the registry "
                                          "%s itself",
                                          realm, hp ? hp : "an unknown host", r->host);
    free(hp);
    free(reg_hp);
    return why;
}

static void fetch_token(reg_req *rr, const auth_challenge *c)
{
    img_job *j = rr->j;
    reg *r = j->src_state;
    load_creds(r, j);
    CURLU *u = orch_curl.curl_url();
    char *url = NULL;
    if (orch_curl.curl_url_set(u, CURLUPART_URL, c->realm, 0) != CURLUE_OK) {
        orch_curl.curl_url_cleanup(u);
        rr_fail(rr, orch_error_new(ORCH_E_PERMISSION, "the registry %s named a bad token realm '%s'", r->host, c->realm));
        return;
    }
    if (c->service) {
        char *q = xasprintf("service=%s", c->service);
        orch_curl.curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE);
        free(q);
    }
    char *scope = xasprintf("scope=repository:%s:pull", j->ref.path);
    orch_curl.curl_url_set(u, CURLUPART_QUERY, scope, CURLU_APPENDQUERY | CURLU_URLENCODE);
    free(scope);
    char *basic = NULL;
    char *why = r->have_creds ? realm_refusal(r, u, c->realm) : NULL;
    if (why) {
        /* the registry, or whoever answers for it, wants the secret sent
         * where it could be read on the way: fail, naming the realm */
        orch_curl.curl_url_cleanup(u);
        orch_error *e = orch_error_new(
            ORCH_E_PERMISSION,
            "the registry %s sent a token realm that does not get the credentials of user %s "
            "(from %s): %s (credentials go over https, or over http only to the registry's own "
            "host:port; ORCH_INSECURE_REGISTRIES may name the realm's host)",
            r->host, r->user, r->creds_file, why);
        free(why);
        rr_fail(rr, e);
        return;
    }
    orch_curl.curl_url_get(u, CURLUPART_URL, &url, 0);
    orch_curl.curl_url_cleanup(u);
    if (r->have_creds) {
        char *up = xasprintf("%s:%s", r->user, r->secret);
        char *b64 = auth_base64(up, strlen(up));
        basic = xasprintf("Authorization: Basic %s", b64);
        free(b64);
        free(up);
        r->sent_creds = true;
    }
    const char *hdrs[] = {basic, NULL};
    http_opts o = {.url = url, .headers = basic ? hdrs : NULL, .total_timeout_ms = 60000};
    char *err = NULL;
    rr->token = http_start(job_loop(j), &o, on_token, rr, &err);
    orch_curl.curl_free(url);
    free(basic);
    if (!rr->token) {
        rr_fail(rr, orch_error_new(ORCH_E_IO, "%s", err ? err : "cannot start the request"));
        free(err);
    }
}

static void on_http(void *arg, const http_result *res)
{
    reg_req *rr = arg;
    img_job *j = rr->j;
    reg *r = j->src_state;
    rr->h = NULL;
    if (res->status == 401 && res->curl_code == CURLE_OK && rr->rounds < 2) {
        auth_challenge c;
        if (auth_parse_challenge(res->www_authenticate, &c) != 0) {
            rr_fail(rr, orch_error_new(ORCH_E_PERMISSION, "the registry %s wants authentication but sent no usable "
                                "WWW-Authenticate challenge",
                                r->host));
            return;
        }
        rr->rounds++;
        if (strcmp(c.scheme, "bearer") == 0 && c.realm && rr->rounds == 1) {
            fetch_token(rr, &c);
            auth_challenge_free(&c);
            return;
        }
        if (strcmp(c.scheme, "basic") == 0) {
            load_creds(r, j);
            if (r->have_creds && !r->sent_creds) {
                char *up = xasprintf("%s:%s", r->user, r->secret);
                char *b64 = auth_base64(up, strlen(up));
                free(r->auth);
                r->auth = xasprintf("Authorization: Basic %s", b64);
                free(b64);
                free(up);
                r->sent_creds = true;
                auth_challenge_free(&c);
                rr_start(rr);
                return;
            }
        }
        auth_challenge_free(&c);
        rr_fail(rr, refused(r, j, res));
        return;
    }
    if (res->status == 401 && res->curl_code == CURLE_OK) {
        rr_fail(rr, refused(r, j, res));
        return;
    }
    rr_finish(rr, res, NULL);
}

static void rr_start(reg_req *rr)
{
    reg *r = rr->j->src_state;
    const char *hdrs[3];
    size_t n = 0;
    if (rr->accept_manifests)
        hdrs[n++] = ACCEPT;
    if (r->auth)
        hdrs[n++] = r->auth;
    hdrs[n] = NULL;
    http_opts o = {.url = rr->url,
                   .headers = hdrs,
                   .range_from = rr->range_from,
                   .max_body = rr->max_body,
                   .on_data = rr->on_data,
                   .data_arg = rr->arg,
                   .total_timeout_ms = rr->on_data ? 0 : 120000};
    char *err = NULL;
    rr->h = http_start(job_loop(rr->j), &o, on_http, rr, &err);
    if (!rr->h) {
        rr_fail(rr, orch_error_new(ORCH_E_IO, "%s", err ? err : "cannot start the request"));
        free(err); /* NB: from inside the caller; callers allow it */
    }
}

/* ---------------------------------------------------------------- manifests */

static void http_reader(job_blob *b);

static void fetch_manifest(img_job *j, const char *reference);

static void chain_add(reg *r, const char *mt, const char *digest, const char *bytes, size_t len)
{
    r->chain = xrealloc(r->chain, (r->n_chain + 1) * sizeof *r->chain);
    chain_entry *c = &r->chain[r->n_chain++];
    c->mt = xstrdup(mt);
    c->digest = xstrdup(digest);
    c->bytes = xmalloc(len + 1);
    memcpy(c->bytes, bytes, len);
    c->len = len;
    c->labels = xcalloc(1, sizeof *c->labels);
}

static void chain_label(chain_entry *c, const char *k, const char *v)
{
    size_t n = 0;
    while (c->labels[n])
        n++;
    c->labels = xrealloc(c->labels, (n + 3) * sizeof *c->labels);
    c->labels[n] = xstrdup(k);
    c->labels[n + 1] = xstrdup(v);
    c->labels[n + 2] = NULL;
}

/* The manifest is known: its config and layers, then the manifests
 * themselves (children first) as the last blobs. */
static void manifest_found(img_job *j, yajl_val root)
{
    reg *r = j->src_state;
    chain_entry *me = &r->chain[r->n_chain - 1];
    const char *cp[] = {"config", NULL}, *lp[] = {"layers", NULL};
    yajl_val config = yajl_tree_get(root, cp, yajl_t_object);
    yajl_val layers = yajl_tree_get(root, lp, yajl_t_array);
    long long csize = 0;
    const char *cdig = config ? jstr(config, "digest") : NULL;
    if (!cdig || !img_digest_valid(cdig) || !jint(config, "size", &csize) || csize < 0 ||
        !YAJL_IS_ARRAY(layers)) {
        job_fail(j, orch_error_new(ORCH_E_CORRUPT, "manifest %s has no valid config or layers", me->digest));
        return;
    }
    http_reader(job_add_blob(j, cdig, jstr(config, "mediaType"), csize, "config", false));
    chain_label(me, "containerd.io/gc.ref.content.config", cdig);
    for (size_t i = 0; i < layers->u.array.len; i++) {
        yajl_val l = layers->u.array.values[i];
        const char *d = jstr(l, "digest"), *mt = jstr(l, "mediaType");
        long long size = 0;
        if (!d || !img_digest_valid(d) || !jint(l, "size", &size) || size < 0) {
            job_fail(j, orch_error_new(ORCH_E_CORRUPT, "layer %zu of manifest %s has no valid digest or size", i + 1, me->digest));
            return;
        }
        if (mt && strstr(mt, "foreign")) {
            job_fail(j, orch_error_new(ORCH_E_UNSUPPORTED, "layer %zu is a foreign layer (%s), which orchd does not fetch", i + 1, mt));
            return;
        }
        http_reader(job_add_blob(j, d, mt, size, "layer", false));
        char key[64];
        snprintf(key, sizeof key, "containerd.io/gc.ref.content.l.%zu", i);
        chain_label(me, key, d);
    }
    /* children first: the manifest, then each index above it */
    for (size_t k = r->n_chain; k-- > 0;) {
        chain_entry *c = &r->chain[k];
        job_blob *b = job_add_blob(j, c->digest, c->mt, (int64_t)c->len,
                                   is_index_type(c->mt) ? "index" : "manifest", true);
        job_blob_from_memory(b, c->bytes, c->len);
        c->bytes = NULL;
        for (size_t i = 0; c->labels[i]; i += 2)
            job_blob_label(b, c->labels[i], c->labels[i + 1]);
    }
    job_emit_image(j, "resolved", "digest", j->target_digest);
    job_run_blobs(j);
}

static void on_manifest(void *arg, const http_result *res, const orch_error *err)
{
    img_job *j = arg;
    reg *r = j->src_state;
    r->manifest = NULL;
    if (job_returned(j))
        return;
    if (err) {
        job_fail(j, ctd_error_dup(err)); /* auth: refused, or no token */
        return;
    }
    if (res->curl_code != CURLE_OK) {
        if (res->body_cut)
            job_fail(j, orch_error_new(ORCH_E_CORRUPT, "the manifest from %s is larger than %u bytes", r->host, CTD_MAX_MANIFEST));
        else if (res->curl_code == CURLE_PEER_FAILED_VERIFICATION)
            job_fail(j, orch_error_new(ORCH_E_UNAVAILABLE, "cannot reach the registry %s: %s (its certificate is not trusted by the system's CAs: add its CA to /usr/local/share/ca-certificates and run update-ca-certificates)", r->host, res->error));
        else if (res->curl_code == CURLE_SSL_CONNECT_ERROR && strncmp(r->base, "https:", 6) == 0)
            job_fail(j, orch_error_new(ORCH_E_UNAVAILABLE, "cannot reach the registry %s: %s (if it serves plain http, list it in ORCH_INSECURE_REGISTRIES)", r->host, res->error));
        else
            job_fail(j, orch_error_new(ORCH_E_UNAVAILABLE, "cannot reach the registry %s: %s", r->host, res->error));
        return;
    }
    const char *what = r->depth == 0 ? (j->ref.digest ? "manifest" : "tag") : "manifest";
    if (res->status == 404) {
        char *code = NULL;
        char *detail = registry_error(res, &code);
        if (code && strcmp(code, "NAME_UNKNOWN") == 0)
            job_fail(j, orch_error_new(ORCH_E_NOT_FOUND, "repository %s not found on %s (%s)", j->ref.path, r->host, detail));
        else if (r->depth == 0 && j->ref.digest)
            job_fail(j, orch_error_new(ORCH_E_NOT_FOUND, "manifest %s not found in %s on %s%s%s%s", j->ref.digest, j->ref.path, r->host, detail ? " (" : "", detail ? detail : "", detail ? ")" : ""));
        else if (r->depth == 0)
            job_fail(j, orch_error_new(ORCH_E_NOT_FOUND, "%s '%s' not found in %s on %s%s%s%s", what, j->ref.tag, j->ref.path, r->host, detail ? " (" : "", detail ? detail : "", detail ? ")" : ""));
        else
            job_fail(j, orch_error_new(ORCH_E_NOT_FOUND, "the platform manifest is missing from %s on %s%s%s%s", j->ref.path, r->host, detail ? " (" : "", detail ? detail : "", detail ? ")" : ""));
        free(code);
        free(detail);
        return;
    }
    if (res->status == 403) {
        char *detail = registry_error(res, NULL);
        job_fail(j, orch_error_new(ORCH_E_PERMISSION, "the registry %s denied access to %s%s%s%s", r->host, j->ref.path, detail ? " (" : "", detail ? detail : "", detail ? ")" : ""));
        free(detail);
        return;
    }
    if (res->status != 200) {
        char *detail = registry_error(res, NULL);
        job_fail(j, orch_error_new(ORCH_E_IO, "the registry %s answered HTTP %ld for the manifest of %s%s%s%s", r->host, res->status, j->name, detail ? " (" : "", detail ? detail : "", detail ? ")" : ""));
        free(detail);
        return;
    }
    char *digest = orch_sha256_digest(res->body, res->body_len);
    /* the digest that named it: the reference's, or the index entry's */
    const char *expected = r->depth == 0 ? j->ref.digest : NULL;
    if (r->depth > 0) {
        /* the index entry we followed: the last m.<i> label of the parent */
        chain_entry *parent = &r->chain[r->n_chain - 1];
        for (size_t i = 0; parent->labels[i]; i += 2)
            if (strncmp(parent->labels[i], "containerd.io/gc.ref.content.m.", 31) == 0)
                expected = parent->labels[i + 1];
    }
    if (expected && strcmp(expected, digest) != 0) {
        job_fail(j, orch_error_new(ORCH_E_CORRUPT, "digest mismatch: the registry %s sent a manifest with digest %s for %s", r->host, digest, expected));
        free(digest);
        return;
    }
    if (!expected && res->docker_digest && img_digest_valid(res->docker_digest) &&
        strcmp(res->docker_digest, digest) != 0) {
        job_fail(j, orch_error_new(ORCH_E_CORRUPT, "digest mismatch: the registry %s says the manifest of %s is %s, but it has digest %s", r->host, j->name, res->docker_digest, digest));
        free(digest);
        return;
    }
    char why[128] = "";
    yajl_val root = yajl_tree_parse(res->body, why, sizeof why);
    if (!YAJL_IS_OBJECT(root)) {
        why[strcspn(why, "\n")] = '\0';
        job_fail(j, orch_error_new(ORCH_E_CORRUPT, "the manifest %s is not a JSON object%s%s", digest, *why ? ": " : "", why));
        yajl_tree_free(root);
        free(digest);
        return;
    }
    char *mt = strip_params(res->content_type);
    const char *body_mt = jstr(root, "mediaType");
    if (body_mt && (is_index_type(body_mt) || is_manifest_type(body_mt))) {
        free(mt);
        mt = xstrdup(body_mt);
    }
    if (!is_index_type(mt) && !is_manifest_type(mt)) {
        long long v = 0;
        bool schema1 = (mt && strncmp(mt, MT_DOCKER_SCHEMA1, strlen(MT_DOCKER_SCHEMA1)) == 0) ||
                       (jint(root, "schemaVersion", &v) && v == 1);
        const char *mp[] = {"manifests", NULL}, *lp[] = {"layers", NULL};
        free(mt);
        mt = NULL;
        if (!schema1 && yajl_tree_get(root, mp, yajl_t_array))
            mt = xstrdup(MT_OCI_INDEX);
        else if (!schema1 && yajl_tree_get(root, lp, yajl_t_array))
            mt = xstrdup(MT_OCI_MANIFEST);
    }
    if (!mt) {
        long long v = 0;
        if (jint(root, "schemaVersion", &v) && v == 1)
            job_fail(j, orch_error_new(ORCH_E_UNSUPPORTED, "%s is a Docker schema 1 image, which orchd does not pull (push it again with a current tool)", j->name));
        else
            job_fail(j, orch_error_new(ORCH_E_CORRUPT, "the registry %s sent something that is not an image manifest (%s)", r->host, res->content_type ? res->content_type : "no content type"));
        yajl_tree_free(root);
        free(digest);
        return;
    }
    if (r->depth == 0)
        job_set_target(j, mt, digest, (int64_t)res->body_len);
    chain_add(r, mt, digest, res->body, res->body_len);
    if (is_index_type(mt)) {
        char *why2 = NULL;
        const char *var = NULL;
        const char *arch = ctd_host_arch(&var);
        int i = ctd_pick_platform(root, arch, var, &why2);
        if (i < 0) {
            job_fail(j, orch_error_new(ORCH_E_NOT_FOUND, "%s", why2));
            free(why2);
        } else if (++r->depth > CTD_MAX_INDEX_DEPTH) {
            job_fail(j, orch_error_new(ORCH_E_CORRUPT, "its indexes nest deeper than %d", CTD_MAX_INDEX_DEPTH));
        } else {
            const char *mp[] = {"manifests", NULL};
            yajl_val m = yajl_tree_get(root, mp, yajl_t_array)->u.array.values[i];
            const char *d = jstr(m, "digest");
            if (!d || !img_digest_valid(d)) {
                job_fail(j, orch_error_new(ORCH_E_CORRUPT, "index %s names a manifest without a valid digest", digest));
            } else {
                char key[64];
                snprintf(key, sizeof key, "containerd.io/gc.ref.content.m.%d", i);
                chain_label(&r->chain[r->n_chain - 1], key, d);
                fetch_manifest(j, d);
            }
        }
    } else {
        manifest_found(j, root);
    }
    free(mt);
    yajl_tree_free(root);
    free(digest);
}

static void fetch_manifest(img_job *j, const char *reference)
{
    reg *r = j->src_state;
    reg_req *rr = xcalloc(1, sizeof *rr);
    rr->j = j;
    rr->url = xasprintf("%smanifests/%s", r->base, reference);
    rr->accept_manifests = true;
    rr->max_body = CTD_MAX_MANIFEST;
    rr->done = on_manifest;
    rr->arg = j;
    r->manifest = rr;
    j->busy++;
    rr_start(rr);
}

static void reg_begin(img_job *j)
{
    /* libcurl is mapped from the first pull on, not before (http.h); the
     * URL helpers below need it too. */
    orch_error *err = NULL;
    if (http_load(&err) != 0) {
        job_fail(j, err);
        return;
    }
    reg *r = xcalloc(1, sizeof *r);
    j->src_state = r;
    const char *api = img_ref_api_host(j->ref.domain);
    r->host = xstrdup(api);
    r->base = xasprintf("%s://%s/v2/%s/", http_insecure_host(j->ref.domain) ? "http" : "https",
                        api, j->ref.path);
    job_emit_image(j, "resolving", NULL, NULL);
    fetch_manifest(j, j->ref.digest ? j->ref.digest : j->ref.tag);
}

static void reg_cancel(img_job *j)
{
    reg *r = j->src_state;
    if (r && r->manifest) {
        rr_cancel(r->manifest);
        r->manifest = NULL;
        j->busy--;
    }
}

static void reg_free(img_job *j)
{
    reg *r = j->src_state;
    if (!r)
        return;
    for (size_t i = 0; i < r->n_chain; i++) {
        free(r->chain[i].mt);
        free(r->chain[i].digest);
        free(r->chain[i].bytes);
        for (size_t k = 0; r->chain[i].labels[k]; k++)
            free(r->chain[i].labels[k]);
        free(r->chain[i].labels);
    }
    free(r->chain);
    free(r->base);
    free(r->host);
    free(r->auth);
    free(r->user);
    free(r->secret);
    free(r->creds_file);
    free(r);
    j->src_state = NULL;
}

const image_source_ops registry_source = {.kind = "pull",
                                          .done_status = "pulled",
                                          .parallel = 3,
                                          .begin = reg_begin,
                                          .cancel = reg_cancel,
                                          .free = reg_free};

/* ---------------------------------------------------------------- blobs */

/* The blob reader over http: GET blobs/<digest>, from an offset with Range. */
typedef struct http_blob {
    reg_req *rr;
    bool paused, saw_first;
} http_blob;

static int on_blob_data(void *arg, const char *data, size_t n)
{
    job_blob *b = arg;
    http_blob *hb = b->reader_state;
    if (!b->g || !hb->rr)
        return HTTP_ABORT;
    if (!hb->saw_first) {
        hb->saw_first = true;
        if (b->from > 0 && hb->rr->h && http_status(hb->rr->h) == 200) {
            /* the registry ignored the Range: from the start then */
            ingest_rewind(b->g);
            b->from = 0;
        }
    }
    if (ingest_full(b->g)) {
        hb->paused = true;
        return HTTP_PAUSE;
    }
    ingest_feed(b->g, data, n);
    b->j->fetched += (int64_t)n;
    b->pos = ingest_position(b->g);
    job_emit_blob(b, "downloading");
    return HTTP_TAKEN;
}

static bool transient_curl(int code)
{
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static void on_blob_done(void *arg, const http_result *res, const orch_error *err)
{
    job_blob *b = arg;
    http_blob *hb = b->reader_state;
    img_job *j = b->j;
    reg *r = j->src_state;
    hb->rr = NULL;
    hb->paused = false;
    if (!b->g)
        return;
    if (err) {
        ingest_fail(b->g, ctd_error_dup(err), false);
        return;
    }
    if (res->curl_code != CURLE_OK) {
        bool t = transient_curl(res->curl_code);
        orch_error *e = orch_error_new(t ? ORCH_E_UNAVAILABLE : ORCH_E_IO,
                                       "downloading %s %s from %s: %s", b->what, b->digest,
                                       r->host, res->error);
        /* a stall (the registry stopped sending) is retried once, other
         * network errors twice (job.c) */
        if (res->curl_code == CURLE_OPERATION_TIMEDOUT && b->retries >= 1)
            t = false;
        b->failed_transient = t;
        ingest_fail(b->g, e, t);
        return;
    }
    if (res->status == 200 || res->status == 206) {
        ingest_end(b->g);
        return;
    }
    char *code = NULL;
    char *detail = registry_error(res, &code);
    orch_error *e;
    b->failed_transient = res->status >= 500 || res->status == 429;
    if (res->status == 404)
        e = orch_error_new(ORCH_E_NOT_FOUND, "%s %s not found in %s on %s%s%s%s", b->what,
                           b->digest, j->ref.path, r->host, detail ? " (" : "",
                           detail ? detail : "", detail ? ")" : "");
    else
        e = orch_error_new(b->failed_transient ? ORCH_E_UNAVAILABLE : ORCH_E_IO,
                           "downloading %s %s from %s: HTTP %ld%s%s%s", b->what, b->digest,
                           r->host, res->status, detail ? " (" : "", detail ? detail : "",
                           detail ? ")" : "");
    ingest_fail(b->g, e, b->failed_transient);
    free(code);
    free(detail);
}

static void http_start_blob(job_blob *b, int64_t from)
{
    img_job *j = b->j;
    reg *r = j->src_state;
    http_blob *hb = b->reader_state;
    job_emit_blob(b, "downloading");
    reg_req *rr = xcalloc(1, sizeof *rr);
    rr->j = j;
    rr->url = xasprintf("%sblobs/%s", r->base, b->digest);
    rr->range_from = from;
    rr->on_data = on_blob_data;
    rr->done = on_blob_done;
    rr->arg = b;
    hb->rr = rr;
    hb->saw_first = false;
    hb->paused = false;
    rr_start(rr);
}

static void http_stop_blob(job_blob *b)
{
    http_blob *hb = b->reader_state;
    if (hb->rr) {
        rr_cancel(hb->rr);
        hb->rr = NULL;
    }
    hb->paused = false;
}

static void http_resume_blob(job_blob *b)
{
    http_blob *hb = b->reader_state;
    if (hb->paused && hb->rr && hb->rr->h) {
        hb->paused = false;
        http_resume(hb->rr->h);
    }
}

static const blob_reader_ops http_reader_ops = {.start = http_start_blob,
                                                .drained = http_resume_blob,
                                                .stop = http_stop_blob,
                                                .free = free};

static void http_reader(job_blob *b)
{
    job_blob_read_with(b, &http_reader_ops, xcalloc(1, sizeof(http_blob)));
}
