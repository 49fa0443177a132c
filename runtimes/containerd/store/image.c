/* Images: the image record (Images.Get) -> its target (an index or a
 * manifest, from the content store) -> the linux/<arch> manifest -> the
 * config blob, whose rootfs.diff_ids fold into the chain ID that names the
 * unpacked snapshot:
 *
 *   chainID(1) = diffID(1)
 *   chainID(n) = sha256(chainID(n-1) + " " + diffID(n))
 *
 * (image-spec identity.ChainID). Blobs are content-addressed, so a resolved
 * image is cached by its target digest; concurrent starts of one image share
 * one resolution. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "containerd/services/content/v1/content.pb-c.h"
#include "containerd/services/images/v1/images.pb-c.h"
#include "containerd/store/store.h"
#include "common/xalloc.h"

#define MAX_CACHED 16

/* ---------------------------------------------------------------- blobs */

typedef struct blob_read {
    ctd_rt *rt;
    char *digest;
    size_t max;
    char *buf;
    size_t len, cap;
    bool too_big;
    ctd_blob_cb cb;
    void *arg;
} blob_read;

static void blob_msg(void *arg, ProtobufCMessage *msg)
{
    blob_read *b = arg;
    Containerd__Services__Content__V1__ReadContentResponse *r =
        (Containerd__Services__Content__V1__ReadContentResponse *)msg;
    if (b->too_big || r->data.len == 0)
        return;
    if (b->len + r->data.len > b->max) {
        b->too_big = true;
        return;
    }
    xgrow((void **)&b->buf, &b->cap, b->len + r->data.len + 1, 1);
    memcpy(b->buf + b->len, r->data.data, r->data.len);
    b->len += r->data.len;
    b->buf[b->len] = '\0';
}

static void blob_end(void *arg, grpc_status_code st, const char *details)
{
    blob_read *b = arg;
    orch_error *err = NULL;
    if (st == GRPC_STATUS_NOT_FOUND) {
        err = orch_error_new(ORCH_E_NOT_FOUND,
                             "blob %s is not in the content store (an incomplete pull or import?)",
                             b->digest);
    } else if (st != GRPC_STATUS_OK) {
        err = orch_error_prefix(ctd_status_error(st, details), "reading blob %s", b->digest);
    } else if (b->too_big) {
        err = orch_error_new(ORCH_E_CORRUPT, "blob %s is larger than %zu bytes", b->digest, b->max);
    } else if (strncmp(b->digest, "sha256:", 7) == 0) {
        char *got = orch_sha256_digest(b->buf ? b->buf : "", b->len);
        if (strcmp(got, b->digest) != 0)
            err = orch_error_new(ORCH_E_CORRUPT, "blob %s has digest %s in the content store",
                                 b->digest, got);
        free(got);
    }
    if (!b->buf)
        b->buf = xstrdup("");
    b->cb(b->arg, err ? NULL : b->buf, err ? 0 : b->len, err);
    orch_error_free(err);
    free(b->buf);
    free(b->digest);
    free(b);
}

int ctd_blob_read(ctd_rt *rt, const char *digest, size_t max, ctd_blob_cb cb, void *arg)
{
    blob_read *b = xcalloc(1, sizeof *b);
    b->rt = rt;
    b->digest = xstrdup(digest);
    b->max = max;
    b->cb = cb;
    b->arg = arg;
    Containerd__Services__Content__V1__ReadContentRequest req =
        CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_REQUEST__INIT;
    req.digest = b->digest;
    ctd_call_opts o = {.timeout_ms = 60000};
    int rc = ctd_stream(rt->conn, CTD_M_CONTENT_READ, &req.base,
                        &containerd__services__content__v1__read_content_response__descriptor, &o,
                        blob_msg, blob_end, b, NULL);
    if (rc != 0) {
        free(b->digest);
        free(b);
    }
    return rc;
}

/* ---------------------------------------------------------------- the cache */

static void image_free(ctd_image *img)
{
    free(img->target_digest);
    free(img->config_digest);
    ctd_image_config_free(&img->config);
    for (size_t i = 0; i < img->n_layers; i++) {
        free(img->layers[i].media_type);
        free(img->layers[i].digest);
        free(img->layers[i].diff_id);
        free(img->layers[i].chain_id);
    }
    free(img->layers);
    free(img);
}

