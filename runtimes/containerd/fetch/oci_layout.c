/* OCI image layouts (oci_layout.h): from index.json to the plan of blobs. */
#include "containerd/fetch/oci_layout.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "common/sha256.h"
#include "containerd/fetch/ref.h"

typedef struct rs {
    const oci_source *src;
    oci_image *img;
    orch_error *err;
} rs;

/* The first failure is kept; its code says what kind (code decides, text
 * informs: import.c passes both upward). */
static void fail(rs *r, orch_errc code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(rs *r, orch_errc code, const char *fmt, ...)
{
    if (r->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    r->err = orch_error_vnew(code, fmt, ap);
    va_end(ap);
}

static bool cancelled(rs *r)
{
    if (r->src->cancel && atomic_load(r->src->cancel)) {
        fail(r, ORCH_E_CANCELLED, "cancelled");
        return true;
    }
    return r->err != NULL;
}

/* ---------------------------------------------------------------- types, platforms */

bool is_index_type(const char *mt)
{
    return mt && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0);
}

bool is_manifest_type(const char *mt)
{
    return mt && (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0);
}

/* ---------------------------------------------------------------- reading */

static char *read_named(rs *r, const char *name, size_t max, size_t *len, const char *what)
{
    const oci_source *s = r->src;
    oci_loc loc = {0};
    if (!s->locate(s->ctx, name, &loc)) {
        fail(r, ORCH_E_CORRUPT, "%s has no %s (%s)", s->name, name, what);
        return NULL;
    }
    if (loc.size < 0 || loc.size > (int64_t)max) {
        fail(r, ORCH_E_CORRUPT, "%s in %s is larger than %zu bytes", name, s->name, max);
        free(loc.path);
        return NULL;
    }
    char *buf = xmalloc((size_t)loc.size + 1);
    int e = s->read(s->ctx, &loc, buf, (size_t)loc.size);
    free(loc.path);
    if (e) {
        fail(r, orch_errc_from_errno(e), "cannot read %s from %s: %s", name, s->name, strerror(e));
        free(buf);
        return NULL;
    }
    buf[loc.size] = '\0';
    *len = (size_t)loc.size;
    return buf;
}

static char *blob_name(const char *digest)
{
    return xasprintf("blobs/sha256/%s", digest + 7);
}

/* A JSON blob: read, checked against its digest and size, parsed. */
static yajl_val read_json_blob(rs *r, const char *digest, long long size, char **bytes,
                               size_t *len)
{
    const char *f = r->src->name;
    if (!img_digest_valid(digest)) {
        fail(r, ORCH_E_CORRUPT, "%s names a blob with an invalid digest '%.80s'", f, digest);
        return NULL;
    }
    if (size < 0 || size > (long long)CTD_MAX_MANIFEST) {
        fail(r, ORCH_E_CORRUPT, "%s: the descriptor of %s gives it %lld bytes (a manifest or index has at most %u)",
             f, digest, size, CTD_MAX_MANIFEST);
        return NULL;
    }
    char *name = blob_name(digest);
    char *buf = read_named(r, name, CTD_MAX_MANIFEST, len, "a blob the image needs");
    free(name);
    if (!buf)
        return NULL;
    char *got = orch_sha256_digest(buf, *len);
    if (strcmp(got, digest) != 0) {
        fail(r, ORCH_E_CORRUPT, "digest mismatch: blob %s in %s has digest %s (the file is corrupt)", digest, f,
             got);
        free(got);
        free(buf);
        return NULL;
    }
    free(got);
    if ((long long)*len != size) {
        fail(r, ORCH_E_CORRUPT, "blob %s in %s has %zu bytes, its descriptor says %lld", digest, f, *len, size);
        free(buf);
        return NULL;
    }
    char why[128] = "";
    yajl_val v = yajl_tree_parse(buf, why, sizeof why);
    if (!YAJL_IS_OBJECT(v)) {
        why[strcspn(why, "\n")] = '\0';
        fail(r, ORCH_E_CORRUPT, "blob %s in %s is not a JSON object%s%s", digest, f, *why ? ": " : "", why);
        yajl_tree_free(v);
        free(buf);
        return NULL;
    }
    *bytes = buf;
    return v;
}

static oci_blob *add_blob(rs *r, const char *digest, const char *mt, int64_t size,
                          const char *what)
{
    oci_image *img = r->img;
    for (size_t i = 0; i < img->n_blobs; i++)
        if (strcmp(img->blobs[i].digest, digest) == 0)
            return &img->blobs[i];
    img->blobs = xrealloc(img->blobs, (img->n_blobs + 1) * sizeof *img->blobs);
    oci_blob *b = &img->blobs[img->n_blobs++];
    memset(b, 0, sizeof *b);
    b->digest = xstrdup(digest);
    b->mt = xstrdup(mt ? mt : "application/octet-stream");
    b->size = size;
    b->what = what;
    b->labels = xcalloc(1, sizeof *b->labels);
    return b;
}

static void add_label(rs *r, size_t bi, const char *k, const char *v)
{
    oci_blob *b = &r->img->blobs[bi];
    b->labels = xrealloc(b->labels, (2 * b->n_labels + 3) * sizeof *b->labels);
    b->labels[2 * b->n_labels] = xstrdup(k);
    b->labels[2 * b->n_labels + 1] = xstrdup(v);
    b->labels[2 * b->n_labels + 2] = NULL;
    b->n_labels++;
}

static void add_name(oci_image *img, const char *n)
{
    img->names = xrealloc(img->names, (img->n_names + 1) * sizeof *img->names);
    img->names[img->n_names++] = xstrdup(n);
}

/* ---------------------------------------------------------------- index.json */

static bool entry_matches(yajl_val e, const char *tag)
{
    const char *ap[] = {"annotations", NULL};
    yajl_val ann = yajl_tree_get(e, ap, yajl_t_object);
    const char *rn = ann ? jstr(ann, "org.opencontainers.image.ref.name") : NULL;
    const char *cn = ann ? jstr(ann, "io.containerd.image.name") : NULL;
    if ((rn && strcmp(rn, tag) == 0) || (cn && strcmp(cn, tag) == 0))
        return true;
    size_t t = strlen(tag);
    for (int k = 0; k < 2; k++) {
        const char *n = k ? cn : rn;
        size_t l = n ? strlen(n) : 0;
        if (l > t && n[l - t - 1] == ':' && strcmp(n + l - t, tag) == 0)
            return true;
    }
    return false;
}

static char *entry_names(yajl_val ms)
{
    char buf[512] = "";
    for (size_t i = 0; i < ms->u.array.len && strlen(buf) < 400; i++) {
        yajl_val e = ms->u.array.values[i];
        const char *ap[] = {"annotations", NULL};
        yajl_val ann = yajl_tree_get(e, ap, yajl_t_object);
        const char *rn = ann ? jstr(ann, "org.opencontainers.image.ref.name") : NULL;
        if (!rn && ann)
            rn = jstr(ann, "io.containerd.image.name");
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%.100s", *buf ? ", " : "",
                 rn ? rn : "(unnamed)");
    }
    return xstrdup(buf);
}

