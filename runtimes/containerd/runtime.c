/* The containerd runtime's ops table and the module entry points.
 *
 * One ctd_rt per daemon: the one gRPC channel every container shares, the
 * snapshotter in use, the image cache, and start-up adoption: when the
 * module loads it lists the containers labelled orchd.namespace=<ns> (a
 * daemon restarted while its containers ran). A start of the same service
 * decides for its own container (container.c: adopt when the spec hash
 * matches and the task runs, else remove and recreate); the containers no
 * start claims within the grace period (ORCH_CONTAINERD_ADOPT_GRACE_MS,
 * default 10 s) are removed, and so are those still unclaimed at shutdown.
 *
 * The lifecycle itself is in container.c; images in image.c; unpacking in
 * unpack.c; removals in purge.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <time.h>

#include "containerd/services/containers/v1/containers.pb-c.h"
#include "containerd/container/container.h"
#include "runtime/usage.h"
#include "containerd/container/seccomp_default.h"
#include "containerd/fetch/fetch.h"
#include "containerd/identity.h"
#include "containerd/store/store.h"
#include "runtime/module.h"
#include "containerd/fetch/fetch.h"
#include "common/xalloc.h"

#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

#define DEFAULT_GRACE_MS 10000
#define SCAN_TIMEOUT_MS 60000

static ctd_rt *rt; /* the module's one runtime */

static void maybe_finish_shutdown(ctd_rt *r);

/* ---------------------------------------------------------------- adoption scan */

static void purge_unclaimed(ctd_rt *r)
{
    for (size_t i = 0; i < r->n_found; i++) {
        fprintf(stderr, "orchd: containerd: removing container %s, left by an earlier daemon "
                        "and not wanted now\n",
                r->found[i]);
        ctd_purge_start(r, r->found[i], r->snapshotter, false, NULL, NULL);
        free(r->found[i]);
    }
    free(r->found);
    r->found = NULL;
    r->n_found = 0;
}

static void on_grace(uv_timer_t *t)
{
    ctd_rt *r = t->data;
    purge_unclaimed(r);
}

static void on_scan(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *reply)
{
    ctd_rt *r = arg;
    r->scan_done = true;
    if (st != GRPC_STATUS_OK) {
        if (!r->shutting_down)
            fprintf(stderr, "orchd: containerd: listing the containers of namespace %s: %s\n",
                    r->ns, details);
        return;
    }
    Containerd__Services__Containers__V1__ListContainersResponse *l =
        (Containerd__Services__Containers__V1__ListContainersResponse *)reply;
    for (size_t i = 0; i < l->n_containers; i++) {
        const char *id = l->containers[i]->id;
        if (!id || ctd_strv_has(r->claimed, r->n_claimed, id) || ctd_strv_has(r->found, r->n_found, id))
            continue;
        r->found = xrealloc(r->found, (r->n_found + 1) * sizeof *r->found);
        r->found[r->n_found++] = xstrdup(id);
    }
    if (r->n_found == 0 || r->shutting_down)
        return;
    r->grace = xcalloc(1, sizeof *r->grace);
    uv_timer_init(r->loop, r->grace);
    r->grace->data = r;
    uv_timer_start(r->grace, on_grace, r->grace_ms, 0);
    uv_unref((uv_handle_t *)r->grace);
}

static void scan(ctd_rt *r)
{
    char *filter = xasprintf("labels.\"%s\"==%s", CTD_LABEL_NAMESPACE, r->ns);
    Containerd__Services__Containers__V1__ListContainersRequest req =
        CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINERS_REQUEST__INIT;
    req.n_filters = 1;
    req.filters = &filter;
    if (ctd_rt_call(r, CTD_M_CONT_LIST, &req.base,
                    &containerd__services__containers__v1__list_containers_response__descriptor,
                    NULL, SCAN_TIMEOUT_MS, true, on_scan, r) != 0)
        r->scan_done = true;
    free(filter);
}

/* ---------------------------------------------------------------- ops */

static orch_instance *op_start(uv_loop_t *loop, const orch_service *svc, const orch_env_ctx *ctx,
                               orch_instance_cbs cbs, void *owner, orch_error **err)
{
    *err = NULL;
    if (!rt || rt->shutting_down) {
        orch_error_set(err, orch_error_new(ORCH_E_CANCELLED,
                                           "service %s: the containerd runtime is shut down",
                                           svc && svc->name ? svc->name : "?"));
        return NULL;
    }
    char *msg = NULL;
    orch_instance *inst = ctd_instance_start(rt, svc, ctx, cbs, owner, &msg);
    if (!inst) /* what the service says (image, files, volumes): the user's to fix */
        orch_error_set(err, orch_error_new(ORCH_E_INVALID, "%s", msg ? msg : "cannot start"));
    free(msg);
    return inst;
}

