/* Helper commands (HEALTHCHECK, STOP, RELOAD) of a host service: the ops
 * table's exec. `/bin/sh -c command` with the service's environment, USER,
 * WORKDIR and rlimits, output appended to the service's STDOUT/STDERR files
 * (/dev/null when they cannot be opened), in its own session and process
 * group, so a timeout or a cancel kills everything it started. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "bare/bare.h"
#include "bare/launch.h"
#include "common/xalloc.h"
#include "runtime/reaper.h"

struct orch_exec {
    pid_t pid;
    uv_timer_t timer; /* the timeout, then the report */
    orch_exec_cb cb;
    void *owner;
    bool done; /* reported or cancelled: only the close is left */
};

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void finish(orch_exec *x, const orch_exec_result *r)
{
    x->done = true;
    uv_timer_stop(&x->timer);
    uv_close((uv_handle_t *)&x->timer, on_closed);
    if (r)
        x->cb(x->owner, r);
}

static void kill_group(pid_t pid)
{
    orch_reaper_unwatch(pid); /* still reaped, just not reported */
    if (kill(-pid, SIGKILL) < 0 && errno == ESRCH)
        kill(pid, SIGKILL);
}

static void on_reaped(void *owner, pid_t pid, int status)
{
    orch_exec *x = owner;
    if (x->done)
        return;
    orch_exec_result r = {.status = status};
    finish(x, &r);
}

static void on_timeout(uv_timer_t *t)
{
    orch_exec *x = t->data;
    kill_group(x->pid);
    orch_exec_result r = {.timed_out = true};
    finish(x, &r);
}

orch_exec *orch_bare_exec(orch_instance *inst, const orch_service *svc, const orch_env_ctx *ctx,
                          const char *command, uint64_t timeout_ms, orch_exec_cb cb, void *owner,
                          char **err)
{
    (void)inst; /* a host command needs only the service's settings */
    *err = NULL;
    orch_bare_launch l;
    orch_error *e = NULL;
    if (orch_bare_launch_prepare(svc, ctx, command, false, &l, &e) < 0) {
        *err = orch_error_take_msg(e);
        return NULL;
    }
    const char *stage;
    pid_t pid = orch_spawn(&l.opts, &stage);
    if (pid < 0) {
        *err = orch_error_take_msg(orch_bare_spawn_error(svc, &l, stage, errno));
        orch_bare_launch_free(&l);
        return NULL;
    }
    orch_bare_launch_free(&l);
    orch_exec *x = xcalloc(1, sizeof *x);
    x->pid = pid;
    x->cb = cb;
    x->owner = owner;
    uv_timer_init(orch_reaper_loop(), &x->timer);
    x->timer.data = x;
    if (timeout_ms > 0)
        uv_timer_start(&x->timer, on_timeout, timeout_ms, 0);
    /* An exit already reaped is reported from here, later: never inside. */
    orch_reaper_watch(pid, on_reaped, x);
    return x;
}

void orch_bare_exec_cancel(orch_exec *x)
{
    if (!x || x->done)
        return;
    kill_group(x->pid);
    finish(x, NULL);
}
