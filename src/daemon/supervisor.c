/* The per-service state machine (docs/SUPERVISION.md):
 *
 *   waiting --deps ok--> starting --started--> running --health ok--> ready
 *      |                    |                     |  \__ no health: settled
 *      | REQUIRES failed    | start error         | exit / not ready in time
 *      v                    v                     v
 *    failed  <-----------  failed        backoff | exited | failed | stopped
 *                                          |
 *                                          +--RESTART_DELAY--> (starts again)
 *
 *   any live state --stop--> stopping --exit, release--> stopped
 *
 * A start that needs other units (dependencies, stop order) is decided in
 * the pass (on_pass), which runs on the loop iteration after any change. */
#include "daemon/supervisor_impl.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include "daemon/depgraph.h"
#include "runtime/reaper.h"
#include "common/xalloc.h"

static void on_pass(uv_idle_t *idle);

/* An idle handle rather than a 0 ms timer: libuv 1.44 runs a 0 ms timer
 * armed from a timer callback in the same pass over the timers, so chains
 * of them would never let the loop poll. An idle runs once per iteration
 * and only keeps the loop from blocking while it is scheduled. */
void sv_schedule_pass(orch_supervisor *sv)
{
    if (!sv || sv->pass_scheduled)
        return;
    sv->pass_scheduled = true;
    uv_idle_start(sv->pass_idle, on_pass);
}

/* Runtime errors name the service already ("service web: exec ..."); the
 * supervisor's own reports add it again, so drop it here. */
static const char *without_service_prefix(const unit *u, const char *err)
{
    size_t n = strlen(u->spec.name);
    if (strncmp(err, "service ", 8) == 0 && strncmp(err + 8, u->spec.name, n) == 0 &&
        strncmp(err + 8 + n, ": ", 2) == 0)
        return err + 8 + n + 2;
    return err;
}

/* ---- release -------------------------------------------------------------- */

static void on_backoff_done(unit *u);

static void on_released(void *arg)
{
    unit *u = arg;
    u->inst = NULL;
    u->ops = NULL;
    u->releasing = false;
    if (!u->sv) { /* orphaned by orch_supervisor_free */
        unit_destroy(u);
        return;
    }
    bool was_stopping = u->state == ORCH_ST_STOPPING;
    if (was_stopping)
        unit_set_state(u, ORCH_ST_STOPPED, NULL);
    bool start_again = was_stopping && u->wanted; /* a new spec, or wanted again */
    if (u->next_spec) {
        unit_swap_in_next_spec(u);
        dg_relink(u->sv);
        /* The old instance ended on its own: the new spec still gets its start. */
        start_again |= u->wanted && (u->state == ORCH_ST_FAILED || u->state == ORCH_ST_EXITED ||
                                     u->state == ORCH_ST_STOPPED);
    }
    if (start_again)
        unit_enter_waiting(u);
    else if (u->state == ORCH_ST_BACKOFF && u->restart_pending && u->spec.restart_delay == 0)
        on_backoff_done(u); /* RESTART_DELAY 0s: now, the fastest restart there is */
    else if (u->state == ORCH_ST_BACKOFF && u->restart_pending)
        unit_timer_start(u, (uint64_t)u->spec.restart_delay * 1000, on_backoff_done);
    sv_schedule_pass(u->sv);
}

static void unit_release(unit *u)
{
    if (!u->inst || u->releasing)
        return;
    unit_forget_commands(u); /* helper commands end before their instance */
    u->releasing = true;
    u->pid = 0;
    u->ops->release(u->inst, on_released, u);
}

/* ---- stopping ------------------------------------------------------------- */

static void on_stop_timeout(unit *u)
{
    if (u->stop_exec) {
        u->ops->exec_cancel(u->stop_exec);
        u->stop_exec = NULL;
    }
    if (u->pid <= 0)
        return;
    u->ops->signal(u->inst, SIGKILL);
    char *detail = xasprintf("sent SIGKILL after TIMEOUT_STOP (%us)", u->spec.timeout_stop);
    unit_set_state(u, ORCH_ST_STOPPING, detail);
    free(detail);
}

static void on_stop_command_exit(void *owner, const orch_exec_result *r)
{
    unit *u = owner;
    u->stop_exec = NULL;
    bool ok = !r->err && !r->timed_out && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
    if (!ok && u->pid > 0 && u->state == ORCH_ST_STOPPING)
        u->ops->signal(u->inst, SIGTERM); /* the STOP command failed: fall back */
}

