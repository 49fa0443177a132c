/* Typing: raw directive text -> model fields, with FILE:LINE errors. */
#include "orchfile/apply.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "orchfile/values.h"

void orch_strv_add_unique(orch_strv *v, const char *s, orch_origin at)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->v[i].s, s) == 0)
            return;
    xgrow((void **)&v->v, &v->cap, v->n + 1, sizeof *v->v);
    v->v[v->n++] = (orch_str){.s = xstrdup(s), .at = at};
}

void orch_env_set(orch_service *s, const char *key, const char *value, orch_origin at)
{
    for (size_t i = 0; i < s->n_env; i++) {
        if (strcmp(s->env[i].key, key) == 0) {
            free(s->env[i].value);
            s->env[i].value = xstrdup(value);
            s->env[i].at = at;
            return;
        }
    }
    s->env = xrealloc(s->env, (s->n_env + 1) * sizeof *s->env);
    s->env[s->n_env++] = (orch_env){.key = xstrdup(key), .value = xstrdup(value), .at = at};
}

static void set_string(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

static void add_publish(orch_service *s, const char *v, orch_origin at, orch_diags *d,
                        bool *ok)
{
    orch_publish p = {.at = at};
    const char *why;
    if (!orch_parse_publish(v, &p.address, &p.host, &p.container, &why)) {
        orch_diag_error(d, at, "PUBLISH '%s': %s (expected [address:]host:container)", v, why);
        *ok = false;
        return;
    }
    /* Within one file a container port published twice: the later wins. */
    for (size_t i = 0; i < s->n_publish; i++) {
        if (s->publish[i].container == p.container) {
            free(s->publish[i].address);
            s->publish[i] = p;
            return;
        }
    }
    s->publish = xrealloc(s->publish, (s->n_publish + 1) * sizeof *s->publish);
    s->publish[s->n_publish++] = p;
}

static void add_volume(orch_service *s, const char *v, orch_origin at, orch_diags *d, bool *ok)
{
    orch_volume vol = {.at = at};
    const char *why;
    if (!orch_parse_volume(v, &vol.source, &vol.destination, &vol.is_named, &why)) {
        orch_diag_error(d, at, "VOLUME '%s': %s (expected source:/absolute/destination)", v, why);
        *ok = false;
        return;
    }
    for (size_t i = 0; i < s->n_volumes; i++) {
        if (strcmp(s->volumes[i].destination, vol.destination) == 0) {
            free(s->volumes[i].source);
            free(s->volumes[i].destination);
            s->volumes[i] = vol;
            return;
        }
    }
    s->volumes = xrealloc(s->volumes, (s->n_volumes + 1) * sizeof *s->volumes);
    s->volumes[s->n_volumes++] = vol;
}

static void add_env(orch_service *s, const char *v, orch_origin at, orch_diags *d, bool *ok)
{
    const char *eq = strchr(v, '=');
    const char *why;
    if (!eq) {
        orch_diag_error(d, at, "ENV '%s': expected KEY=value", v);
        *ok = false;
        return;
    }
    char *key = xstrndup(v, (size_t)(eq - v));
    if (!orch_valid_env_key(key, &why)) {
        orch_diag_error(d, at, "ENV key '%s' is invalid: %s", key, why);
        *ok = false;
    } else {
        orch_env_set(s, key, eq + 1, at);
    }
    free(key);
}

static void add_names(orch_strv *list, const char *keyword, const char *v, orch_origin at,
                      orch_diags *d, bool *ok)
{
    char *copy = xstrdup(v);
    char *save = NULL;
    const char *why;
    for (char *tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (!orch_valid_service_name(tok, &why)) {
            orch_diag_error(d, at, "%s '%s': not a service name: %s", keyword, tok, why);
            *ok = false;
            continue;
        }
        orch_strv_add_unique(list, tok, at);
    }
    free(copy);
}

/* Typed scalars share one shape: parse, or report "KEYWORD 'value': why". */
static bool typed(orch_field f, const char *v, orch_service *s, const char **why)
{
    uint64_t n;
    switch (f) {
    case ORCH_F_READINESS_TIMEOUT: return orch_parse_duration(v, &s->readiness_timeout, why);
    case ORCH_F_RESTART_DELAY: return orch_parse_duration(v, &s->restart_delay, why);
    case ORCH_F_START_LIMIT_INTERVAL: return orch_parse_duration(v, &s->start_limit_interval, why);
    case ORCH_F_TIMEOUT_START: return orch_parse_duration(v, &s->timeout_start, why);
    case ORCH_F_TIMEOUT_STOP: return orch_parse_duration(v, &s->timeout_stop, why);
    case ORCH_F_ONESHOT: return orch_parse_bool(v, &s->oneshot, why);
    case ORCH_F_DISABLED: return orch_parse_bool(v, &s->disabled, why);
    case ORCH_F_RECREATE: return orch_parse_recreate(v, &s->recreate, why);
    case ORCH_F_RESTART: return orch_parse_restart(v, &s->restart, why);
    case ORCH_F_MEMORY: return orch_parse_size(v, &s->memory, why);
    case ORCH_F_CPUS: return orch_parse_cpus(v, &s->cpus, why);
    case ORCH_F_CPU_QUOTA: return orch_parse_percent(v, &s->cpu_quota, why);
    case ORCH_F_START_LIMIT_BURST:
        if (!orch_parse_uint(v, 0, 1000000, &n, why))
            return false;
        s->start_limit_burst = (uint32_t)n;
        return true;
    case ORCH_F_LIMIT_NOFILE: return orch_parse_uint(v, 1, UINT32_MAX, &s->limit_nofile, why);
    case ORCH_F_LIMIT_NPROC: return orch_parse_uint(v, 1, UINT32_MAX, &s->limit_nproc, why);
    case ORCH_F_TASKS_MAX: return orch_parse_uint(v, 1, UINT32_MAX, &s->tasks_max, why);
    case ORCH_F_IO_WEIGHT:
        if (!orch_parse_uint(v, 10, 1000, &n, why))
            return false;
        s->io_weight = (uint32_t)n;
        return true;
    default: return false;
    }
}

static const char *typed_expectation(orch_field f)
{
    switch (f) {
    case ORCH_F_READINESS_TIMEOUT:
    case ORCH_F_RESTART_DELAY:
    case ORCH_F_START_LIMIT_INTERVAL:
    case ORCH_F_TIMEOUT_START:
    case ORCH_F_TIMEOUT_STOP: return "a duration such as 30s or 2m";
    case ORCH_F_ONESHOT:
    case ORCH_F_DISABLED: return "true or false";
    case ORCH_F_RECREATE: return "always or never";
    case ORCH_F_RESTART: return "no, always or on-failure";
    case ORCH_F_MEMORY: return "a size such as 512M or 2G";
    case ORCH_F_CPUS: return "a number of cores such as 0.5 or 2";
    case ORCH_F_CPU_QUOTA: return "a percentage such as 50% or 200%";
    case ORCH_F_START_LIMIT_BURST: return "a whole number, 0 for no limit";
    case ORCH_F_IO_WEIGHT: return "a whole number from 10 to 1000";
    default: return "a whole number of at least 1";
    }
}

static char **string_field(orch_service *s, orch_field f)
{
    switch (f) {
    case ORCH_F_FROM: return &s->image;
    case ORCH_F_RUN: return &s->run_command;
    case ORCH_F_ENTRYPOINT: return &s->entrypoint;
    case ORCH_F_CMD: return &s->cmd;
    case ORCH_F_USER: return &s->user;
    case ORCH_F_STOP: return &s->stop_command;
    case ORCH_F_RELOAD: return &s->reload_command;
    case ORCH_F_WORKDIR: return &s->workdir;
    case ORCH_F_HEALTHCHECK: return &s->healthcheck;
    case ORCH_F_STDOUT: return &s->stdout_path;
    case ORCH_F_STDERR: return &s->stderr_path;
    default: return NULL;
    }
}

static void apply_directive(orch_service *s, const orch_raw_directive *rd, const char *v,
                            orch_diags *d)
{
    orch_field f = rd->field;
    bool ok = true;
    if (rd->is_clear) {
        s->cleared |= ORCH_BIT(f);
        return;
    }
    char **str = string_field(s, f);
    const char *why = NULL;
    if (v[0] == '\0') {
        orch_diag_error(d, rd->at, "%s is empty after expanding '%s'", orch_field_keyword(f),
                   rd->value);
        ok = false;
    } else if (str) {
        set_string(str, v);
    } else if (f == ORCH_F_PUBLISH) {
        add_publish(s, v, rd->at, d, &ok);
    } else if (f == ORCH_F_VOLUME) {
        add_volume(s, v, rd->at, d, &ok);
    } else if (f == ORCH_F_ENV) {
        add_env(s, v, rd->at, d, &ok);
    } else if (f == ORCH_F_ENV_FILE) {
        orch_strv_add_unique(&s->env_files, v, rd->at);
    } else if (f == ORCH_F_REQUIRES) {
        add_names(&s->requires, "REQUIRES", v, rd->at, d, &ok);
    } else if (f == ORCH_F_AFTER) {
        add_names(&s->after, "AFTER", v, rd->at, d, &ok);
    } else if (!typed(f, v, s, &why)) {
        /* A reason that only restates the expectation is left out. */
        if (why && strncmp(why, "expected", 8) == 0)
            orch_diag_error(d, rd->at, "%s '%s': expected %s", orch_field_keyword(f), v,
                       typed_expectation(f));
        else
            orch_diag_error(d, rd->at, "%s '%s': expected %s (%s)", orch_field_keyword(f), v,
                       typed_expectation(f), why ? why : "invalid");
        ok = false;
    } else {
        set_string(&s->written[f], v);
    }
    if (ok) {
        s->set |= ORCH_BIT(f);
        s->field_at[f] = rd->at;
    }
}

void orch_apply_layer(const orch_layer *l, orch_lookup_fn lookup, void *ctx,
                      orch_typed_layer *out)
{
    out->services = xcalloc(l->n_services, sizeof *out->services);
    out->n_services = l->n_services;
    for (size_t i = 0; i < l->n_services; i++) {
        const orch_raw_service *rs = &l->services[i];
        orch_service *s = &out->services[i];
        orch_service_defaults(s);
        s->name = xstrdup(rs->name);
        s->at = rs->at;
        for (size_t j = 0; j < rs->n; j++) {
            const orch_raw_directive *rd = &rs->d[j];
            char *v = rd->is_clear ? NULL : orch_expand(rd->value, lookup, ctx);
            apply_directive(s, rd, v, l->diags);
            free(v);
        }
    }
}

void orch_typed_layer_free(orch_typed_layer *t)
{
    for (size_t i = 0; i < t->n_services; i++)
        orch_service_free(&t->services[i]);
    free(t->services);
    t->services = NULL;
    t->n_services = 0;
}
