/* Requests from outside that are not apply: stop, when_settled, reload,
 * survey, log path; and the pass's bookkeeping for them (stops in reverse
 * dependency order, dropping removed units, completing requests). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "daemon/depgraph.h"
#include "daemon/supervisor_impl.h"
#include "common/json_emit.h"
#include "common/xalloc.h"

/* ---- looking names up ----------------------------------------------------- */

/* Units for names (all units when n == 0). Returns NULL and sets *err when
 * a name is unknown. */
static unit **units_for_names(orch_supervisor *sv, const char *const *names, size_t n,
                              size_t *n_out, char **err)
{
    size_t count = n ? n : sv->n_units;
    unit **v = xcalloc(count, sizeof *v);
    for (size_t i = 0; i < count; i++) {
        v[i] = n ? dg_find(sv, names[i]) : sv->units[i];
        if (!v[i]) {
            *err = xasprintf("no service named %s", names[i]);
            free(v);
            return NULL;
        }
    }
    *n_out = count;
    return v;
}

/* ---- stop ----------------------------------------------------------------- */

static void request_stop(unit *u)
{
    u->wanted = false;
    u->stop_requested = true;
    if (u->sv)
        u->sv->stops_pending = true;
    u->restart_pending = false;
    /* Nothing runs yet (waiting) or now (backoff): stopped at once. */
    if (u->state == ORCH_ST_WAITING || u->state == ORCH_ST_BACKOFF)
        unit_begin_stop(u);
}

int orch_supervisor_stop(orch_supervisor *sv, const char *const *names, size_t n_names,
                         void (*done)(void *arg), void *arg, char **err)
{
    size_t n_seeds = 0;
    unit **seeds = units_for_names(sv, names, n_names, &n_seeds, err);
    if (!seeds)
        return -1;
    unsigned mark = dg_new_mark(sv);
    dg_mark_requirers(sv, seeds, n_seeds, mark);
    free(seeds);

    sv_stop_op *op = xcalloc(1, sizeof *op);
    op->units = xcalloc(sv->n_units, sizeof *op->units);
    for (size_t i = 0; i < sv->n_units; i++) {
        unit *u = sv->units[i];
        if (u->mark != mark)
            continue;
        request_stop(u);
        op->units[op->n_units++] = u;
    }
    op->done = done;
    op->arg = arg;
    op->next = sv->stops;
    sv->stops = op;
    sv_schedule_pass(sv);
    return 0;
}

void sv_pass_stops(orch_supervisor *sv)
{
    if (!sv->stops_pending)
        return;
    bool pending = false;
    for (size_t i = 0; i < sv->n_units; i++) {
        unit *u = sv->units[i];
        if (!u->stop_requested)
            continue;
        if (unit_is_quiet(u))
            u->stop_requested = false;
        else if (unit_has_process(u) && u->state != ORCH_ST_STOPPING &&
                 !dg_dependents_still_stopping(u))
            unit_begin_stop(u);
    }
    /* Compacted in one sweep: dropping N units costs O(N) moves, not N^2;
     * the requests that name them are cleared in one more sweep. */
    size_t n = sv->n_units, dropped = 0;
    for (size_t i = 0; i < n; i++) {
        unit *u = sv->units[i];
        if (u->removed && unit_is_quiet(u)) {
            u->dropping = true;
            dropped++;
        } else {
            pending = pending || u->stop_requested || u->removed;
        }
    }
    if (dropped)
        sv_forget_dropping(sv);
    size_t kept = 0;
    for (size_t i = 0; dropped && i < n; i++) {
        unit *u = sv->units[i];
        if (u->dropping)
            unit_destroy(u);
        else
            sv->units[kept++] = u;
    }
    if (!dropped)
        kept = n;
    sv->n_units = kept;
    sv->stops_pending = pending;
    if (kept != n)
        dg_relink(sv);
}

/* A stop is complete for u once nothing of it runs, or once a later apply
 * wanted it again. */
static bool stop_done_for(const unit *u)
{
    return !u || unit_is_quiet(u) || u->wanted;
}

static bool stop_op_done(const sv_stop_op *op)
{
    for (size_t i = 0; i < op->n_units; i++)
        if (!stop_done_for(op->units[i]))
            return false;
    return true;
}

/* ---- when_settled --------------------------------------------------------- */

