/* orch_supervisor_apply: converging to a new model. Each service's strings
 * get the engine built-ins filled in, then the service is serialised alone
 * (orch_model_to_json) and compared with what the unit runs: a different
 * text means a restart with the new spec, the same text leaves a running
 * instance alone (same pid). */
#include <stdlib.h>
#include <string.h>

#include "daemon/depgraph.h"
#include "daemon/supervisor_impl.h"
#include "orchfile/expand.h"
#include "orchfile/orchfile.h"
#include "common/xalloc.h"

/* ---- built-ins ------------------------------------------------------------ */

typedef struct builtins {
    const orch_env_ctx *ctx;
    const char *service;
    char *containers_dir;
    char *container_prefix;
} builtins;

static const char *lookup_builtin(void *arg, const char *name)
{
    builtins *b = arg;
    if (strcmp(name, "ORCH_PROJECT") == 0)
        return b->ctx->project_dir;
    if (strcmp(name, "ORCH_DATA") == 0)
        return b->ctx->data_dir;
    if (strcmp(name, "ORCH_STATE_DIR") == 0)
        return b->ctx->state_dir;
    if (strcmp(name, "ORCH_CONTAINERS_DIR") == 0)
        return b->containers_dir;
    if (strcmp(name, "SERVICE_NAME") == 0)
        return b->service;
    if (strcmp(name, "CONTAINER_PREFIX") == 0)
        return b->container_prefix;
    if (strcmp(name, "PORT_OFFSET") == 0)
        return b->ctx->port_offset ? b->ctx->port_offset : "0";
    return NULL; /* not ours: kept as written (it may be meant for the shell) */
}

static void expand_in_place(char **s, builtins *b)
{
    if (!*s)
        return;
    char *expanded = orch_expand(*s, lookup_builtin, b);
    free(*s);
    *s = expanded;
}

