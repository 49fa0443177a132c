/* The service model's small helpers: defaults, freeing, lookups. Nothing here
 * reports diagnostics; validation lives in the later pipeline stages. */
#include "orchfile/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper-case directive keywords, indexed by enum orch_field. */
static const char *const field_keywords[] = {
    [ORCH_F_FROM] = "FROM",
    [ORCH_F_RUN] = "RUN",
    [ORCH_F_ENTRYPOINT] = "ENTRYPOINT",
    [ORCH_F_CMD] = "CMD",
    [ORCH_F_PUBLISH] = "PUBLISH",
    [ORCH_F_VOLUME] = "VOLUME",
    [ORCH_F_USER] = "USER",
    [ORCH_F_STOP] = "STOP",
    [ORCH_F_RELOAD] = "RELOAD",
    [ORCH_F_WORKDIR] = "WORKDIR",
    [ORCH_F_ENV] = "ENV",
    [ORCH_F_ENV_FILE] = "ENV_FILE",
    [ORCH_F_REQUIRES] = "REQUIRES",
    [ORCH_F_AFTER] = "AFTER",
    [ORCH_F_HEALTHCHECK] = "HEALTHCHECK",
    [ORCH_F_READINESS_TIMEOUT] = "READINESS_TIMEOUT",
    [ORCH_F_ONESHOT] = "ONESHOT",
    [ORCH_F_DISABLED] = "DISABLED",
    [ORCH_F_RECREATE] = "RECREATE",
    [ORCH_F_RESTART] = "RESTART",
    [ORCH_F_RESTART_DELAY] = "RESTART_DELAY",
    [ORCH_F_START_LIMIT_BURST] = "START_LIMIT_BURST",
    [ORCH_F_START_LIMIT_INTERVAL] = "START_LIMIT_INTERVAL",
    [ORCH_F_TIMEOUT_START] = "TIMEOUT_START",
    [ORCH_F_TIMEOUT_STOP] = "TIMEOUT_STOP",
    [ORCH_F_MEMORY] = "MEMORY",
    [ORCH_F_CPUS] = "CPUS",
    [ORCH_F_CPU_QUOTA] = "CPU_QUOTA",
    [ORCH_F_LIMIT_NOFILE] = "LIMIT_NOFILE",
    [ORCH_F_LIMIT_NPROC] = "LIMIT_NPROC",
    [ORCH_F_TASKS_MAX] = "TASKS_MAX",
    [ORCH_F_IO_WEIGHT] = "IO_WEIGHT",
    [ORCH_F_STDOUT] = "STDOUT",
    [ORCH_F_STDERR] = "STDERR",
};

/* A field added to the enum without a keyword here must fail the build. */
_Static_assert(sizeof field_keywords / sizeof field_keywords[0] == ORCH_F__COUNT,
               "field_keywords must have one entry per enum orch_field");

/* `set` has one bit per field. */
_Static_assert(ORCH_F__COUNT <= 64, "orch_field bits must fit in uint64_t");

const char *orch_field_keyword(orch_field f)
{
    /* The cast also rejects negative values when the enum is signed. */
    if ((unsigned)f >= (unsigned)ORCH_F__COUNT)
        return NULL;
    return field_keywords[f];
}

void orch_service_defaults(orch_service *s)
{
    memset(s, 0, sizeof *s);
    s->readiness_timeout = 90;
    s->oneshot = false;
    s->disabled = false;
    s->recreate = ORCH_RECREATE_NEVER;
    s->restart = ORCH_RESTART_NO;
    s->restart_delay = 1;
    s->start_limit_burst = 5;
    s->start_limit_interval = 10;
    s->timeout_start = 90;
    s->timeout_stop = 10;
    s->io_weight = 100;
}

static void strv_free(orch_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i].s);
    free(v->v);
    memset(v, 0, sizeof *v);
}

static void publish_free(orch_publish *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(p[i].address);
    free(p);
}

static void volumes_free(orch_volume *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].source);
        free(v[i].destination);
    }
    free(v);
}

static void env_free(orch_env *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].key);
        free(e[i].value);
    }
    free(e);
}

void orch_service_free(orch_service *s)
{
    char *strings[] = {
        s->name,    s->image,       s->run_command,  s->entrypoint,
        s->cmd,     s->user,        s->stop_command, s->reload_command,
        s->workdir, s->healthcheck, s->stdout_path,  s->stderr_path,
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        free(strings[i]);
    publish_free(s->publish, s->n_publish);
    volumes_free(s->volumes, s->n_volumes);
    env_free(s->env, s->n_env);
    strv_free(&s->env_files);
    strv_free(&s->requires);
    strv_free(&s->after);
    for (size_t f = 0; f < ORCH_F__COUNT; f++)
        free(s->written[f]);
    memset(s, 0, sizeof *s);
}

void orch_model_free(orch_model *m)
{
    for (size_t i = 0; i < m->n_args; i++) {
        free(m->args[i].name);
        free(m->args[i].value);
    }
    free(m->args);
    for (size_t i = 0; i < m->n_services; i++)
        orch_service_free(&m->services[i]);
    free(m->services);
    memset(m, 0, sizeof *m);
}

bool orch_service_cpu_limit(const orch_service *s, double *cores, orch_field *from)
{
    bool cpus = (s->set & ORCH_BIT(ORCH_F_CPUS)) != 0;
    bool quota = (s->set & ORCH_BIT(ORCH_F_CPU_QUOTA)) != 0;
    if (!cpus && !quota)
        return false;
    double q = s->cpu_quota / 100.0;
    if (quota && (!cpus || q < s->cpus)) {
        *cores = q;
        *from = ORCH_F_CPU_QUOTA;
    } else {
        *cores = s->cpus;
        *from = ORCH_F_CPUS;
    }
    return true;
}

char *orch_publish_remap_problem(const orch_publish *p)
{
    if (p->host == p->container)
        return NULL;
    char *msg = NULL;
    if (asprintf(&msg,
                 "PUBLISH %s%s%u:%u maps host port %u to container port %u, but containers "
                 "share the host's network, which cannot remap ports: publish the same port "
                 "on both sides (%u:%u)",
                 p->address ? p->address : "", p->address ? ":" : "", p->host, p->container,
                 p->host, p->container, p->container, p->container) < 0) {
        fputs("orchd: out of memory\n", stderr);
        abort();
    }
    return msg;
}

orch_mode orch_service_mode(const orch_service *s)
{
    if (s->image)
        return ORCH_MODE_CONTAINER;
    if (s->run_command)
        return ORCH_MODE_HOST;
    return ORCH_MODE_NONE;
}

orch_service *orch_model_find(const orch_model *m, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < m->n_services; i++) {
        const char *n = m->services[i].name;
        if (n && strcmp(n, name) == 0)
            return &m->services[i];
    }
    return NULL;
}