/* STOP runs where the service runs (ops->exec); TIMEOUT_STOP bounds it. */
static bool run_stop_command(unit *u)
{
    if (!u->spec.stop_command)
        return false;
    char *err = NULL;
    orch_exec *x = u->ops->exec(u->inst, &u->spec, &u->sv->ctx, u->spec.stop_command, 0,
                                on_stop_command_exit, u, &err);
    if (!x) {
        fprintf(stderr, "orchd: service %s: STOP command: %s; sending SIGTERM\n", u->spec.name,
                err ? without_service_prefix(u, err) : "cannot run it");
        free(err);
        return false;
    }
    u->stop_exec = x;
    return true;
}

/* The process is up and the state is `stopping`: ask it to go. */
static void unit_send_stop(unit *u)
{
    unit_timer_start(u, (uint64_t)u->spec.timeout_stop * 1000, on_stop_timeout);
    if (!run_stop_command(u))
        u->ops->signal(u->inst, SIGTERM);
}

void unit_begin_stop(unit *u)
{
    if (u->state == ORCH_ST_STOPPING)
        return; /* keep its TIMEOUT_STOP timer */
    unit_timer_stop(u);
    unit_health_stop(u);
    switch (u->state) {
    case ORCH_ST_STARTING:
        u->stop_on_start = true; /* the pid comes with `started` */
        unit_set_state(u, ORCH_ST_STOPPING, NULL);
        break;
    case ORCH_ST_RUNNING:
    case ORCH_ST_READY:
    case ORCH_ST_UNHEALTHY:
        unit_set_state(u, ORCH_ST_STOPPING, NULL);
        unit_send_stop(u);
        break;
    case ORCH_ST_WAITING:
    case ORCH_ST_BACKOFF:
        unit_set_state(u, ORCH_ST_STOPPED, NULL);
        break;
    default:
        break; /* no process */
    }
}

/* ---- exits and restarts --------------------------------------------------- */

static bool restart_wanted(const unit *u, bool success)
{
    switch (u->spec.restart) {
    case ORCH_RESTART_ALWAYS:
        return true;
    case ORCH_RESTART_ON_FAILURE:
        return !success;
    default:
        return false;
    }
}

static void on_backoff_done(unit *u)
{
    u->wait_since_ms = uv_now(u->sv->loop);
    u->ignore_after = false;
    unit_evaluate_wait(u);
}

/* A service that fails while its log file's filesystem is full most
 * likely failed writing its output (ENOSPC on stdout): say so, since the
 * exit code alone does not (docs/RUNTIME-BARE.md). One statvfs of a local
 * path; the log file's directory is orchd's own. */
static char *with_log_full_note(const unit *u, char *why)
{
    struct statvfs v;
    if (!u->log_path || statvfs(u->log_path, &v) != 0 || v.f_bavail > 0)
        return why;
    char *r = xasprintf("%s (its log filesystem is full: %s: %s)", why, u->log_path,
                        strerror(ENOSPC));
    free(why);
    return r;
}

/* A start failed. A cause that may pass by itself (the runtime's daemon
 * restarting, a dead predecessor's leftovers still being tidied, out of
 * file descriptors: orch_error_is_transient) is retried with backoff and
 * does not count towards the start limit, so it never fails the service
 * for good; anything else fails it. The code decides, never the text. */
static void unit_start_failed(unit *u, const orch_error *e)
{
    const char *err = e ? without_service_prefix(u, e->msg) : "could not start";
    if (!orch_error_is_transient(e) || !u->wanted) {
        unit_fail(u, "%s", err);
        return;
    }
    if (u->n_starts > 0)
        u->n_starts--; /* not a start that counts against START_LIMIT_BURST */
    unsigned shift = u->transient_failures < 5 ? u->transient_failures : 5;
    uint64_t delay = (uint64_t)1000 << shift;
    if (delay > SV_TRANSIENT_RETRY_MAX_MS)
        delay = SV_TRANSIENT_RETRY_MAX_MS;
    u->transient_failures++;
    char *why = xasprintf("%s (retrying in %llus)", err, (unsigned long long)(delay / 1000));
    fprintf(stderr, "orchd: service %s: cannot start: %s\n", u->spec.name, why);
    unit_set_error(u, why);
    /* not restart_pending: on_released must leave this timer alone */
    unit_set_state(u, ORCH_ST_BACKOFF, why);
    free(why);
    unit_timer_start(u, delay, on_backoff_done);
}