/* index.json: the entry (tag) and its descriptor. */
static bool read_index_json(rs *r, char **digest, char **mt, long long *size)
{
    const oci_source *s = r->src;
    size_t len = 0;
    char *layout = read_named(r, "oci-layout", 4096, &len, "oci-layout file");
    if (!layout) {
        oci_loc loc = {0};
        orch_error_free(r->err);
        r->err = NULL;
        if (s->locate(s->ctx, "manifest.json", &loc))
            fail(r, ORCH_E_INVALID, "%s is a docker save archive, not an OCI one (convert it: skopeo copy "
                    "docker-archive:%s oci-archive:NEW.tar)",
                 s->name, s->name);
        else
            fail(r, ORCH_E_INVALID, "%s is not an OCI image %s: it has no oci-layout file", s->name,
                 s->is_archive ? "archive" : "layout");
        free(loc.path);
        return false;
    }
    free(layout);
    char *index_bytes = read_named(r, "index.json", CTD_MAX_MANIFEST, &len, "index.json");
    if (!index_bytes)
        return false;
    r->img->index_digest = orch_sha256_digest(index_bytes, len);
    char why[128] = "";
    yajl_val index = yajl_tree_parse(index_bytes, why, sizeof why);
    free(index_bytes);
    const char *mp[] = {"manifests", NULL};
    yajl_val ms = YAJL_IS_OBJECT(index) ? yajl_tree_get(index, mp, yajl_t_array) : NULL;
    if (!ms || ms->u.array.len == 0) {
        why[strcspn(why, "\n")] = '\0';
        fail(r, ORCH_E_CORRUPT, "the index.json of %s %s%s%s", s->name,
             index ? "lists no manifests" : "is not valid JSON", *why ? ": " : "", why);
        yajl_tree_free(index);
        return false;
    }
    yajl_val entry = NULL;
    if (s->tag) {
        for (size_t i = 0; i < ms->u.array.len && !entry; i++)
            if (entry_matches(ms->u.array.values[i], s->tag))
                entry = ms->u.array.values[i];
        if (!entry) {
            char *names = entry_names(ms);
            fail(r, ORCH_E_INVALID, "%s has no image tagged '%s' (it has: %s)", s->name, s->tag, names);
            free(names);
        }
    } else if (ms->u.array.len == 1) {
        entry = ms->u.array.values[0];
    } else {
        char *names = entry_names(ms);
        fail(r, ORCH_E_INVALID, "%s holds %zu images (%s): name one with oci:DIR:TAG", s->name, ms->u.array.len,
             names);
        free(names);
    }
    if (!entry) {
        yajl_tree_free(index);
        return false;
    }
    const char *ap[] = {"annotations", NULL};
    yajl_val ann = yajl_tree_get(entry, ap, yajl_t_object);
    const char *cn = ann ? jstr(ann, "io.containerd.image.name") : NULL;
    const char *rn = ann ? jstr(ann, "org.opencontainers.image.ref.name") : NULL;
    if (cn && *cn)
        add_name(r->img, cn);
    else if (rn && (strchr(rn, '/') || strchr(rn, ':')))
        add_name(r->img, rn);
    const char *emt = jstr(entry, "mediaType"), *d = jstr(entry, "digest");
    if (!d || !jint(entry, "size", size)) {
        fail(r, ORCH_E_CORRUPT, "the index.json of %s has an entry without digest or size", s->name);
        yajl_tree_free(index);
        return false;
    }
    *digest = xstrdup(d);
    *mt = xstrdup(emt ? emt : "");
    yajl_tree_free(index);
    return true;
}