static int op_signal(orch_instance *inst, int sig)
{
    return inst ? ctd_instance_signal(inst, sig) : -EINVAL;
}

static void op_release(orch_instance *inst, void (*done)(void *arg), void *arg)
{
    ctd_instance_release(inst, done, arg);
}

static orch_exec *op_exec(orch_instance *inst, const orch_service *svc, const orch_env_ctx *ctx,
                          const char *command, uint64_t timeout_ms, orch_exec_cb cb, void *owner,
                          char **err)
{
    if (!rt || rt->shutting_down || !inst) {
        *err = xasprintf("service %s: the containerd runtime is shut down",
                         svc && svc->name ? svc->name : "?");
        return NULL;
    }
    return ctd_exec_start(rt, inst, command, timeout_ms, cb, owner, err);
}

static void op_exec_cancel(orch_exec *x)
{
    ctd_exec_cancel(x);
}

/* The container id is what `ctr containers ls` lists; it is known from the
 * name alone, so survey shows it even while nothing runs. */
static void op_describe(const orch_service *svc, const orch_env_ctx *ctx,
                        const orch_instance *inst, orch_describe_put put, void *arg)
{
    const char *ns = rt ? rt->ns : ctx->namespace_ ? ctx->namespace_ : ORCH_DEFAULT_NAMESPACE;
    char *id = ctd_container_id(ns, svc->name);
    put(arg, "id", id);
    free(id);
    if (rt)
        put(arg, "namespace", rt->ns);
    char *note = ctd_log_note(ctx->state_dir, ns, svc->name);
    if (note)
        put(arg, "log", note);
    free(note);
    /* the pid survey shows may be long gone: say what is known */
    if (inst) { /* the cgroup container/spec.c gives it (runtime/usage.h) */
        char *cg = xasprintf("/orchd/%s/%s", ns, svc->name);
        orch_usage_describe(orch_usage_container_file, cg, put, arg);
        free(cg);
    }
    if (rt && rt->conn && ctd_conn_down(rt->conn))
        put(arg, "containerd", inst ? "not reachable: state unknown until it is back"
                                    : "not reachable");
}

static char *op_log_path(const orch_service *svc, const orch_env_ctx *ctx)
{
    return orch_log_path_default(ctx->state_dir, rt ? rt->ns : ctx->namespace_, svc->name);
}

static int op_identity(uv_loop_t *loop, const orch_service *svc, const orch_env_ctx *ctx,
                       orch_identity_cb cb, void *owner)
{
    return ctd_identity_query(rt, loop, svc, ctx, cb, owner);
}

static const orch_runtime_ops ctd_ops = {
    .name = "containerd",
    .start = op_start,
    .signal = op_signal,
    .release = op_release,
    .exec = op_exec,
    .exec_cancel = op_exec_cancel,
    .describe = op_describe,
    .log_path = op_log_path,
    .images = &ctd_image_ops,
    .identity = op_identity,
};

/* ---------------------------------------------------------------- init, shutdown */

static bool root_is_ramfs(void)
{
    struct statfs s;
    if (statfs("/", &s) != 0)
        return false;
    return (unsigned long)s.f_type == (unsigned long)RAMFS_MAGIC ||
           (unsigned long)s.f_type == (unsigned long)TMPFS_MAGIC;
}

/* ORCH_CONTAINERD_STATE / ORCH_CONTAINERD_ROOT: an absolute path, written
 * the way containerd's filepath.Join would (no "//", no trailing '/', no "."
 * or ".." component), since a link containerd wrote is compared with it.
 * Malloc'ed, or NULL with *err. */
static char *containerd_dir(const char *var, const char *dflt, char **err)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return xstrdup(dflt);
    if (v[0] != '/')
        goto bad;
    char *out = xmalloc(strlen(v) + 1);
    size_t n = 0;
    for (const char *p = v; *p;) {
        while (*p == '/')
            p++;
        const char *q = p;
        while (*q && *q != '/')
            q++;
        size_t len = (size_t)(q - p);
        if (len == 0)
            break;
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
            free(out);
            goto bad;
        }
        out[n++] = '/';
        memcpy(out + n, p, len);
        n += len;
        p = q;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    return out;
bad:
    *err = xasprintf("%s='%s' in orchd's environment: expected an absolute path without '.' or "
                     "'..' components (containerd's %s directory)",
                     var, v, strcmp(var, "ORCH_CONTAINERD_STATE") == 0 ? "state" : "root");
    return NULL;
}