/* The process ended on its own (or was killed for not becoming ready). */
static void unit_after_exit(unit *u, int status)
{
    bool success = !u->start_failure && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    char *why = u->start_failure ? u->start_failure : describe_wait_status(status);
    if (!success)
        why = with_log_full_note(u, why);
    u->start_failure = NULL;
    if (u->spec.oneshot && success) {
        unit_set_state(u, ORCH_ST_EXITED, why);
        unit_oneshot_succeeded(u);
    } else {
        if (!success)
            unit_set_error(u, why);
        if (u->wanted && restart_wanted(u, success)) {
            /* RESTART_DELAY counts from the release (on_released). */
            u->restart_pending = true;
            unit_set_state(u, ORCH_ST_BACKOFF, why);
        } else if (u->spec.oneshot) {
            unit_set_state(u, ORCH_ST_EXITED, why);
        } else {
            unit_set_state(u, success ? ORCH_ST_STOPPED : ORCH_ST_FAILED, why);
        }
    }
    free(why);
}

static void on_exited(void *owner, int status)
{
    unit *u = owner;
    u->pid = 0;
    u->has_exit = true;
    u->exit_status = status;
    if (u->sv) {
        unit_timer_stop(u);
        unit_health_stop(u);
        /* A requested stop stays `stopping` until the instance is released. */
        if (u->state != ORCH_ST_STOPPING || u->start_failure)
            unit_after_exit(u, status);
    }
    unit_release(u);
}

/* ---- health --------------------------------------------------------------- */

static uint32_t readiness_deadline_s(const unit *u)
{
    uint32_t a = u->spec.timeout_start, b = u->spec.readiness_timeout;
    return a < b ? a : b;
}

static void on_ready_deadline(unit *u)
{
    const char *last = u->health_detail;
    u->start_failure = xasprintf("did not become ready within %us%s%s", readiness_deadline_s(u),
                                 last ? ": " : "", last ? last : "");
    unit_health_stop(u);
    unit_set_state(u, ORCH_ST_STOPPING, u->start_failure);
    unit_send_stop(u);
}

/* It was ready and has failed SV_HEALTH_UNHEALTHY_AFTER probes in a row:
 * `unhealthy`. Under RESTART always/on-failure it is stopped like any stop
 * (STOP or SIGTERM, SIGKILL after TIMEOUT_STOP) and its exit is handled as
 * a failure (start_failure), so RESTART_DELAY and the start limit apply.
 * Under RESTART no it stays unhealthy, probed on, until a probe passes.
 * Its dependents are neither stopped nor started meanwhile (unhealthy does
 * not satisfy a REQUIRES). */
static void unit_turn_unhealthy(unit *u, const char *detail)
{
    char *why = xasprintf("unhealthy: %s (%u in a row)", detail, u->health_failures);
    unit_set_error(u, why);
    unit_set_state(u, ORCH_ST_UNHEALTHY, why);
    if (u->wanted && u->spec.restart != ORCH_RESTART_NO) {
        unit_health_stop(u);
        free(u->start_failure);
        u->start_failure = why;
        unit_set_state(u, ORCH_ST_STOPPING, why);
        unit_send_stop(u);
        return;
    }
    free(why);
}

static void on_health(void *owner, bool ok, const char *detail)
{
    unit *u = owner;
    if (ok) {
        u->health_failures = 0;
        if (u->state == ORCH_ST_RUNNING || u->state == ORCH_ST_UNHEALTHY) {
            if (!u->was_ready)
                unit_timer_stop(u); /* the readiness deadline */
            if (u->state == ORCH_ST_UNHEALTHY)
                unit_set_error(u, NULL);
            u->was_ready = true;
            orch_health_set_interval(u->health, SV_HEALTH_READY_MS);
            unit_set_state(u, ORCH_ST_READY, NULL);
        }
        return;
    }
    free(u->health_detail);
    u->health_detail = xstrdup(detail);
    if (u->state == ORCH_ST_RUNNING && !u->was_ready) {
        /* not ready yet: survey shows why at once, not at the deadline */
        char *why = xasprintf("healthcheck failing: %s", detail);
        unit_set_error(u, why);
        free(why);
    }
    if (u->state == ORCH_ST_READY && ++u->health_failures >= SV_HEALTH_UNHEALTHY_AFTER)
        unit_turn_unhealthy(u, detail);
    else if (u->state == ORCH_ST_UNHEALTHY) {
        u->health_failures++;
        char *why = xasprintf("unhealthy: %s (%u in a row)", detail, u->health_failures);
        unit_set_error(u, why);
        free(why);
    }
}

