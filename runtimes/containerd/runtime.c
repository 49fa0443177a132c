/* The containerd runtime's ops table and the module entry points.
 *
 * STUB: only the transport exists so far (transport/ctd_transport.h). start
 * reports "not implemented yet"; the container lifecycle (image, snapshot,
 * container, task, wait, stop, delete) is to be written on top of the
 * connection set up here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "transport/ctd_transport.h"

static ctd_conn *conn; /* the one channel every container shares */

static orch_instance *ctd_start(uv_loop_t *loop, const orch_service *svc, const orch_env_ctx *ctx,
                                orch_instance_cbs cbs, void *owner, char **err)
{
    if (asprintf(err, "service %s: the containerd runtime is not implemented yet (socket %s)",
                 svc && svc->name ? svc->name : "?", conn ? ctd_conn_path(conn) : "?") < 0)
        *err = NULL;
    return NULL;
}

static int ctd_signal(orch_instance *inst, int sig)
{
    return -ENOSYS;
}

static void ctd_release(orch_instance *inst, void (*done)(void *arg), void *arg)
{
    /* start never succeeds yet, so there is nothing to release. */
    if (done)
        done(arg);
}

static const orch_runtime_ops ctd_ops = {
    .name = "containerd",
    .start = ctd_start,
    .signal = ctd_signal,
    .release = ctd_release,
};

const orch_runtime_ops *orch_containerd_init(uv_loop_t *loop, const char *socket_path,
                                             const char *namespace_, char **err)
{
    *err = NULL;
    if (conn)
        return &ctd_ops;
    conn = ctd_conn_new(loop, socket_path, namespace_ && *namespace_ ? namespace_ : "orch", err);
    return conn ? &ctd_ops : NULL;
}

void orch_containerd_shutdown(void (*done)(void *arg), void *arg)
{
    ctd_conn *c = conn;
    conn = NULL;
    if (c)
        ctd_conn_close(c, done, arg);
    else if (done)
        done(arg);
}
