/* The compose writer (docs/EXPORT.md, "Compose"). Two flavours, because
 * the tools disagree: docker compose reads the Compose Specification
 * (depends_on conditions, pids_limit, blkio_config), `docker stack deploy`
 * only the version 3 schema, which rejects both. --swarm writes the latter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "export/export_internal.h"

static bool has(const orch_service *s, orch_field f)
{
    return (s->set & ORCH_BIT(f)) != 0;
}

static void str_list(yout *y, const char *key, char **v)
{
    yout_key(y, key);
    yout_seq_open(y);
    for (size_t i = 0; v[i]; i++)
        yout_str(y, v[i]);
    yout_seq_close(y);
}

static void kv_secs(yout *y, const char *key, unsigned s)
{
    char b[32];
    snprintf(b, sizeof b, "%us", s);
    yout_kv_str(y, key, b);
}

static void healthcheck(yout *y, ex_service *e)
{
    const orch_service *s = e->s;
    if (!s->healthcheck)
        return;
    yout_key(y, "healthcheck");
    yout_map_open(y);
    char *test;
    if (e->has_http_check) {
        test = xasprintf("wget -q -O /dev/null '%s' || exit 1", s->healthcheck);
        ex_note(e, "HEALTHCHECK %s: probed with wget inside the container (the image must "
                   "have it)",
                s->healthcheck);
    } else {
        test = xstrdup(s->healthcheck);
    }
    char *argv[] = {"CMD-SHELL", test, NULL};
    str_list(y, "test", argv);
    free(test);
    kv_secs(y, "interval", 2);
    kv_secs(y, "timeout", e->has_http_check ? 5 : 10);
    yout_kv_int(y, "retries", 3);
    uint32_t deadline = s->timeout_start < s->readiness_timeout ? s->timeout_start
                                                                 : s->readiness_timeout;
    kv_secs(y, "start_period", deadline);
    yout_map_close(y);
}

static const char *restart_word(const orch_service *s)
{
    switch (s->restart) {
    case ORCH_RESTART_ALWAYS: return s->oneshot ? "on-failure" : "always";
    case ORCH_RESTART_ON_FAILURE: return "on-failure";
    default: return "no";
    }
}

static void deploy(yout *y, ex_service *e, bool swarm)
{
    const orch_service *s = e->s;
    double cpus = 0;
    bool cpu = ex_cpu_limit(s, &cpus), mem = has(s, ORCH_F_MEMORY);
    if (!swarm && !cpu && !mem && !s->disabled)
        goto notes;
    yout_key(y, "deploy");
    yout_map_open(y);
    if (s->disabled)
        yout_kv_int(y, "replicas", 0);
    if (cpu || mem) {
        yout_key(y, "resources");
        yout_map_open(y);
        yout_key(y, "limits");
        yout_map_open(y);
        ex_write_limits(y, s, "cpus", false);
        yout_map_close(y);
        yout_map_close(y);
    }
    if (swarm) { /* swarm reads this instead of restart: */
        yout_key(y, "restart_policy");
        yout_map_open(y);
        const char *w = restart_word(s);
        yout_kv_str(y, "condition", strcmp(w, "always") == 0 ? "any"
                                    : strcmp(w, "no") == 0   ? "none"
                                                             : "on-failure");
        kv_secs(y, "delay", s->restart_delay);
        if (s->start_limit_burst > 0) {
            yout_kv_int(y, "max_attempts", s->start_limit_burst);
            kv_secs(y, "window", s->start_limit_interval);
        }
        yout_map_close(y);
    }
    yout_map_close(y);
notes:
    if (!swarm && (has(s, ORCH_F_RESTART_DELAY) || has(s, ORCH_F_START_LIMIT_BURST) ||
                   has(s, ORCH_F_START_LIMIT_INTERVAL)))
        ex_note(e, "RESTART_DELAY/START_LIMIT_*: docker compose restarts with the engine's own "
                   "back-off (they map to deploy.restart_policy with --swarm)");
}