/* ---- starting ------------------------------------------------------------- */

static void on_started(void *owner, pid_t pid, const orch_error *err)
{
    unit *u = owner;
    if (!u->sv) { /* orphaned: keep nothing we did not finish starting */
        if (pid <= 0 || err)
            unit_release(u);
        return;
    }
    unit_timer_stop(u); /* TIMEOUT_START for `starting` */
    if (pid <= 0 || err) {
        /* err is the runtime's, valid during this call only: keep a copy */
        orch_error *e = err ? orch_error_new(err->code, "%s", err->msg)
                            : orch_error_new(ORCH_E_INTERNAL, "could not start");
        bool stop_asked = u->state == ORCH_ST_STOPPING && !u->start_failure;
        free(u->start_failure);
        u->start_failure = NULL;
        unit_release(u);
        if (!stop_asked) /* else the stop wins: on_released makes it `stopped` */
            unit_start_failed(u, e);
        orch_error_free(e);
        return;
    }
    u->pid = pid;
    u->transient_failures = 0;
    u->up_since_ms = uv_now(u->sv->loop);
    if (u->stop_on_start && u->adopted && !u->start_failure)
        fprintf(stderr, "orchd: service %s: stopping pid %d, left running by a previous orchd "
                        "with another spec\n", u->spec.name, (int)pid);
    if (u->stop_on_start) {
        u->stop_on_start = false;
        unit_send_stop(u);
        return;
    }
    if (u->adopted)
        fprintf(stderr, "orchd: service %s: adopted pid %d, left running by a previous orchd\n",
                u->spec.name, (int)pid);
    char detail[48];
    snprintf(detail, sizeof detail, u->adopted ? "pid %d (adopted)" : "pid %d", (int)pid);
    unit_set_state(u, ORCH_ST_RUNNING, detail);
    if (!unit_has_health(u))
        return;
    u->health = orch_health_start(u->sv->loop, u->ops, u->inst, &u->spec, &u->sv->ctx,
                                  SV_HEALTH_STARTING_MS, on_health, u);
    unit_timer_start(u, (uint64_t)readiness_deadline_s(u) * 1000, on_ready_deadline);
}

/* The runtime has not reported `started` within TIMEOUT_START: a failed
 * start, stopped as soon as there is something to stop. */
static void on_start_timeout(unit *u)
{
    u->start_failure = xasprintf("did not start within %us", u->spec.timeout_start);
    u->stop_on_start = true;
    unit_set_state(u, ORCH_ST_STOPPING, u->start_failure);
}

/* Forgets starts older than the window; true when one more would exceed
 * START_LIMIT_BURST (0: no limit). */
static bool start_limit_hit(unit *u, uint64_t now)
{
    uint64_t window = (uint64_t)u->spec.start_limit_interval * 1000;
    size_t kept = 0;
    for (size_t i = 0; i < u->n_starts; i++)
        if (now - u->starts[i] < window)
            u->starts[kept++] = u->starts[i];
    u->n_starts = kept;
    return u->spec.start_limit_burst > 0 && kept >= u->spec.start_limit_burst;
}

/* Only the last START_LIMIT_BURST starts matter: the list never grows past
 * that, and with no limit nothing is kept. */
static void record_start(unit *u, uint64_t now)
{
    size_t burst = u->spec.start_limit_burst;
    if (burst == 0)
        return;
    if (u->n_starts == burst) {
        memmove(u->starts, u->starts + 1, (burst - 1) * sizeof *u->starts);
        u->n_starts--;
    }
    xgrow((void **)&u->starts, &u->cap_starts, u->n_starts + 1, sizeof *u->starts);
    u->starts[u->n_starts++] = now;
}

const orch_runtime_ops *sv_runtime_for(const orch_supervisor *sv, const orch_service *s,
                                       char **err)
{
    if (orch_service_mode(s) != ORCH_MODE_CONTAINER)
        return sv->host_ops;
    if (!sv->container_ops && err)
        *err = xstrdup("no container runtime");
    return sv->container_ops;
}

