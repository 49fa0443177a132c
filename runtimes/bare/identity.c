/* ops->identity for host services: the environment a start would get now
 * (ENV_FILEs read exactly as a start reads them: with USER's identity, then
 * ENV, HOME and the rest from the user database), hashed. Computed during
 * the call (the same small, non-blocking reads a start does on the loop) and
 * answered on the next loop iteration, as the contract wants. */
#include <stdlib.h>
#include <string.h>

#include "bare/bare.h"
#include "bare/launch.h"
#include "common/sha256.h"
#include "common/xalloc.h"

typedef struct bare_identity {
    uv_idle_t idle;
    orch_identity_cb cb;
    void *owner;
    char *id, *err;
} bare_identity;

static void on_closed(uv_handle_t *h)
{
    bare_identity *b = h->data;
    free(b->id);
    free(b->err);
    free(b);
}

static void on_idle(uv_idle_t *idle)
{
    bare_identity *b = idle->data;
    uv_idle_stop(idle);
    b->cb(b->owner, b->id, b->err);
    uv_close((uv_handle_t *)idle, on_closed);
}

static char *env_digest(char **envp)
{
    orch_sha256 c;
    orch_sha256_init(&c);
    for (size_t i = 0; envp && envp[i]; i++)
        orch_sha256_update(&c, envp[i], strlen(envp[i]) + 1); /* with its NUL */
    uint8_t d[32];
    orch_sha256_final(&c, d);
    char hex[65];
    orch_hex(d, sizeof d, hex);
    return xasprintf("env:%s", hex);
}

int orch_bare_identity(uv_loop_t *loop, const orch_service *svc, const orch_env_ctx *ctx,
                       orch_identity_cb cb, void *owner)
{
    bare_identity *b = xcalloc(1, sizeof *b);
    b->cb = cb;
    b->owner = owner;
    orch_bare_launch l;
    orch_error *err = NULL;
    if (orch_bare_launch_env(svc, ctx, &l, &err) == 0) {
        b->id = env_digest(l.envp);
        orch_bare_launch_free(&l);
    } else {
        b->err = xstrdup(err ? err->msg : "cannot resolve its environment");
        orch_error_free(err);
    }
    uv_idle_init(loop, &b->idle);
    b->idle.data = b;
    uv_idle_start(&b->idle, on_idle);
    return 0;
}