static void depends(ex_ctx *c, yout *y, ex_service *e, bool swarm)
{
    const orch_service *s = e->s;
    size_t n = 0;
    for (size_t i = 0; i < s->requires.n; i++) {
        ex_service *r = ex_find(c, s->requires.v[i].s);
        if (r && r->exported)
            n++;
        else
            ex_note(e, "REQUIRES %s: a host service, not exported: nothing waits for it",
                    s->requires.v[i].s);
    }
    for (size_t i = 0; i < s->after.n; i++) {
        ex_service *r = ex_find(c, s->after.v[i].s);
        if (!r || !r->exported)
            ex_note(e, "AFTER %s: a host service, not exported: no order is kept",
                    s->after.v[i].s);
        if (r && r->exported && !swarm) {
            n++;
            ex_note(e, "AFTER %s: becomes service_started (compose waits for the start; orchd "
                       "only orders)",
                    s->after.v[i].s);
        }
    }
    if (n == 0)
        return;
    yout_key(y, "depends_on");
    if (swarm) {
        yout_seq_open(y);
        for (size_t i = 0; i < s->requires.n; i++) {
            ex_service *r = ex_find(c, s->requires.v[i].s);
            if (r && r->exported)
                yout_str(y, r->s->name);
        }
        yout_seq_close(y);
        ex_note(e, "REQUIRES: docker stack deploy does not order starts (depends_on is kept "
                   "for docker compose)");
        return;
    }
    yout_map_open(y);
    for (size_t i = 0; i < s->requires.n; i++) {
        ex_service *r = ex_find(c, s->requires.v[i].s);
        if (!r || !r->exported)
            continue;
        yout_key(y, r->s->name);
        yout_map_open(y);
        yout_kv_str(y, "condition", r->s->oneshot       ? "service_completed_successfully"
                                    : r->s->healthcheck ? "service_healthy"
                                                        : "service_started");
        yout_map_close(y);
    }
    for (size_t i = 0; i < s->after.n; i++) {
        ex_service *r = ex_find(c, s->after.v[i].s);
        if (!r || !r->exported)
            continue;
        bool dup = false;
        for (size_t k = 0; k < s->requires.n; k++)
            dup |= strcmp(s->requires.v[k].s, r->s->name) == 0;
        if (dup)
            continue;
        yout_key(y, r->s->name);
        yout_map_open(y);
        yout_kv_str(y, "condition", "service_started");
        yout_map_close(y);
    }
    yout_map_close(y);
}

static void service(ex_ctx *c, yout *y, ex_service *e, bool swarm)
{
    const orch_service *s = e->s;
    yout_key(y, s->name);
    yout_map_open(y);
    yout_kv_str(y, "image", e->image);
    if (strncmp(e->image, "oci-archive:", 12) == 0 || strncmp(e->image, "oci:", 4) == 0)
        ex_warn(c, "service %s: FROM %s is a local archive: load it into the engine "
                   "(docker load) and change the image",
                s->name, e->image);
    if (e->entry)
        str_list(y, "entrypoint", e->entry);
    if (e->cmd)
        str_list(y, "command", e->cmd);
    if (s->workdir)
        yout_kv_str(y, "working_dir", s->workdir);
    if (s->n_env > 0) {
        yout_key(y, "environment");
        yout_map_open(y);
        for (size_t i = 0; i < s->n_env; i++)
            yout_kv_str(y, s->env[i].key, s->env[i].value);
        yout_map_close(y);
    }
    if (e->n_env_files > 0) {
        yout_key(y, "env_file");
        yout_seq_open(y);
        for (size_t i = 0; i < e->n_env_files; i++)
            yout_str(y, e->env_file_paths[i]);
        yout_seq_close(y);
    }
    if (s->n_publish > 0) {
        yout_key(y, "ports");
        yout_seq_open(y);
        for (size_t i = 0; i < s->n_publish; i++) {
            const orch_publish *p = &s->publish[i];
            char b[128];
            if (p->address && !swarm)
                snprintf(b, sizeof b, "%s:%u:%u", p->address, (unsigned)p->host,
                         (unsigned)p->container);
            else
                snprintf(b, sizeof b, "%u:%u", (unsigned)p->host, (unsigned)p->container);
            if (p->address && swarm)
                ex_note(e, "PUBLISH %s:%u:%u: swarm publishes on every address (the routing "
                           "mesh)",
                        p->address, (unsigned)p->host, (unsigned)p->container);
            yout_str(y, b);
        }
        yout_seq_close(y);
    }
    if (s->n_volumes > 0) {
        yout_key(y, "volumes");
        yout_seq_open(y);
        for (size_t i = 0; i < s->n_volumes; i++) {
            const orch_volume *v = &s->volumes[i];
            char *b = xasprintf("%s:%s", v->is_named ? v->source : e->vol_sources[i],
                                v->destination);
            yout_str(y, b);
            free(b);
        }
        yout_seq_close(y);
    }
    healthcheck(y, e);
    yout_kv_str(y, "restart", restart_word(s));
    if (s->oneshot && s->restart == ORCH_RESTART_ALWAYS)
        ex_note(e, "RESTART always of a ONESHOT: on-failure (a completed one-shot is not rerun)");
    deploy(y, e, swarm);
    if (has(s, ORCH_F_LIMIT_NOFILE) || has(s, ORCH_F_LIMIT_NPROC)) {
        yout_key(y, "ulimits");
        yout_map_open(y);
        if (has(s, ORCH_F_LIMIT_NOFILE))
            yout_kv_int(y, "nofile", (long long)s->limit_nofile);
        if (has(s, ORCH_F_LIMIT_NPROC))
            yout_kv_int(y, "nproc", (long long)s->limit_nproc);
        yout_map_close(y);
    }
    if (has(s, ORCH_F_TASKS_MAX)) {
        if (swarm) {
            ex_note(e, "TASKS_MAX %llu: the version 3 schema has no pids_limit",
                    (unsigned long long)s->tasks_max);
        } else {
            yout_kv_int(y, "pids_limit", (long long)s->tasks_max);
        }
    }
    if (has(s, ORCH_F_IO_WEIGHT)) {
        if (swarm) {
            ex_note(e, "IO_WEIGHT %u: the version 3 schema has no blkio_config", s->io_weight);
        } else {
            yout_key(y, "blkio_config");
            yout_map_open(y);
            yout_kv_int(y, "weight", s->io_weight);
            yout_map_close(y);
        }
    }
    kv_secs(y, "stop_grace_period", s->timeout_stop);
    depends(c, y, e, swarm);
    yout_kv_map1(y, "labels", "orchd.io/service", s->name);
    yout_map_close(y);
    if (s->stop_command)
        ex_note(e, "STOP: compose stops with a signal (stop_signal), not a command");
    if (s->reload_command)
        ex_note(e, "RELOAD: compose has no reload action (docker compose exec the command)");
    if (s->stdout_path || s->stderr_path)
        ex_note(e, "STDOUT/STDERR: the engine's logging driver keeps container output");
    if (has(s, ORCH_F_RECREATE))
        ex_note(e, "RECREATE: docker compose up recreates a changed service");
}