void orch_supervisor_when_settled(orch_supervisor *sv, const char *const *names,
                                  size_t n_names, orch_settled_cb cb, void *arg)
{
    sv_waiter *w = xcalloc(1, sizeof *w);
    w->cb = cb;
    w->arg = arg;
    w->units = xcalloc(n_names ? n_names : sv->n_units, sizeof *w->units);
    for (size_t i = 0; i < (n_names ? n_names : sv->n_units); i++) {
        unit *u = n_names ? dg_find(sv, names[i]) : sv->units[i];
        if (!u && n_names) {
            char *line = xasprintf("%sno service named %s\n", w->unknown ? w->unknown : "",
                                   names[i]);
            free(w->unknown);
            w->unknown = line;
        } else if (n_names || u->wanted) {
            w->units[w->n_units++] = u;
        }
    }
    w->next = sv->waiters;
    sv->waiters = w;
    sv_schedule_pass(sv); /* reports on the next iteration if already settled */
}

/* Checks from where the last pass stopped (a start of N then costs O(N)
 * over all its passes, not O(N) each); at the end everything once more,
 * since a unit may have become unsettled again meanwhile. */
static bool waiter_done(sv_waiter *w)
{
    /* an identity still asked may restart a settled unit: not done yet */
#define PENDING(u) ((u) && (!unit_is_settled(u) || (u)->id_req))
    for (; w->next_check < w->n_units; w->next_check++)
        if (PENDING(w->units[w->next_check]))
            return false;
    for (size_t i = 0; i < w->n_units; i++)
        if (PENDING(w->units[i])) {
            w->next_check = i;
            return false;
        }
#undef PENDING
    return true;
}

static bool unit_settled_badly(const unit *u)
{
    return u->state == ORCH_ST_FAILED || u->state == ORCH_ST_UNHEALTHY ||
           (u->state == ORCH_ST_EXITED && !unit_is_satisfied(u));
}

/* NULL when every unit settled well; else one line per failure. */
static char *settle_report(const sv_waiter *w)
{
    char *report = w->unknown ? xstrdup(w->unknown) : NULL;
    for (size_t i = 0; i < w->n_units; i++) {
        const unit *u = w->units[i];
        if (!u || !unit_settled_badly(u))
            continue;
        const char *why = u->error ? u->error : "unknown reason";
        char *line = u->state == ORCH_ST_FAILED
                         ? xasprintf("%sservice %s: failed: %s\n", report ? report : "",
                                     u->spec.name, why)
                         : xasprintf("%sservice %s: %s\n", report ? report : "", u->spec.name,
                                     why);
        free(report);
        report = line;
    }
    return report;
}

/* ---- completing requests -------------------------------------------------- */

void sv_forget_dropping(orch_supervisor *sv)
{
    for (sv_stop_op *op = sv->stops; op; op = op->next)
        for (size_t i = 0; i < op->n_units; i++)
            if (op->units[i] && op->units[i]->dropping)
                op->units[i] = NULL;
    for (sv_waiter *w = sv->waiters; w; w = w->next)
        for (size_t i = 0; i < w->n_units; i++)
            if (w->units[i] && w->units[i]->dropping)
                w->units[i] = NULL;
}

static void free_stop_op(sv_stop_op *op)
{
    free(op->units);
    free(op);
}

static void free_waiter(sv_waiter *w)
{
    free(w->units);
    free(w->unknown);
    free(w);
}

void sv_free_requests(orch_supervisor *sv)
{
    while (sv->stops) {
        sv_stop_op *op = sv->stops;
        sv->stops = op->next;
        free_stop_op(op);
    }
    while (sv->waiters) {
        sv_waiter *w = sv->waiters;
        sv->waiters = w->next;
        free_waiter(w);
    }
}

/* Unlinks the completed requests (oldest first) so that callbacks may call
 * back into the supervisor, even free it. */
static sv_stop_op *take_done_stops(orch_supervisor *sv)
{
    sv_stop_op *done = NULL;
    for (sv_stop_op **pp = &sv->stops; *pp;) {
        sv_stop_op *op = *pp;
        if (stop_op_done(op)) {
            *pp = op->next;
            op->next = done;
            done = op;
        } else {
            pp = &op->next;
        }
    }
    return done;
}

static sv_waiter *take_done_waiters(orch_supervisor *sv)
{
    sv_waiter *done = NULL;
    for (sv_waiter **pp = &sv->waiters; *pp;) {
        sv_waiter *w = *pp;
        if (waiter_done(w)) {
            *pp = w->next;
            w->next = done;
            done = w;
        } else {
            pp = &w->next;
        }
    }
    return done;
}