static const orch_runtime_ops *module_init(uv_loop_t *loop, const orch_module_config *cfg,
                                          char **err)
{
    *err = NULL;
    if (rt)
        return &ctd_ops;
    const char *ns = cfg->namespace_ && *cfg->namespace_ ? cfg->namespace_ : ORCH_DEFAULT_NAMESPACE;
    /* A typo must not leave containers unconfined, nor silently confined
     * when someone is debugging: refuse it. */
    const char *sc = getenv("ORCH_SECCOMP");
    ctd_seccomp_mode seccomp;
    if (ctd_seccomp_mode_parse(sc, &seccomp) < 0) {
        *err = xasprintf("ORCH_SECCOMP='%s' in orchd's environment: expected 'default' or "
                         "'unconfined'",
                         sc);
        return NULL;
    }
    char *ctd_state = containerd_dir("ORCH_CONTAINERD_STATE", "/run/containerd", err);
    char *ctd_root = ctd_state ? containerd_dir("ORCH_CONTAINERD_ROOT", "/var/lib/containerd", err)
                               : NULL;
    if (!ctd_root) {
        free(ctd_state);
        return NULL;
    }
    ctd_conn *conn = ctd_conn_new(loop, cfg->socket_path, ns, err);
    if (!conn) {
        free(ctd_state);
        free(ctd_root);
        return NULL;
    }
    rt = xcalloc(1, sizeof *rt);
    rt->loop = loop;
    rt->conn = conn;
    rt->ns = xstrdup(ns);
    rt->on_work_done = maybe_finish_shutdown;
    rt->containerd_state = ctd_state;
    rt->containerd_root = ctd_root;
    const char *sn = getenv("ORCH_SNAPSHOTTER");
    rt->snapshotter_fixed = sn && *sn;
    rt->snapshotter = xstrdup(rt->snapshotter_fixed ? sn : "overlayfs");
    rt->no_pivot_root = root_is_ramfs();
    rt->seccomp = seccomp;
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(rt->kernel_release, sizeof rt->kernel_release, "%s", u.release);
    const char *g = getenv("ORCH_CONTAINERD_ADOPT_GRACE_MS");
    char *end = NULL;
    long long gm = g && *g ? strtoll(g, &end, 10) : -1;
    rt->grace_ms = gm >= 0 && end && *end == '\0' ? (uint64_t)gm : DEFAULT_GRACE_MS;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    rt->loaded_at_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    ctd_pull_init(rt);
    scan(rt);
    ctd_sweep_start(rt);
    return &ctd_ops;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void on_grace_closed(uv_handle_t *h)
{
    free(h);
}

static void on_conn_closed(void *arg)
{
    ctd_rt *r = arg;
    void (*done)(void *) = r->shutdown_done;
    void *done_arg = r->shutdown_arg;
    ctd_images_free(r);
    if (!r->instances) {
        free_strs(r->found, r->n_found);
        free_strs(r->claimed, r->n_claimed);
        free(r->snapshotter);
        free(r->containerd_state);
        free(r->containerd_root);
        free(r->ns);
        free(r);
    }
    /* else: instances still held by an owner that never released them
     * (containers left running); they keep r, without a connection. */
    if (done)
        done(done_arg);
}

static void maybe_finish_shutdown(ctd_rt *r)
{
    if (!r->shutting_down || !r->conn || r->purges || r->execs || r->stale_jobs ||
        ctd_pull_busy(r))
        return;
    /* instances still tearing down get their calls cancelled by the close:
     * wait for those that are mid-teardown to finish first */
    if (ctd_instances_busy(r))
        return;
    ctd_conn *c = r->conn;
    r->conn = NULL;
    ctd_conn_close(c, on_conn_closed, r);
}

static void module_shutdown(void (*done)(void *arg), void *arg)
{
    ctd_rt *r = rt;
    rt = NULL;
    if (!r) {
        if (done)
            done(arg);
        return;
    }
    r->shutting_down = true;
    ctd_logwatch_stop(r);
    ctd_pull_shutdown(r); /* stops pulls and imports (pull/pull.h) */
    r->shutdown_done = done;
    r->shutdown_arg = arg;
    if (r->grace) {
        uv_timer_stop(r->grace);
        uv_close((uv_handle_t *)r->grace, on_grace_closed);
        r->grace = NULL;
    }
    /* containers an earlier daemon left and nobody claimed: the daemon is
     * leaving with everything stopped, so they go too */
    purge_unclaimed(r);
    ctd_exec_shutdown(r); /* commands left running: killed, cleaned up */
    maybe_finish_shutdown(r);
}

/* The module's one exported symbol (runtime/module.h). */
ORCH_MODULE_EXPORT const orch_module_desc orch_runtime_module = {
    .abi_version = ORCH_MODULE_ABI_VERSION,
    .service_size = sizeof(orch_service),
    .name = "containerd",
    .init = module_init,
    .shutdown = module_shutdown,
};
