/* orchd export (export.h): resolves each service once (images, commands,
 * ENV_FILE contents, paths, health checks), then hands the lot to the
 * format's writer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"
#include "containerd/container/spec.h"
#include "export/export_internal.h"
#include "orchfile/expand.h"

void ex_note(ex_service *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    xgrow((void **)&e->notes, &e->cap_notes, e->n_notes + 1, sizeof *e->notes);
    e->notes[e->n_notes++] = s;
}

void ex_warn(ex_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    orch_export_result *r = c->out;
    r->warnings = xrealloc(r->warnings, (r->n_warnings + 1) * sizeof *r->warnings);
    r->warnings[r->n_warnings++] = s;
}

ex_service *ex_find(ex_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->m->n_services; i++)
        if (strcmp(c->m->services[i].name, name) == 0)
            return &c->svcs[i];
    return NULL;
}

void ex_add_file(ex_ctx *c, const char *name, const char *text)
{
    orch_export_result *r = c->out;
    r->files = xrealloc(r->files, (r->n_files + 1) * sizeof *r->files);
    r->files[r->n_files++] = (orch_export_file){xstrdup(name), xstrdup(text)};
}

void ex_origin(const orch_service *s, orch_field f, char *buf, size_t n)
{
    orch_origin at = s->field_at[f].file ? s->field_at[f] : s->at;
    if (at.file && at.line > 0)
        snprintf(buf, n, "%s:%d", at.file, at.line);
    else if (at.file)
        snprintf(buf, n, "%s", at.file);
    else
        snprintf(buf, n, "?");
}

void ex_comment_notes(yout *y, const ex_service *e)
{
    for (size_t i = 0; i < e->n_notes; i++) {
        char *line = xasprintf("service %s: %s", e->s->name, e->notes[i]);
        yout_comment(y, line);
        free(line);
    }
}

/* The rule every runtime applies: CPUS and CPU_QUOTA together, the stricter. */
bool ex_cpu_limit(const orch_service *s, double *cpus)
{
    orch_field from;
    return orch_service_cpu_limit(s, cpus, &from);
}

void ex_write_limits(yout *y, const orch_service *s, const char *cpu_key, bool millicores)
{
    double cpus = 0;
    char b[32];
    if (ex_cpu_limit(s, &cpus)) {
        if (millicores)
            snprintf(b, sizeof b, "%lldm", (long long)(cpus * 1000 + 0.5));
        else
            snprintf(b, sizeof b, "%.2f", cpus);
        yout_kv_str(y, cpu_key, b);
    }
    if (s->set & ORCH_BIT(ORCH_F_MEMORY)) {
        snprintf(b, sizeof b, "%llu", (unsigned long long)s->memory);
        yout_kv_str(y, "memory", b);
    }
}

/* ---- resolving one service ------------------------------------------------- */

typedef struct lookup_arg {
    const char *project;
    const char *service;
} lookup_arg;

/* Only what has a meaning off this machine is filled in; ${ORCH_DATA} and
 * the like stay as written (and are noted by the writers where they end up
 * in a path). */
static const char *lookup(void *arg, const char *name)
{
    lookup_arg *a = arg;
    if (strcmp(name, "ORCH_PROJECT") == 0)
        return a->project;
    if (strcmp(name, "SERVICE_NAME") == 0)
        return a->service;
    if (strcmp(name, "PORT_OFFSET") == 0)
        return "0";
    return NULL;
}

static char *expand(const char *s, lookup_arg *a)
{
    return s ? orch_expand(s, lookup, a) : NULL;
}

static char *absolute_in(const char *project, const char *path)
{
    if (path[0] == '/')
        return xstrdup(path);
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    return xasprintf("%s/%s", project, path);
}

static int split(const orch_service *s, orch_field f, const char *value, char ***out,
                 orch_error **err)
{
    *out = NULL;
    if (!value)
        return 0;
    size_t n = 0;
    char *why = NULL;
    if (ctd_split_command(value, out, &n, &why) < 0) {
        char at[256];
        ex_origin(s, f, at, sizeof at);
        orch_error_set(err, orch_error_new(ORCH_E_INVALID, "%s: service %s: %s: %s", at,
                                           s->name, orch_field_keyword(f), why));
        free(why);
        return -1;
    }
    return 0;
}

/* http://HOST[:PORT][/PATH] as health.c reads it. */
static bool parse_http(const char *url, ex_http *h)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    const char *auth = url + 7;
    size_t alen = strcspn(auth, "/?#");
    const char *path = auth + alen;
    const char *host = auth, *port = NULL;
    size_t hlen = alen;
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close)
            return false;
        host = auth + 1;
        hlen = (size_t)(close - host);
        if (close + 1 < auth + alen && close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = memchr(auth, ':', alen);
        if (colon) {
            hlen = (size_t)(colon - auth);
            port = colon + 1;
        }
    }
    h->host = xstrndup(host, hlen);
    h->port = port ? atoi(port) : 80;
    size_t plen = strcspn(path, "#");
    h->path = plen ? xstrndup(path, plen) : xstrdup("/");
    return true;
}

