/* ops->identity for container services: the environment its ENV_FILEs give
 * (read as a start reads them) and the digest containerd's store resolves
 * its image reference to (Images.Get through the store layer's cache, on
 * the loop, asynchronously). Local references (oci-archive:, oci:) have no
 * store name of their own before an import: their file is in the spec. */
#include "containerd/identity.h"

#include <stdlib.h>
#include <string.h>

#include "common/envfile.h"
#include "common/sha256.h"
#include "common/xalloc.h"
#include "containerd/fetch/ref.h"
#include "containerd/store/store.h"

typedef struct ctd_identity {
    uv_idle_t idle; /* answers without a call (local image, no image) */
    orch_identity_cb cb;
    void *owner;
    char *env; /* "env:<hex>" or an error */
    bool env_ok;
    char *id, *err;
} ctd_identity;

static void id_free(ctd_identity *q)
{
    free(q->env);
    free(q->id);
    free(q->err);
    free(q);
}

static void on_closed(uv_handle_t *h)
{
    id_free(h->data);
}

static void on_idle(uv_idle_t *idle)
{
    ctd_identity *q = idle->data;
    uv_idle_stop(idle);
    q->cb(q->owner, q->id, q->err);
    uv_close((uv_handle_t *)idle, on_closed);
}

static void answer_later(uv_loop_t *loop, ctd_identity *q)
{
    uv_idle_init(loop, &q->idle);
    q->idle.data = q;
    uv_idle_start(&q->idle, on_idle);
}

static void on_image(void *arg, ctd_image *img, const char *name, const orch_error *e)
{
    const char *err = e ? e->msg : NULL;
    (void)name;
    ctd_identity *q = arg;
    if (img && img->target_digest) {
        char *id = xasprintf("%s\nimage:%s", q->env, img->target_digest);
        q->cb(q->owner, id, NULL);
        free(id);
    } else {
        q->cb(q->owner, NULL, err ? err : "image not in the store");
    }
    if (img)
        ctd_image_unref(img);
    id_free(q);
}

/* The environment the ENV_FILEs give, hashed; false with *err. */
static bool env_part(const orch_service *svc, const orch_env_ctx *ctx, char **out)
{
    orch_kvlist env = {0};
    for (size_t i = 0; i < svc->env_files.n; i++) {
        char *path = ctd_path_join(ctx->project_dir, svc->env_files.v[i].s);
        char *why = NULL;
        int r = orch_envfile_read(path, &env, &why);
        free(path);
        if (r < 0) {
            *out = xasprintf("ENV_FILE %s", why ? why : "unreadable");
            free(why);
            orch_kvlist_free(&env);
            return false;
        }
    }
    orch_sha256 c;
    orch_sha256_init(&c);
    for (size_t i = 0; i < env.n; i++) {
        orch_sha256_update(&c, env.v[i].key, strlen(env.v[i].key) + 1);
        orch_sha256_update(&c, env.v[i].value, strlen(env.v[i].value) + 1);
    }
    orch_kvlist_free(&env);
    uint8_t d[32];
    orch_sha256_final(&c, d);
    char hex[65];
    orch_hex(d, sizeof d, hex);
    *out = xasprintf("env:%s", hex);
    return true;
}

int ctd_identity_query(ctd_rt *rt, uv_loop_t *loop, const orch_service *svc,
                       const orch_env_ctx *ctx, orch_identity_cb cb, void *owner)
{
    ctd_identity *q = xcalloc(1, sizeof *q);
    q->cb = cb;
    q->owner = owner;
    if (!env_part(svc, ctx, &q->env)) {
        q->err = q->env;
        q->env = NULL;
        answer_later(loop, q);
        return 0;
    }
    img_ref ref = {0};
    bool parsed = svc->image && img_ref_parse(svc->image, ctx->project_dir, &ref, NULL) == 0;
    if (!parsed || ref.kind != REF_REGISTRY) {
        if (parsed)
            img_ref_free(&ref);
        q->id = xstrdup(q->env); /* a local file: its path is in the spec's text already */
        answer_later(loop, q);
        return 0;
    }
    if (!rt || rt->shutting_down) {
        img_ref_free(&ref);
        q->err = xstrdup("the containerd runtime is shut down");
        answer_later(loop, q);
        return 0;
    }
    int r = ctd_image_get(rt, ref.name, on_image, q);
    img_ref_free(&ref);
    if (r != 0) {
        q->err = xstrdup("the containerd connection is closing");
        answer_later(loop, q);
    }
    return 0;
}