/* ---------------------------------------------------------------- the chain */

/* The manifest v (digest cur, blob bi): its config and layers, which must
 * be in the layout with the sizes it gives. */
static void plan_manifest(rs *r, yajl_val v, const char *cur, size_t bi)
{
    const char *f = r->src->name;
    const char *cp[] = {"config", NULL}, *lp[] = {"layers", NULL};
    yajl_val config = yajl_tree_get(v, cp, yajl_t_object);
    yajl_val layers = yajl_tree_get(v, lp, yajl_t_array);
    const char *cd = config ? jstr(config, "digest") : NULL;
    long long cs = -1;
    if (!cd || !img_digest_valid(cd) || !jint(config, "size", &cs) || cs < 0 ||
        !YAJL_IS_ARRAY(layers)) {
        fail(r, ORCH_E_CORRUPT, "manifest %s in %s has no valid config or layers", cur, f);
        return;
    }
    size_t n_layers = layers->u.array.len;
    if (n_layers > CTD_MAX_LAYERS) {
        fail(r, ORCH_E_CORRUPT, "manifest %s in %s has %zu layers (at most %d)", cur, f, n_layers, CTD_MAX_LAYERS);
        return;
    }
    add_label(r, bi, "containerd.io/gc.ref.content.config", cd);
    const char *cmt = jstr(config, "mediaType");
    for (size_t k = 0; k <= n_layers && !cancelled(r); k++) {
        const char *d = cd, *lmt = cmt, *what = "config";
        long long s = cs;
        if (k > 0) {
            yajl_val l = layers->u.array.values[k - 1];
            d = jstr(l, "digest");
            lmt = jstr(l, "mediaType");
            what = "layer";
            if (!d || !img_digest_valid(d) || !jint(l, "size", &s) || s < 0) {
                fail(r, ORCH_E_CORRUPT, "layer %zu of manifest %s in %s has no valid digest or size", k, cur, f);
                break;
            }
            char key[64];
            snprintf(key, sizeof key, "containerd.io/gc.ref.content.l.%zu", k - 1);
            add_label(r, bi, key, d);
        }
        char *name = blob_name(d);
        oci_loc loc = {0};
        if (!r->src->locate(r->src->ctx, name, &loc)) {
            fail(r, ORCH_E_CORRUPT, "%s %s is not in %s", what, d, f);
        } else if (loc.size != s) {
            fail(r, ORCH_E_CORRUPT, "%s %s in %s has %lld bytes, the manifest says %lld (the file is "
                    "truncated or corrupt)",
                 what, d, f, (long long)loc.size, s);
        } else {
            oci_blob *lb = add_blob(r, d, lmt, s, what);
            if (!lb->have_loc && !lb->mem) {
                lb->loc = loc;
                lb->have_loc = true;
                loc.path = NULL;
            }
        }
        free(loc.path);
        free(name);
    }
}