static void unit_start(unit *u)
{
    orch_supervisor *sv = u->sv;
    uint64_t now = uv_now(sv->loop);
    unit_timer_stop(u);
    u->ignore_after = false;
    if (start_limit_hit(u, now)) {
        unit_fail(u, "start limit hit: %zu starts in %us", u->n_starts,
                  u->spec.start_limit_interval);
        return;
    }
    char *why = NULL;
    const orch_runtime_ops *ops = sv_runtime_for(u->sv, &u->spec, &why);
    if (ops && unit_has_health(u) && orch_health_check_spec(u->spec.healthcheck, &why) != 0)
        ops = NULL;
    if (!ops) {
        unit_fail(u, "%s", why);
        free(why);
        return;
    }
    orch_error *err = NULL;
    record_start(u, now);
    unit_identity_started(u);
    if (u->restart_pending) {
        u->restarts++;
        u->restart_pending = false;
    }
    u->was_ready = false;
    u->stop_on_start = false;
    free(u->start_failure);
    u->start_failure = NULL;
    unit_set_state(u, ORCH_ST_STARTING, NULL);
    orch_instance_cbs cbs = {.started = on_started, .exited = on_exited};
    orch_instance *inst = NULL;
    bool same_spec = true;
    /* After a crash of orchd, its predecessor's process may still run:
     * take it over rather than start a second copy (docs/SUPERVISION.md). */
    if (!u->adoption_tried && ops->adopt)
        inst = ops->adopt(sv->loop, &u->spec, &sv->ctx, cbs, u, &same_spec);
    u->adoption_tried = true;
    u->adopted = inst != NULL;
    if (inst && !same_spec) {
        /* It runs an older spec: stop it (on_started), then start this one. */
        u->stop_on_start = true;
        unit_set_state(u, ORCH_ST_STOPPING, "stopping the process a previous orchd started with "
                                            "another spec");
    }
    if (!inst)
        inst = ops->start(sv->loop, &u->spec, &sv->ctx, cbs, u, &err);
    if (!inst) {
        unit_start_failed(u, err);
        orch_error_free(err);
        return;
    }
    u->inst = inst;
    u->ops = ops;
    unit_timer_start(u, (uint64_t)u->spec.timeout_start * 1000, on_start_timeout);
}

/* ---- waiting for dependencies --------------------------------------------- */

static void on_wait_timeout(unit *u)
{
    char *why = NULL;
    const unit *blocker = NULL;
    switch (dg_check_deps(u, &why, &blocker)) {
    case DG_FAILED:
        unit_fail(u, "%s", why);
        free(why);
        return;
    case DG_WAIT:
        if (blocker) {
            unit_fail(u, "REQUIRES %s, which was not ready within %us (it is %s)",
                      blocker->spec.name, u->spec.readiness_timeout,
                      orch_state_name(blocker->state));
            return;
        }
        u->ignore_after = true; /* AFTER only orders: stop waiting for it */
        break;
    case DG_START:
        break;
    }
    unit_evaluate_wait(u);
}

void unit_enter_waiting(unit *u)
{
    unit_timer_stop(u);
    u->wait_since_ms = uv_now(u->sv->loop);
    u->ignore_after = false;
    unit_set_state(u, ORCH_ST_WAITING, NULL);
}

void unit_evaluate_wait(unit *u)
{
    char *why = NULL;
    const unit *blocker = NULL;
    switch (dg_check_deps(u, &why, &blocker)) {
    case DG_FAILED:
        unit_fail(u, "%s", why);
        free(why);
        return;
    case DG_START:
        if (!u->inst && !u->id_req) {
            unit_start(u);
            return;
        }
        /* the last instance is still being released, or its identity is
         * still being asked: on_released or on_identity comes back */
        break;
    case DG_WAIT:
        break;
    }
    if (u->state != ORCH_ST_WAITING)
        unit_set_state(u, ORCH_ST_WAITING, NULL);
    if (u->timer_fn == on_wait_timeout || u->inst)
        return;
    uint64_t limit = (uint64_t)u->spec.readiness_timeout * 1000;
    uint64_t waited = uv_now(u->sv->loop) - u->wait_since_ms;
    unit_timer_start(u, waited < limit ? limit - waited : 0, on_wait_timeout);
}

