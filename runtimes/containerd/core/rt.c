/* The module's state: calls in its namespace, adoption claims, the
 * work-done hook (core.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "containerd/core/core.h"

/* ---------------------------------------------------------------- calls */

int ctd_rt_call(ctd_rt *r, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *reply_desc, const char *lease, int64_t timeout_ms,
                bool wait_for_ready, ctd_reply_cb cb, void *arg)
{
    if (!r->conn)
        return -ESHUTDOWN;
    ctd_call_opts o = {.lease = lease, .timeout_ms = timeout_ms, .wait_for_ready = wait_for_ready};
    return ctd_call_ex(r->conn, method, req, reply_desc, &o, cb, arg, NULL);
}

/* ---------------------------------------------------------------- adoption */

bool ctd_strv_has(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

void ctd_rt_claim(ctd_rt *r, const char *id)
{
    for (size_t i = 0; i < r->n_found; i++)
        if (strcmp(r->found[i], id) == 0) {
            free(r->found[i]);
            r->found[i] = r->found[--r->n_found];
            break;
        }
    if (ctd_strv_has(r->claimed, r->n_claimed, id))
        return;
    r->claimed = xrealloc(r->claimed, (r->n_claimed + 1) * sizeof *r->claimed);
    r->claimed[r->n_claimed++] = xstrdup(id);
}

void ctd_rt_work_done(ctd_rt *r)
{
    if (r && r->on_work_done)
        r->on_work_done(r);
}