int oci_resolve(const oci_source *src, oci_image *img, orch_error **err)
{
    rs r = {.src = src, .img = img};
    memset(img, 0, sizeof *img);
    char *cur = NULL, *cur_mt = NULL;
    long long cur_size = -1;
    if (!cancelled(&r) && read_index_json(&r, &cur, &cur_mt, &cur_size)) {
        img->top_digest = xstrdup(cur);
        img->top_size = cur_size;
    }
    const char *mp[] = {"manifests", NULL};
    /* the JSON chain, top first: indexes, then the manifest */
    for (int depth = 0; cur && !cancelled(&r); depth++) {
        if (depth > CTD_MAX_INDEX_DEPTH) {
            fail(&r, ORCH_E_CORRUPT, "the indexes in %s nest deeper than %d", src->name, CTD_MAX_INDEX_DEPTH);
            break;
        }
        char *bytes = NULL;
        size_t len = 0;
        yajl_val v = read_json_blob(&r, cur, cur_size, &bytes, &len);
        if (!v)
            break;
        const char *body_mt = jstr(v, "mediaType");
        const char *kind = *cur_mt ? cur_mt : body_mt;
        bool is_index = is_index_type(kind) || (!kind && yajl_tree_get(v, mp, yajl_t_array));
        const char *mt = kind && *kind ? kind : is_index ? MT_OCI_INDEX : MT_OCI_MANIFEST;
        if (depth == 0)
            img->top_mt = xstrdup(mt);
        oci_blob *pb = add_blob(&r, cur, mt, (int64_t)len, is_index ? "index" : "manifest");
        size_t bi = (size_t)(pb - img->blobs);
        if (pb->mem || pb->have_loc) {
            /* the same digest twice in the chain: a cycle */
            fail(&r, ORCH_E_CORRUPT, "blob %s in %s names itself (an index cycle)", cur, src->name);
            free(bytes);
            yajl_tree_free(v);
            break;
        }
        pb->mem = bytes;
        pb->mem_len = len;
        if (!is_index) {
            plan_manifest(&r, v, cur, bi);
            yajl_tree_free(v);
            break;
        }
        char *why = NULL;
        int i = ctd_pick_platform(v, src->arch, src->variant, &why);
        if (i < 0) {
            fail(&r, ORCH_E_CORRUPT, "%s: %s", src->name, why);
            free(why);
            yajl_tree_free(v);
            break;
        }
        yajl_val e = yajl_tree_get(v, mp, yajl_t_array)->u.array.values[i];
        const char *d = jstr(e, "digest"), *emt = jstr(e, "mediaType");
        long long esize = -1;
        if (!d || !jint(e, "size", &esize)) {
            fail(&r, ORCH_E_CORRUPT, "index %s in %s has an entry without digest or size", cur, src->name);
            yajl_tree_free(v);
            break;
        }
        char key[64];
        snprintf(key, sizeof key, "containerd.io/gc.ref.content.m.%d", i);
        add_label(&r, bi, key, d);
        free(cur);
        free(cur_mt);
        cur = xstrdup(d);
        cur_mt = xstrdup(emt ? emt : "");
        cur_size = esize;
        yajl_tree_free(v);
    }
    free(cur);
    free(cur_mt);
    if (r.err) {
        oci_image_free(img);
        *err = r.err;
        return -1;
    }
    *err = NULL;
    return 0;
}

void oci_image_free(oci_image *img)
{
    for (size_t i = 0; i < img->n_blobs; i++) {
        oci_blob *p = &img->blobs[i];
        free(p->digest);
        free(p->mt);
        free(p->loc.path);
        free(p->mem);
        for (size_t k = 0; k < 2 * p->n_labels; k++)
            free(p->labels[k]);
        free(p->labels);
    }
    free(img->blobs);
    for (size_t i = 0; i < img->n_names; i++)
        free(img->names[i]);
    free(img->names);
    free(img->top_mt);
    free(img->top_digest);
    free(img->index_digest);
    memset(img, 0, sizeof *img);
}