/* ---- the pass ------------------------------------------------------------- */

static void on_pass(uv_idle_t *idle)
{
    orch_supervisor *sv = idle->data;
    uv_idle_stop(idle);
    sv->pass_scheduled = false;
    if (sv->n_waiting > 0) {
        /* Recounted on the way; units that enter `waiting` meanwhile are
         * counted by unit_set_state as well, so the count stays >= the
         * truth. */
        sv->n_waiting = 0;
        size_t waiting = 0;
        for (size_t i = 0; i < sv->n_units; i++) {
            unit *u = sv->units[i];
            if (u->state == ORCH_ST_WAITING && u->wanted)
                unit_evaluate_wait(u);
            waiting += u->state == ORCH_ST_WAITING;
        }
        sv->n_waiting += waiting;
    }
    sv_pass_stops(sv);
    sv_fire_completed(sv);
}

/* ---- lifecycle ------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

orch_supervisor *orch_supervisor_new(uv_loop_t *loop, const orch_env_ctx *ctx)
{
    orch_supervisor *sv = xcalloc(1, sizeof *sv);
    sv->loop = loop;
    sv->state_dir = dup_or_null(ctx->state_dir);
    sv->data_dir = dup_or_null(ctx->data_dir);
    sv->project_dir = dup_or_null(ctx->project_dir);
    sv->namespace_ = xstrdup(ctx->namespace_ ? ctx->namespace_ : ORCH_DEFAULT_NAMESPACE);
    sv->port_offset = xstrdup(ctx->port_offset ? ctx->port_offset : "0");
    sv->ctx = (orch_env_ctx){.state_dir = sv->state_dir, .data_dir = sv->data_dir,
                             .project_dir = sv->project_dir, .namespace_ = sv->namespace_,
                             .port_offset = sv->port_offset,
                             .log_max_size = ctx->log_max_size, .log_keep = ctx->log_keep};
    sv->host_ops = &orch_runtime_bare;
    sv->pass_idle = xmalloc(sizeof *sv->pass_idle);
    uv_idle_init(loop, sv->pass_idle);
    sv->pass_idle->data = sv;
    return sv;
}

void orch_supervisor_set_container_runtime(orch_supervisor *sv, const orch_runtime_ops *ops)
{
    sv->container_ops = ops;
}

void orch_supervisor_set_host_runtime(orch_supervisor *sv, const orch_runtime_ops *ops)
{
    sv->host_ops = ops ? ops : &orch_runtime_bare;
}

static void shutdown_runtime(const orch_runtime_ops *ops)
{
    if (ops && ops->shutdown)
        ops->shutdown();
}

/* Each runtime once: the host runtime may be bare itself. */
void orch_supervisor_shutdown_runtimes(orch_supervisor *sv)
{
    shutdown_runtime(&orch_runtime_bare);
    if (sv->host_ops != &orch_runtime_bare)
        shutdown_runtime(sv->host_ops);
    if (sv->container_ops != &orch_runtime_bare && sv->container_ops != sv->host_ops)
        shutdown_runtime(sv->container_ops);
}

void orch_supervisor_observe(orch_supervisor *sv, orch_state_observer fn, void *arg)
{
    sv->observer = fn;
    sv->observer_arg = arg;
}

/* An instance still exists: the runtime will call back with u as owner, so
 * u stays allocated (detached from sv) until its release is done. */
static void unit_orphan(unit *u)
{
    unit_timer_close(u);
    unit_health_stop(u);
    unit_forget_commands(u);
    u->sv = NULL;
}

static void supervisor_destroy(orch_supervisor *sv)
{
    for (size_t i = 0; i < sv->n_units; i++) {
        unit *u = sv->units[i];
        if (u->inst)
            unit_orphan(u);
        else
            unit_destroy(u);
    }
    sv_free_requests(sv);
    uv_close((uv_handle_t *)sv->pass_idle, sv_free_handle);
    free(sv->units);
    free(sv->by_name);
    free(sv->state_dir);
    free(sv->data_dir);
    free(sv->project_dir);
    free(sv->port_offset);
    free(sv->namespace_);
    free(sv);
}

void orch_supervisor_free(orch_supervisor *sv)
{
    if (!sv)
        return;
    if (sv->depth > 0) { /* inside one of our callbacks: finish it first */
        sv->dying = true;
        return;
    }
    supervisor_destroy(sv);
}