void ctd_image_unref(ctd_image *img)
{
    if (img && --img->refs == 0)
        image_free(img);
}

void ctd_images_free(ctd_rt *rt)
{
    while (rt->images) {
        ctd_image *img = rt->images;
        rt->images = img->next;
        ctd_image_unref(img); /* the cache's reference */
    }
}

static ctd_image *cache_find(ctd_rt *rt, const char *target)
{
    for (ctd_image *i = rt->images; i; i = i->next)
        if (strcmp(i->target_digest, target) == 0)
            return i;
    return NULL;
}

static void cache_add(ctd_rt *rt, ctd_image *img)
{
    img->refs++;
    img->next = rt->images;
    rt->images = img;
    size_t n = 0;
    for (ctd_image **p = &rt->images; *p;) {
        if (++n > MAX_CACHED) {
            ctd_image *old = *p;
            *p = old->next;
            ctd_image_unref(old);
        } else {
            p = &(*p)->next;
        }
    }
}

/* ---------------------------------------------------------------- resolution */

typedef struct waiter {
    ctd_image_cb cb;
    void *arg;
    char *name;
} waiter;

typedef struct ctd_img_job {
    struct ctd_img_job *next;
    ctd_rt *rt;
    char *target;   /* the image record's target digest */
    char *ref_name; /* for messages */
    int depth;
    char *config_digest;
    ctd_layer *layers;
    size_t n_layers;
    waiter *w;
    size_t n_w;
} img_job;

