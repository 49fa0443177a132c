/* One unit's small parts: state names, wait statuses, the predicates the
 * dependency logic asks, state changes (with the observer), failure
 * reasons, the unit's one timer, and freeing. The state machine that uses
 * them is supervisor.c. */
#include "daemon/supervisor_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "runtime/reaper.h"
#include "common/xalloc.h"

const char *orch_state_name(orch_state st)
{
    static const char *const names[] = {
        [ORCH_ST_WAITING] = "waiting", [ORCH_ST_STARTING] = "starting",
        [ORCH_ST_RUNNING] = "running", [ORCH_ST_READY] = "ready",
        [ORCH_ST_BACKOFF] = "backoff", [ORCH_ST_EXITED] = "exited",
        [ORCH_ST_FAILED] = "failed",   [ORCH_ST_STOPPING] = "stopping",
        [ORCH_ST_STOPPED] = "stopped", [ORCH_ST_UNHEALTHY] = "unhealthy",
    };
    if ((unsigned)st >= sizeof names / sizeof names[0])
        return "unknown";
    return names[st];
}

/* ---- wait statuses -------------------------------------------------------- */

char *describe_wait_status(int status)
{
    if (status == ORCH_WAIT_STATUS_UNKNOWN)
        return xstrdup("exited, exit status unknown (adopted from a previous orchd, so not its "
                       "child)");
    if (WIFEXITED(status))
        return xasprintf("exited with code %d", WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(status));
        if (abbrev)
            return xasprintf("killed by signal SIG%s", abbrev);
        return xasprintf("killed by signal %d", WTERMSIG(status));
    }
    return xasprintf("ended with wait status %#x", (unsigned)status);
}

/* The shell's convention: a signal shows as 128 + its number. */
int wait_status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

static bool exited_zero(const unit *u)
{
    return u->has_exit && WIFEXITED(u->exit_status) && WEXITSTATUS(u->exit_status) == 0;
}

/* ---- predicates ----------------------------------------------------------- */

bool unit_has_health(const unit *u)
{
    return u->spec.healthcheck && u->spec.healthcheck[0] && !u->spec.oneshot;
}

bool unit_has_process(const unit *u)
{
    switch (u->state) {
    case ORCH_ST_STARTING:
    case ORCH_ST_RUNNING:
    case ORCH_ST_READY:
    case ORCH_ST_UNHEALTHY:
    case ORCH_ST_STOPPING:
        return true;
    default:
        return false;
    }
}

bool unit_is_quiet(const unit *u)
{
    return !unit_has_process(u) && !u->inst;
}

static bool running_counts_as_up(const unit *u)
{
    return u->state == ORCH_ST_RUNNING && !unit_has_health(u) && !u->spec.oneshot;
}

bool unit_is_settled(const unit *u)
{
    switch (u->state) {
    case ORCH_ST_READY:
    case ORCH_ST_UNHEALTHY: /* RESTART no: it stays so; else it is being restarted */
    case ORCH_ST_EXITED:
    case ORCH_ST_FAILED:
    case ORCH_ST_STOPPED:
        return true;
    default:
        return running_counts_as_up(u);
    }
}

bool unit_is_satisfied(const unit *u)
{
    if (u->state == ORCH_ST_EXITED)
        return u->spec.oneshot && exited_zero(u);
    return u->state == ORCH_ST_READY || running_counts_as_up(u);
}

bool unit_has_given_up(const unit *u)
{
    return u->state == ORCH_ST_FAILED || u->state == ORCH_ST_STOPPED ||
           (u->state == ORCH_ST_EXITED && !exited_zero(u));
}

/* ---- state, errors, timers ------------------------------------------------ */

void unit_set_state(unit *u, orch_state st, const char *detail)
{
    orch_supervisor *sv = u->sv;
    bool changed = u->state != st;
    if (changed && st == ORCH_ST_WAITING)
        sv->n_waiting++;
    else if (changed && u->state == ORCH_ST_WAITING && sv->n_waiting > 0)
        sv->n_waiting--;
    u->state = st;
    if (changed) {
        u->since_ms = uv_now(sv->loop);
        u->since_wall = time(NULL);
    }
    if (sv->observer && (changed || detail))
        sv->observer(sv->observer_arg, u->spec.name, st, detail);
    sv_schedule_pass(sv);
}

void unit_set_error(unit *u, const char *reason)
{
    char *copy = reason ? xstrdup(reason) : NULL;
    free(u->error);
    u->error = copy;
}

void unit_fail(unit *u, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = xvasprintf(fmt, ap);
    va_end(ap);
    unit_timer_stop(u);
    unit_health_stop(u);
    unit_set_error(u, why);
    unit_set_state(u, ORCH_ST_FAILED, u->error);
    free(why);
}

static void on_unit_timer(uv_timer_t *t)
{
    unit *u = t->data;
    unit_timer_fn fn = u->timer_fn;
    u->timer_fn = NULL;
    if (fn)
        fn(u);
}

void unit_timer_start(unit *u, uint64_t ms, unit_timer_fn fn)
{
    if (!u->timer) {
        u->timer = xmalloc(sizeof *u->timer);
        uv_timer_init(u->sv->loop, u->timer);
        u->timer->data = u;
    }
    u->timer_fn = fn;
    uv_timer_start(u->timer, on_unit_timer, ms, 0);
}

void unit_timer_stop(unit *u)
{
    if (u->timer)
        uv_timer_stop(u->timer);
    u->timer_fn = NULL;
}

void sv_free_handle(uv_handle_t *h)
{
    free(h);
}

void unit_timer_close(unit *u)
{
    if (!u->timer)
        return;
    uv_close((uv_handle_t *)u->timer, sv_free_handle);
    u->timer = NULL;
    u->timer_fn = NULL;
}

void unit_health_stop(unit *u)
{
    orch_health_stop(u->health);
    u->health = NULL;
    u->health_failures = 0;
    free(u->health_detail);
    u->health_detail = NULL;
}

void unit_reset_history(unit *u)
{
    u->n_starts = 0;
    u->restart_pending = false;
    unit_set_error(u, NULL);
}

void unit_forget_commands(unit *u)
{
    if (u->stop_exec)
        u->ops->exec_cancel(u->stop_exec);
    if (u->reload_exec)
        u->ops->exec_cancel(u->reload_exec);
    u->stop_exec = u->reload_exec = NULL;
}

void unit_destroy(unit *u)
{
    unit_identity_detach(u);
    free(u->identity);
    free(u->ran_identity);
    unit_timer_close(u);
    unit_health_stop(u);
    unit_forget_commands(u);
    orch_service_free(&u->spec);
    if (u->next_spec) {
        orch_service_free(u->next_spec);
        free(u->next_spec);
    }
    free(u->next_json);
    free(u->spec_json);
    free(u->log_path);
    free(u->start_failure);
    free(u->starts);
    free(u->error);
    free(u->req);
    free(u->aft);
    free(u->rdeps);
    free(u->adeps);
    free(u);
}