void sv_fire_completed(orch_supervisor *sv)
{
    sv_stop_op *stops = take_done_stops(sv);
    sv_waiter *waiters = take_done_waiters(sv);
    if (!stops && !waiters)
        return;
    /* Reports are written now, while every unit still exists. */
    char **reports = NULL;
    size_t n_waiters = 0;
    for (sv_waiter *w = waiters; w; w = w->next)
        n_waiters++;
    reports = xcalloc(n_waiters, sizeof *reports);
    size_t k = 0;
    for (sv_waiter *w = waiters; w; w = w->next)
        reports[k++] = settle_report(w);

    sv->depth++;
    k = 0;
    while (waiters) {
        sv_waiter *w = waiters;
        waiters = w->next;
        char *report = reports[k++];
        w->cb(w->arg, report == NULL, report);
        free_waiter(w);
    }
    while (stops) {
        sv_stop_op *op = stops;
        stops = op->next;
        if (op->done)
            op->done(op->arg);
        free_stop_op(op);
    }
    free(reports);
    if (--sv->depth == 0 && sv->dying)
        orch_supervisor_free(sv);
}

/* ---- reload --------------------------------------------------------------- */

static void on_reload_exit(void *owner, const orch_exec_result *r)
{
    unit *u = owner;
    u->reload_exec = NULL;
    if (!r->err && !r->timed_out && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0)
        return;
    char *how = r->err ? xstrdup(r->err) : describe_wait_status(r->status);
    char *why = xasprintf("RELOAD command %s", how);
    unit_set_error(u, why);
    if (u->sv)
        unit_set_state(u, u->state, why); /* tells the observer */
    free(why);
    free(how);
}

int orch_supervisor_reload(orch_supervisor *sv, const char *name, char **err)
{
    unit *u = dg_find(sv, name);
    if (!u) {
        *err = xasprintf("no service named %s", name);
        return -1;
    }
    if (u->pid <= 0 || (u->state != ORCH_ST_RUNNING && u->state != ORCH_ST_READY &&
                       u->state != ORCH_ST_UNHEALTHY)) {
        *err = xasprintf("service %s is not running (it is %s)", name, orch_state_name(u->state));
        return -1;
    }
    if (!u->spec.reload_command) {
        int r = u->ops->signal(u->inst, SIGHUP);
        if (r < 0) {
            *err = xasprintf("service %s: SIGHUP: %s", name, strerror(-r));
            return -1;
        }
        return 0;
    }
    if (u->reload_exec) {
        *err = xasprintf("service %s: a RELOAD command is still running", name);
        return -1;
    }
    /* RELOAD runs where the service runs (inside its container, say). */
    orch_exec *x = u->ops->exec(u->inst, &u->spec, &sv->ctx, u->spec.reload_command, 0,
                                on_reload_exit, u, err);
    if (!x)
        return -1;
    u->reload_exec = x;
    return 0;
}

/* ---- survey --------------------------------------------------------------- */

static void gen_string(yajl_gen g, const char *s)
{
    if (s)
        yajl_gen_string(g, (const unsigned char *)s, strlen(s));
    else
        yajl_gen_null(g);
}

static void gen_key(yajl_gen g, const char *key)
{
    yajl_gen_string(g, (const unsigned char *)key, strlen(key));
}

/* What the runtime says about an instance (ops->describe), collected. */
typedef struct facts {
    char *id;
    char **kv; /* key, value, key, value, ... */
    size_t n, cap;
} facts;

static void facts_free(facts *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->kv[i]);
    free(f->kv);
    free(f->id);
}

static void put_fact(void *arg, const char *key, const char *value)
{
    facts *f = arg;
    if (strcmp(key, "id") == 0) {
        free(f->id);
        f->id = xstrdup(value);
        return;
    }
    xgrow((void **)&f->kv, &f->cap, f->n + 2, sizeof *f->kv);
    f->kv[f->n++] = xstrdup(key);
    f->kv[f->n++] = xstrdup(value);
}