static void job_finish(img_job *j, ctd_image *img, const orch_error *err)
{
    for (img_job **p = &j->rt->img_jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    if (img)
        cache_add(j->rt, img);
    for (size_t i = 0; i < j->n_w; i++) {
        if (img)
            img->refs++;
        j->w[i].cb(j->w[i].arg, img, j->w[i].name, err);
        free(j->w[i].name);
    }
    free(j->w);
    if (j->layers) {
        for (size_t i = 0; i < j->n_layers; i++) {
            free(j->layers[i].media_type);
            free(j->layers[i].digest);
        }
        free(j->layers);
    }
    free(j->config_digest);
    free(j->target);
    free(j->ref_name);
    free(j);
}

/* The resolution failed with e (taken). */
static void job_fail(img_job *j, orch_error *e)
{
    orch_error_prefix(e, "image %s", j->ref_name);
    job_finish(j, NULL, e);
    orch_error_free(e);
}

static const char *jstr(yajl_val v, const char *key)
{
    const char *path[] = {key, NULL};
    return YAJL_GET_STRING(yajl_tree_get(v, path, yajl_t_string));
}

static void read_next(img_job *j, const char *digest, size_t max);
static void on_config(void *arg, char *data, size_t len, const orch_error *err);

static void on_index(img_job *j, yajl_val root)
{
    const char *var = NULL;
    const char *arch = ctd_host_arch(&var);
    char *why = NULL;
    int i = ctd_pick_platform(root, arch, var, &why);
    if (i < 0) {
        job_fail(j, orch_error_new(ORCH_E_NOT_FOUND, "%s", why));
        free(why);
        return;
    }
    const char *mp[] = {"manifests", NULL};
    const char *pick = jstr(yajl_tree_get(root, mp, yajl_t_array)->u.array.values[i], "digest");
    if (!pick) {
        job_fail(j, orch_error_new(ORCH_E_CORRUPT, "its index names a manifest without a digest"));
        return;
    }
    if (++j->depth > CTD_MAX_INDEX_DEPTH) {
        job_fail(j, orch_error_new(ORCH_E_CORRUPT, "its indexes nest deeper than %d", CTD_MAX_INDEX_DEPTH));
        return;
    }
    char *d = xstrdup(pick);
    read_next(j, d, CTD_MAX_MANIFEST);
    free(d);
}

static void on_manifest(img_job *j, yajl_val root)
{
    const char *cp[] = {"config", NULL};
    const char *lp[] = {"layers", NULL};
    yajl_val config = yajl_tree_get(root, cp, yajl_t_object);
    yajl_val layers = yajl_tree_get(root, lp, yajl_t_array);
    const char *cdigest = config ? jstr(config, "digest") : NULL;
    if (!cdigest || !YAJL_IS_ARRAY(layers)) {
        job_fail(j, orch_error_new(ORCH_E_CORRUPT, "its manifest has no config or no layers"));
        return;
    }
    j->config_digest = xstrdup(cdigest);
    j->n_layers = layers->u.array.len;
    j->layers = j->n_layers ? xcalloc(j->n_layers, sizeof *j->layers) : NULL;
    for (size_t i = 0; i < j->n_layers; i++) {
        yajl_val l = layers->u.array.values[i];
        const char *mt = jstr(l, "mediaType"), *d = jstr(l, "digest");
        const char *sp[] = {"size", NULL};
        yajl_val size = yajl_tree_get(l, sp, yajl_t_number);
        if (!mt || !d || !YAJL_IS_INTEGER(size)) {
            job_fail(j, orch_error_new(ORCH_E_CORRUPT, "layer %zu of its manifest lacks mediaType, digest or size", i + 1));
            return;
        }
        j->layers[i].media_type = xstrdup(mt);
        j->layers[i].digest = xstrdup(d);
        j->layers[i].size = YAJL_GET_INTEGER(size);
    }
    if (ctd_blob_read(j->rt, j->config_digest, CTD_MAX_CONFIG, on_config, j) != 0)
        job_fail(j, orch_error_prefix(ctd_closing_error(), "cannot read its config"));
}

static void on_blob(void *arg, char *data, size_t len, const orch_error *err)
{
    img_job *j = arg;
    if (err) {
        job_fail(j, ctd_error_dup(err));
        return;
    }
    char why[256] = "";
    yajl_val root = yajl_tree_parse(data, why, sizeof why);
    if (!YAJL_IS_OBJECT(root)) {
        job_fail(j, orch_error_new(ORCH_E_CORRUPT, "its manifest is not a JSON object%s%s", *why ? ": " : "", why));
        yajl_tree_free(root);
        return;
    }
    const char *mt = jstr(root, "mediaType");
    const char *mp[] = {"manifests", NULL};
    bool is_index = (mt && (strstr(mt, "image.index") || strstr(mt, "manifest.list"))) ||
                    (!mt && yajl_tree_get(root, mp, yajl_t_array));
    if (is_index)
        on_index(j, root);
    else
        on_manifest(j, root);
    yajl_tree_free(root);
    (void)len;
}

static void read_next(img_job *j, const char *digest, size_t max)
{
    if (ctd_blob_read(j->rt, digest, max, on_blob, j) != 0)
        job_fail(j, orch_error_prefix(ctd_closing_error(), "cannot read %s", digest));
}

static char *chain_next(const char *prev, const char *diff_id)
{
    orch_sha256 c;
    uint8_t d[32];
    char hex[65];
    orch_sha256_init(&c);
    orch_sha256_update(&c, prev, strlen(prev));
    orch_sha256_update(&c, " ", 1);
    orch_sha256_update(&c, diff_id, strlen(diff_id));
    orch_sha256_final(&c, d);
    orch_hex(d, 32, hex);
    return xasprintf("sha256:%s", hex);
}

static void on_config(void *arg, char *data, size_t len, const orch_error *err)
{
    img_job *j = arg;
    if (err) {
        job_fail(j, ctd_error_dup(err));
        return;
    }
    ctd_image *img = xcalloc(1, sizeof *img);
    char *why = NULL;
    if (ctd_image_config_parse(data, len, &img->config, &why) != 0) {
        job_fail(j, orch_error_new(ORCH_E_CORRUPT, "%s", why));
        free(why);
        free(img);
        return;
    }
    if (img->config.diff_ids.n != j->n_layers || j->n_layers == 0) {
        job_fail(j, orch_error_new(ORCH_E_CORRUPT, "its config lists %zu diff_ids for %zu layers", img->config.diff_ids.n, j->n_layers));
        ctd_image_config_free(&img->config);
        free(img);
        return;
    }
    img->target_digest = xstrdup(j->target);
    img->config_digest = xstrdup(j->config_digest);
    img->layers = j->layers;
    img->n_layers = j->n_layers;
    j->layers = NULL;
    for (size_t i = 0; i < img->n_layers; i++) {
        ctd_layer *l = &img->layers[i];
        l->diff_id = xstrdup(img->config.diff_ids.v[i]);
        l->chain_id = i == 0 ? xstrdup(l->diff_id)
                             : chain_next(img->layers[i - 1].chain_id, l->diff_id);
    }
    img->chain_id = img->layers[img->n_layers - 1].chain_id;
    img->refs = 0;
    /* job_finish gives the cache one reference and each waiter one. */
    job_finish(j, img, NULL);
}

/* ---------------------------------------------------------------- Images.Get */

typedef struct get_req {
    ctd_rt *rt;
    char *ref;
    char *normal; /* the normalised reference, tried second; NULL when the same */
    bool second;
    ctd_image_cb cb;
    void *arg;
} get_req;

static void get_free(get_req *g)
{
    free(g->ref);
    free(g->normal);
    free(g);
}

static int get_send(get_req *g);

static void join_or_start(get_req *g, const char *name, const char *target)
{
    ctd_rt *rt = g->rt;
    ctd_image *img = cache_find(rt, target);
    if (img) {
        img->refs++;
        g->cb(g->arg, img, name, NULL);
        return;
    }
    img_job *j = NULL;
    for (img_job *k = rt->img_jobs; k; k = k->next)
        if (strcmp(k->target, target) == 0)
            j = k;
    bool fresh = !j;
    if (fresh) {
        j = xcalloc(1, sizeof *j);
        j->rt = rt;
        j->target = xstrdup(target);
        j->ref_name = xstrdup(name);
        j->next = rt->img_jobs;
        rt->img_jobs = j;
    }
    j->w = xrealloc(j->w, (j->n_w + 1) * sizeof *j->w);
    j->w[j->n_w++] = (waiter){g->cb, g->arg, xstrdup(name)};
    if (fresh)
        read_next(j, target, CTD_MAX_MANIFEST);
}

static void on_image(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *reply)
{
    get_req *g = arg;
    const char *tried = g->second ? g->normal : g->ref;
    if (st == GRPC_STATUS_NOT_FOUND && g->normal && !g->second) {
        g->second = true;
        if (get_send(g) == 0)
            return;
    }
    if (st == GRPC_STATUS_NOT_FOUND) {
        orch_error *e = orch_error_new(ORCH_E_NOT_FOUND,
                                       "image %s is not in containerd's store (namespace %s); "
                                       "pull or import it first",
                                       g->ref, ctd_conn_namespace(g->rt->conn));
        g->cb(g->arg, NULL, NULL, e);
        orch_error_free(e);
    } else if (st != GRPC_STATUS_OK) {
        orch_error *e = ctd_status_error(st, details);
        g->cb(g->arg, NULL, NULL, e);
        orch_error_free(e);
    } else {
        Containerd__Services__Images__V1__GetImageResponse *r =
            (Containerd__Services__Images__V1__GetImageResponse *)reply;
        if (!r->image || !r->image->target || !r->image->target->digest ||
            !*r->image->target->digest) {
            orch_error *e = orch_error_new(ORCH_E_CORRUPT,
                                           "image %s: containerd's record has no target", tried);
            g->cb(g->arg, NULL, NULL, e);
            orch_error_free(e);
        } else {
            join_or_start(g, r->image->name && *r->image->name ? r->image->name : tried,
                          r->image->target->digest);
        }
    }
    get_free(g);
}

static int get_send(get_req *g)
{
    Containerd__Services__Images__V1__GetImageRequest req =
        CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
    req.name = g->second ? g->normal : g->ref;
    return ctd_rt_call(g->rt, CTD_M_IMAGES_GET, &req.base,
                       &containerd__services__images__v1__get_image_response__descriptor, NULL, 0,
                       false, on_image, g);
}

int ctd_image_get(ctd_rt *rt, const char *ref, ctd_image_cb cb, void *arg)
{
    get_req *g = xcalloc(1, sizeof *g);
    g->rt = rt;
    g->ref = xstrdup(ref);
    g->normal = ctd_normalize_ref(ref);
    g->cb = cb;
    g->arg = arg;
    int rc = get_send(g);
    if (rc != 0)
        get_free(g);
    return rc;
}
