/* A deep copy of one service: a container start outlives the call that began
 * it (image, snapshot and create calls come back later), and the supervisor
 * may replace its model meanwhile. The origins' file names (borrowed from the
 * model in orch_origin) are copied too, so errors can still name FILE:LINE. */
#include <stdlib.h>
#include <string.h>

#include "containerd/container/container.h"
#include "containerd/fetch/fetch.h"
#include "containerd/store/store.h"
#include "common/xalloc.h"

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static orch_origin copy_origin(ctd_svc_copy *c, orch_origin at)
{
    if (!at.file)
        return at;
    for (size_t i = 0; i < c->n_files; i++)
        if (strcmp(c->files[i], at.file) == 0) {
            at.file = c->files[i];
            return at;
        }
    c->files = xrealloc(c->files, (c->n_files + 1) * sizeof *c->files);
    c->files[c->n_files] = xstrdup(at.file);
    at.file = c->files[c->n_files++];
    return at;
}

static void copy_strv(ctd_svc_copy *c, orch_strv *dst, const orch_strv *src)
{
    memset(dst, 0, sizeof *dst);
    if (src->n == 0)
        return;
    dst->v = xcalloc(src->n, sizeof *dst->v);
    dst->n = dst->cap = src->n;
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i].s = dup_or_null(src->v[i].s);
        dst->v[i].at = copy_origin(c, src->v[i].at);
    }
}

void ctd_svc_copy_init(ctd_svc_copy *c, const orch_service *src)
{
    memset(c, 0, sizeof *c);
    orch_service *d = &c->svc;
    *d = *src; /* scalars; every pointer is replaced below */
    d->at = copy_origin(c, src->at);
    for (int f = 0; f < ORCH_F__COUNT; f++)
        d->field_at[f] = copy_origin(c, src->field_at[f]);
    d->name = dup_or_null(src->name);
    d->image = dup_or_null(src->image);
    d->run_command = dup_or_null(src->run_command);
    d->entrypoint = dup_or_null(src->entrypoint);
    d->cmd = dup_or_null(src->cmd);
    d->user = dup_or_null(src->user);
    d->stop_command = dup_or_null(src->stop_command);
    d->reload_command = dup_or_null(src->reload_command);
    d->workdir = dup_or_null(src->workdir);
    d->healthcheck = dup_or_null(src->healthcheck);
    d->stdout_path = dup_or_null(src->stdout_path);
    d->stderr_path = dup_or_null(src->stderr_path);
    for (int f = 0; f < ORCH_F__COUNT; f++)
        d->written[f] = dup_or_null(src->written[f]);

    d->publish = src->n_publish ? xcalloc(src->n_publish, sizeof *d->publish) : NULL;
    for (size_t i = 0; i < src->n_publish; i++) {
        d->publish[i] = src->publish[i];
        d->publish[i].address = dup_or_null(src->publish[i].address);
        d->publish[i].at = copy_origin(c, src->publish[i].at);
    }
    d->volumes = src->n_volumes ? xcalloc(src->n_volumes, sizeof *d->volumes) : NULL;
    for (size_t i = 0; i < src->n_volumes; i++) {
        d->volumes[i] = src->volumes[i];
        d->volumes[i].source = dup_or_null(src->volumes[i].source);
        d->volumes[i].destination = dup_or_null(src->volumes[i].destination);
        d->volumes[i].at = copy_origin(c, src->volumes[i].at);
    }
    d->env = src->n_env ? xcalloc(src->n_env, sizeof *d->env) : NULL;
    for (size_t i = 0; i < src->n_env; i++) {
        d->env[i].key = dup_or_null(src->env[i].key);
        d->env[i].value = dup_or_null(src->env[i].value);
        d->env[i].at = copy_origin(c, src->env[i].at);
    }
    copy_strv(c, &d->env_files, &src->env_files);
    copy_strv(c, &d->requires, &src->requires);
    copy_strv(c, &d->after, &src->after);
}

void ctd_svc_copy_free(ctd_svc_copy *c)
{
    orch_service_free(&c->svc);
    for (size_t i = 0; i < c->n_files; i++)
        free(c->files[i]);
    free(c->files);
    memset(c, 0, sizeof *c);
}