static int resolve(ex_ctx *c, const orch_service *s, ex_service *e, orch_error **err)
{
    e->s = s;
    e->exported = orch_service_mode(s) == ORCH_MODE_CONTAINER;
    lookup_arg a = {c->o->project_dir, s->name};
    e->image = expand(s->image, &a);
    char *ep = expand(s->entrypoint, &a), *cmd = expand(s->cmd, &a);
    int rc = split(s, ORCH_F_ENTRYPOINT, ep, &e->entry, err);
    if (rc == 0)
        rc = split(s, ORCH_F_CMD, cmd, &e->cmd, err);
    free(ep);
    free(cmd);
    if (rc != 0)
        return -1;
    e->n_env_files = s->env_files.n;
    e->env_files = xcalloc(e->n_env_files + 1, sizeof *e->env_files);
    e->env_file_paths = xcalloc(e->n_env_files + 1, sizeof *e->env_file_paths);
    for (size_t i = 0; i < s->env_files.n; i++) {
        char *p = expand(s->env_files.v[i].s, &a);
        e->env_file_paths[i] = absolute_in(c->o->project_dir, p);
        free(p);
        if (!e->exported)
            continue; /* not read for a service that is not written */
        char *why = NULL;
        if (orch_envfile_read(e->env_file_paths[i], &e->env_files[i], &why) != 0) {
            char at[256];
            snprintf(at, sizeof at, "%s:%d", s->env_files.v[i].at.file ? s->env_files.v[i].at.file : "?",
                     s->env_files.v[i].at.line);
            orch_error_set(err, orch_error_new(ORCH_E_INVALID, "%s: service %s: ENV_FILE: %s",
                                               at, s->name, why));
            free(why);
            return -1;
        }
    }
    e->vol_sources = xcalloc(s->n_volumes + 1, sizeof *e->vol_sources);
    for (size_t i = 0; i < s->n_volumes; i++) {
        if (s->volumes[i].is_named)
            continue;
        char *p = expand(s->volumes[i].source, &a);
        e->vol_sources[i] = absolute_in(c->o->project_dir, p);
        free(p);
    }
    if (s->healthcheck)
        e->has_http_check = parse_http(s->healthcheck, &e->http);
    return 0;
}

static void free_service(ex_service *e)
{
    free(e->image);
    ctd_argv_free(e->entry);
    ctd_argv_free(e->cmd);
    for (size_t i = 0; i < e->n_env_files; i++) {
        orch_kvlist_free(&e->env_files[i]);
        free(e->env_file_paths[i]);
    }
    free(e->env_files);
    free(e->env_file_paths);
    if (e->s)
        for (size_t i = 0; i < e->s->n_volumes; i++)
            free(e->vol_sources[i]);
    free(e->vol_sources);
    free(e->http.host);
    free(e->http.path);
    for (size_t i = 0; i < e->n_notes; i++)
        free(e->notes[i]);
    free(e->notes);
}

int orch_export(const orch_model *m, const orch_export_opts *o, orch_export_result *out,
                orch_error **err)
{
    memset(out, 0, sizeof *out);
    ex_ctx c = {.m = m, .o = o, .out = out};
    c.svcs = xcalloc(m->n_services + 1, sizeof *c.svcs);
    int rc = 0;
    for (size_t i = 0; i < m->n_services && rc == 0; i++)
        rc = resolve(&c, &m->services[i], &c.svcs[i], err);
    const char *target = o->format == ORCH_EXPORT_KUBERNETES ? "a pod" : "a compose service";
    for (size_t i = 0; i < m->n_services && rc == 0; i++) {
        const ex_service *e = &c.svcs[i];
        if (e->exported)
            continue;
        char at[256];
        ex_origin(e->s, ORCH_F_RUN, at, sizeof at);
        if (o->strict) {
            rc = orch_error_set(err, orch_error_new(ORCH_E_UNSUPPORTED,
                                                    "%s: service %s: a RUN (host) service cannot "
                                                    "run in %s (--strict)",
                                                    at, e->s->name, target));
            break;
        }
        ex_warn(&c, "%s: service %s: skipped: a RUN (host) service cannot run in %s; give it an "
                    "image (FROM) to export it",
                at, e->s->name, target);
    }
    if (rc == 0)
        rc = o->format == ORCH_EXPORT_KUBERNETES ? ex_kubernetes(&c, err) : ex_compose(&c, err);
    for (size_t i = 0; i < m->n_services; i++)
        free_service(&c.svcs[i]);
    free(c.svcs);
    return rc;
}

void orch_export_result_free(orch_export_result *r)
{
    for (size_t i = 0; i < r->n_files; i++) {
        free(r->files[i].name);
        free(r->files[i].text);
    }
    free(r->files);
    for (size_t i = 0; i < r->n_warnings; i++)
        free(r->warnings[i]);
    free(r->warnings);
    memset(r, 0, sizeof *r);
}