static void gen_unit(orch_supervisor *sv, yajl_gen g, const unit *u)
{
    bool up = u->state == ORCH_ST_RUNNING || u->state == ORCH_ST_READY ||
              u->state == ORCH_ST_UNHEALTHY;
    const orch_runtime_ops *ops = u->ops ? u->ops : sv_runtime_for(sv, &u->spec, NULL);
    facts f = {0};
    if (ops && ops->describe)
        ops->describe(&u->spec, &sv->ctx, u->inst, put_fact, &f);
    yajl_gen_map_open(g);
    gen_key(g, "service");
    gen_string(g, u->spec.name);
    gen_key(g, "runtime");
    /* a container runtime not loaded yet still names itself */
    gen_string(g, ops ? ops->name
                      : orch_service_mode(&u->spec) == ORCH_MODE_CONTAINER ? "containerd" : "bare");
    /* the runtime's own name for it: the container id for containerd */
    gen_key(g, "container");
    gen_string(g, f.id);
    gen_key(g, "runtime_info");
    yajl_gen_map_open(g);
    for (size_t i = 0; i + 1 < f.n; i += 2) {
        /* "json:KEY": the value is JSON text (the vm runtime's nested
         * survey), shown as JSON under KEY; text that does not parse is
         * left out */
        if (strncmp(f.kv[i], "json:", 5) == 0) {
            char eb[64];
            yajl_val v = yajl_tree_parse(f.kv[i + 1], eb, sizeof eb);
            if (v) {
                gen_key(g, f.kv[i] + 5);
                orch_json_emit(g, v);
                yajl_tree_free(v);
            }
        } else {
            gen_key(g, f.kv[i]);
            gen_string(g, f.kv[i + 1]);
        }
        free(f.kv[i]);
        free(f.kv[i + 1]);
    }
    yajl_gen_map_close(g);
    free(f.kv);
    free(f.id);
    gen_key(g, "state");
    gen_string(g, orch_state_name(u->state));
    gen_key(g, "pid");
    if (u->pid > 0)
        yajl_gen_integer(g, u->pid);
    else
        yajl_gen_null(g);
    gen_key(g, "restarts");
    yajl_gen_integer(g, u->restarts);
    gen_key(g, "exit_code");
    if (u->has_exit && u->exit_status != ORCH_WAIT_STATUS_UNKNOWN)
        yajl_gen_integer(g, wait_status_code(u->exit_status));
    else
        yajl_gen_null(g);
    gen_key(g, "uptime");
    if (up && u->pid > 0)
        yajl_gen_integer(g, (long long)((uv_now(sv->loop) - u->up_since_ms) / 1000));
    else
        yajl_gen_null(g);
    gen_key(g, "since");
    yajl_gen_integer(g, (long long)u->since_wall);
    gen_key(g, "error");
    gen_string(g, u->error);
    /* false while grow would still wait for it (orchd grow says so on a tty) */
    gen_key(g, "settled");
    yajl_gen_bool(g, unit_is_settled(u));
    gen_key(g, "log");
    gen_string(g, u->log_path);
    yajl_gen_map_close(g);
}

void orch_supervisor_survey(orch_supervisor *sv, yajl_gen g)
{
    yajl_gen_array_open(g);
    for (size_t i = 0; i < sv->n_units; i++)
        gen_unit(sv, g, sv->units[i]);
    yajl_gen_array_close(g);
}

const char *orch_supervisor_log_path(orch_supervisor *sv, const char *name)
{
    unit *u = dg_find(sv, name);
    return u ? u->log_path : NULL;
}

/* ---- a stop given up on --------------------------------------------------- */

uint32_t orch_supervisor_max_timeout_stop(const orch_supervisor *sv)
{
    uint32_t m = 0;
    for (size_t i = 0; i < sv->n_units; i++)
        if (sv->units[i]->spec.timeout_stop > m)
            m = sv->units[i]->spec.timeout_stop;
    return m;
}

char *orch_supervisor_stop_abandon(orch_supervisor *sv, void *arg)
{
    sv_stop_op *op = NULL;
    for (sv_stop_op **pp = &sv->stops; *pp; pp = &(*pp)->next)
        if ((*pp)->arg == arg) {
            op = *pp;
            *pp = op->next;
            break;
        }
    if (!op)
        return NULL;
    char *text = NULL;
    for (size_t i = 0; i < op->n_units; i++) {
        unit *u = op->units[i];
        if (stop_done_for(u))
            continue;
        /* what the runtime knows (containerd: "not reachable") says why */
        const orch_runtime_ops *ops = u->ops ? u->ops : sv_runtime_for(sv, &u->spec, NULL);
        facts f = {0};
        if (ops && ops->describe)
            ops->describe(&u->spec, &sv->ctx, u->inst, put_fact, &f);
        const char *why = NULL;
        for (size_t k = 0; k + 1 < f.n; k += 2)
            if (strcmp(f.kv[k], "containerd") == 0)
                why = f.kv[k + 1];
        char *one = xasprintf("%s%s%s (%s%s%s)", text ? text : "", text ? ", " : "",
                              u->spec.name, orch_state_name(u->state),
                              why ? "; containerd " : "", why ? why : "");
        facts_free(&f);
        free(text);
        text = one;
    }
    free_stop_op(op);
    return text;
}