static void expand_service(const orch_env_ctx *ctx, orch_service *s)
{
    builtins b = {.ctx = ctx, .service = s->name};
    b.containers_dir = ctx->data_dir ? xasprintf("%s/containers", ctx->data_dir) : NULL;
    b.container_prefix = xasprintf("%s-", ctx->namespace_);
    char **strings[] = {
        &s->image,          &s->run_command, &s->entrypoint, &s->cmd,
        &s->user,           &s->stop_command, &s->reload_command, &s->workdir,
        &s->healthcheck,    &s->stdout_path, &s->stderr_path,
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        expand_in_place(strings[i], &b);
    for (size_t i = 0; i < s->n_env; i++)
        expand_in_place(&s->env[i].value, &b);
    for (size_t i = 0; i < s->env_files.n; i++)
        expand_in_place(&s->env_files.v[i].s, &b);
    for (size_t i = 0; i < s->n_volumes; i++)
        expand_in_place(&s->volumes[i].source, &b);
    free(b.containers_dir);
    free(b.container_prefix);
}

/* ---- specs ---------------------------------------------------------------- */

static char *service_json(const orch_service *s)
{
    orch_model one = {.services = (orch_service *)s, .n_services = 1};
    return orch_model_to_json(&one, ORCH_JSON_TYPED);
}

/* JSON that could not be made (invalid UTF-8) never compares equal: such a
 * service restarts on every apply rather than keep a stale spec. */
static bool same_json(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

char *unit_default_log_path(const orch_supervisor *sv, const orch_service *s)
{
    if (s->stdout_path)
        return xstrdup(s->stdout_path);
    const orch_runtime_ops *ops = sv_runtime_for(sv, s, NULL);
    if (ops && ops->log_path)
        return ops->log_path(s, &sv->ctx);
    /* the runtime is not loaded yet: where every runtime puts it today */
    return orch_log_path_default(sv->ctx.state_dir, sv->ctx.namespace_, s->name);
}

/* Takes *s (leaving it empty) as the unit's next spec. */
static void set_next_spec(unit *u, orch_service *s, char *json)
{
    if (u->next_spec) {
        orch_service_free(u->next_spec);
        free(u->next_spec);
    }
    free(u->next_json);
    u->next_spec = xmalloc(sizeof *u->next_spec);
    *u->next_spec = *s;
    memset(s, 0, sizeof *s);
    u->next_json = json;
}

void unit_swap_in_next_spec(unit *u)
{
    orch_service_free(&u->spec);
    u->spec = *u->next_spec;
    free(u->next_spec);
    u->next_spec = NULL;
    free(u->spec_json);
    u->spec_json = u->next_json;
    u->next_json = NULL;
    free(u->log_path);
    u->log_path = unit_default_log_path(u->sv, &u->spec);
}

static unit *unit_new(orch_supervisor *sv, orch_service *s, char *json)
{
    unit *u = xcalloc(1, sizeof *u);
    u->sv = sv;
    u->spec = *s;
    memset(s, 0, sizeof *s);
    u->spec_json = json;
    u->log_path = unit_default_log_path(sv, &u->spec);
    u->state = ORCH_ST_STOPPED;
    u->since_ms = uv_now(sv->loop);
    u->since_wall = time(NULL);
    return u;
}

/* ---- converging one unit -------------------------------------------------- */

/* An end state that a new apply starts over from. A oneshot that succeeded
 * keeps its success (it does not run again until its spec changes). */
static bool needs_rerun(const unit *u)
{
    switch (u->state) {
    case ORCH_ST_FAILED:
    case ORCH_ST_STOPPED:
        return true;
    case ORCH_ST_EXITED:
        return !unit_is_satisfied(u);
    default:
        return false;
    }
}

/* Not selected by this apply: keeps doing what it does, with the spec it
 * runs; an idle unit simply takes the new spec. */
static void update_unselected(unit *u, orch_service *s, char *json)
{
    bool changed = !same_json(u->next_json ? u->next_json : u->spec_json, json);
    if (changed && unit_is_quiet(u) && !u->next_spec) {
        set_next_spec(u, s, json);
        unit_swap_in_next_spec(u);
        return;
    }
    orch_service_free(s);
    free(json);
}

static void update_selected(unit *u, orch_service *s, char *json)
{
    bool changed = !same_json(u->next_json ? u->next_json : u->spec_json, json);
    u->wanted = true;
    u->stop_requested = false;
    if (!changed) {
        orch_service_free(s);
        free(json);
        if (needs_rerun(u)) {
            unit_reset_history(u);
            unit_enter_waiting(u);
        }
        return;
    }
    set_next_spec(u, s, json);
    unit_reset_history(u);
    if (!u->inst)
        unit_swap_in_next_spec(u); /* nothing runs the old spec */
    if (unit_has_process(u))
        unit_begin_stop(u); /* on_released swaps the spec and starts again */
    else
        unit_enter_waiting(u);
}

static void remove_unit(unit *u)
{
    u->removed = true;
    u->wanted = false;
    u->stop_requested = true;
    if (u->sv)
        u->sv->stops_pending = true;
    u->restart_pending = false;
    if (u->state == ORCH_ST_WAITING || u->state == ORCH_ST_BACKOFF)
        unit_begin_stop(u);
}

/* ---- apply ---------------------------------------------------------------- */

static int check_names(const orch_model *m, const char *const *names, size_t n, char **err)
{
    for (size_t i = 0; i < n; i++) {
        if (!orch_model_find(m, names[i])) {
            *err = xasprintf("no service named %s", names[i]);
            return -1;
        }
    }
    return 0;
}

/* selected[i]: service i is wanted by this apply. */
static bool *select_services(const orch_model *m, const char *const *names, size_t n)
{
    bool *selected = xcalloc(m->n_services, sizeof *selected);
    for (size_t i = 0; i < m->n_services; i++) {
        if (n == 0) {
            selected[i] = !m->services[i].disabled;
            continue;
        }
        for (size_t j = 0; j < n; j++)
            if (strcmp(m->services[i].name, names[j]) == 0)
                selected[i] = true;
    }
    dg_model_requires_closure(m, selected);
    return selected;
}

int orch_supervisor_apply(orch_supervisor *sv, orch_model *model, const char *const *names,
                          size_t n_names, char **err)
{
    if (check_names(model, names, n_names, err) != 0)
        return -1;
    size_t n = model->n_services;
    bool *selected = select_services(model, names, n_names);
    /* Look every unit up before changing any: a spec swap frees the name
     * strings the index points at. */
    unit **existing = xcalloc(n, sizeof *existing);
    for (size_t i = 0; i < n; i++)
        existing[i] = dg_find(sv, model->services[i].name);

    unsigned mark = dg_new_mark(sv);
    unit **order = xcalloc(n + sv->n_units, sizeof *order);
    size_t n_order = 0;
    for (size_t i = 0; i < n; i++) {
        orch_service *s = &model->services[i];
        expand_service(&sv->ctx, s);
        char *json = service_json(s);
        unit *u = existing[i];
        if (!u) {
            u = unit_new(sv, s, json);
            if (selected[i]) {
                u->wanted = true;
                unit_enter_waiting(u);
            }
        } else {
            u->removed = false;
            if (selected[i])
                update_selected(u, s, json);
            else
                update_unselected(u, s, json);
        }
        if (selected[i])
            unit_identity_refresh(u);
        u->mark = mark;
        order[n_order++] = u;
    }
    for (size_t i = 0; i < sv->n_units; i++) {
        unit *u = sv->units[i];
        if (u->mark != mark) {
            remove_unit(u);
            order[n_order++] = u; /* kept (after the model's) until stopped */
        }
    }
    free(sv->units);
    sv->units = order;
    sv->n_units = sv->cap_units = n_order;
    dg_relink(sv);
    free(existing);
    free(selected);
    orch_model_free(model);
    sv_schedule_pass(sv);
    return 0;
}