int ex_compose(ex_ctx *c, orch_error **err)
{
    bool swarm = c->o->swarm;
    yout y;
    yout_init(&y);
    y.escape_dollar = true; /* compose interpolates $VAR in every value */
    yout_doc_begin(&y);
    yout_map_open(&y);
    if (swarm)
        yout_kv_str(&y, "version", "3.9");
    yout_key(&y, "services");
    yout_map_open(&y);
    for (size_t i = 0; i < c->m->n_services; i++)
        if (c->svcs[i].exported)
            service(c, &y, &c->svcs[i], swarm);
    yout_map_close(&y);
    /* named volumes are declared once at the top level */
    bool any = false;
    char **seen = NULL;
    size_t n_seen = 0;
    for (size_t i = 0; i < c->m->n_services; i++) {
        const ex_service *e = &c->svcs[i];
        if (!e->exported)
            continue;
        for (size_t v = 0; v < e->s->n_volumes; v++) {
            const orch_volume *vol = &e->s->volumes[v];
            bool dup = false;
            for (size_t k = 0; k < n_seen; k++)
                dup |= strcmp(seen[k], vol->source) == 0;
            if (!vol->is_named || dup)
                continue;
            seen = xrealloc(seen, (n_seen + 1) * sizeof *seen);
            seen[n_seen++] = vol->source;
            if (!any) {
                yout_key(&y, "volumes");
                yout_map_open(&y);
                any = true;
            }
            yout_key(&y, vol->source);
            yout_map_open(&y);
            yout_map_close(&y);
        }
    }
    free(seen);
    if (any)
        yout_map_close(&y);
    yout_map_close(&y);
    const char *text = yout_finish(&y);
    if (!text) {
        yout_free(&y);
        return orch_error_set(err, orch_error_new(ORCH_E_INTERNAL,
                                                  "writing compose.yaml: the YAML emitter failed"));
    }
    yout lead;
    yout_init(&lead);
    yout_comment(&lead, swarm ? "orchd export compose --swarm: for docker stack deploy"
                              : "orchd export compose: for docker compose");
    for (size_t i = 0; i < c->m->n_services; i++)
        if (c->svcs[i].exported)
            ex_comment_notes(&lead, &c->svcs[i]);
    char *all = xasprintf("%s%s", lead.buf, text);
    ex_add_file(c, "compose.yaml", all);
    free(all);
    yout_free(&lead);
    yout_free(&y);
    return 0;
}
