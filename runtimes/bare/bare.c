/* The bare runtime's instance lifecycle:
 *   start    resolve everything, create the cgroup, fork/exec (synchronous:
 *            a failure is returned), then report `started` from a 0 timer
 *   exit     from the reaper; held back until `started` has been reported
 *   signal   the process group and, to reach processes that left it, every
 *            process in the cgroup
 *   release  SIGKILL whatever is left of the service, wait until the cgroup
 *            is empty, remove it, free. A new start of the same service
 *            while that is still going on takes the cgroup over: the old
 *            release kills its leftovers once more, then leaves the
 *            tracking cgroup alone (otherwise it would kill the new
 *            instance) and only removes limit directories once empty.
 *   adopt    after a crash of orchd: the process its run record names
 *            (bare/run_record.h), if it still runs in the service's cgroup,
 *            watched through a pidfd (it is not our child, so the reaper
 *            never sees it and its exit status is unknown). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "bare/bare.h"
#include "bare/launch.h"
#include "bare/cgroup.h"
#include "bare/run_record.h"
#include "runtime/reaper.h"
#include "common/xalloc.h"

#define RELEASE_RETRY_MS 20
#define RELEASE_MAX_TRIES 250 /* 5 s for leftovers to die and be reaped */

struct orch_instance {
    char *name;
    pid_t pid; /* also the process group and session id */
    orch_cgroup cg;
    char *record; /* its run record's path */
    struct pidfd_watch *pidfd_poll; /* adopted: the exit comes through its pidfd */
    orch_instance_cbs cbs;
    void *owner;
    uv_timer_t timer; /* the `started` report, then release retries */

    bool started_reported;
    bool exited; /* reaped; status is valid */
    int status;

    bool releasing;
    bool superseded; /* a new instance owns the cgroup now */
    int release_tries;
    orch_instance *next_releasing;
    void (*done)(void *arg);
    void *done_arg;
};

/* Its own allocation: it may close after the instance is freed. */
struct pidfd_watch {
    uv_poll_t poll; /* first: the handle's address is the watch's */
    int fd;
};

/* Instances whose release is still in progress. */
static orch_instance *releasing_list;

static void releasing_remove(orch_instance *inst)
{
    for (orch_instance **p = &releasing_list; *p; p = &(*p)->next_releasing) {
        if (*p == inst) {
            *p = inst->next_releasing;
            return;
        }
    }
}

/* Called before a new instance joins cg: finish off a previous instance's
 * leftovers in the same cgroup and make its release keep out. */
static void supersede_releases(const orch_cgroup *cg)
{
    if (cg->n == 0)
        return;
    for (orch_instance *r = releasing_list; r; r = r->next_releasing) {
        if (r->superseded || r->cg.n == 0 || strcmp(r->cg.dir[0], cg->dir[0]) != 0)
            continue;
        orch_cgroup_kill_all(&r->cg, SIGKILL);
        r->superseded = true;
    }
}

static const char *namespace_of(const orch_env_ctx *ctx)
{
    return ctx->namespace_ ? ctx->namespace_ : ORCH_DEFAULT_NAMESPACE;
}

static char *bare_log_path(const orch_service *svc, const orch_env_ctx *ctx)
{
    return orch_log_path_default(ctx->state_dir, ctx->namespace_, svc->name);
}

/* A host process is known by its pid, which survey shows anyway. */
static void bare_describe(const orch_service *svc, const orch_env_ctx *ctx,
                          const orch_instance *inst, orch_describe_put put, void *arg)
{
    (void)svc, (void)ctx, (void)inst, (void)put, (void)arg;
}

static void on_reaped(void *owner, pid_t pid, int status)
{
    orch_instance *inst = owner;
    inst->exited = true;
    inst->status = status;
    if (inst->started_reported && !inst->releasing)
        inst->cbs.exited(inst->owner, status);
    /* else on_started delivers it right after `started` */
}

static void on_pidfd_closed(uv_handle_t *h)
{
    struct pidfd_watch *w = (struct pidfd_watch *)h;
    close(w->fd);
    free(w);
}

static void close_pidfd(orch_instance *inst)
{
    if (!inst->pidfd_poll)
        return;
    uv_poll_stop(&inst->pidfd_poll->poll);
    uv_close((uv_handle_t *)&inst->pidfd_poll->poll, on_pidfd_closed);
    inst->pidfd_poll = NULL;
}

/* An adopted process ended (its pidfd became readable). */
static void on_pidfd(uv_poll_t *h, int status, int events)
{
    (void)status, (void)events;
    orch_instance *inst = h->data;
    close_pidfd(inst);
    on_reaped(inst, inst->pid, ORCH_WAIT_STATUS_UNKNOWN);
}

/* Writes the run record of a process just started; orchd works on without
 * one, it only cannot adopt the process after a crash. */
static void record_start(orch_instance *inst, const orch_service *svc, const orch_env_ctx *ctx)
{
    inst->record = orch_run_record_path(ctx, svc->name);
    orch_run_record r = {.pid = inst->pid, .start_time = orch_proc_start_time(inst->pid),
                         .spec_hash = orch_run_spec_hash(svc)};
    int rc = r.start_time ? orch_run_record_write(inst->record, &r) : 0;
    if (rc < 0)
        fprintf(stderr, "orchd: service %s: cannot write %s: %s (it will not be adopted after a "
                        "crash of orchd)\n", svc->name, inst->record, strerror(-rc));
}

static void on_started(uv_timer_t *t)
{
    orch_instance *inst = t->data;
    inst->started_reported = true;
    inst->cbs.started(inst->owner, inst->pid, NULL);
    /* The owner may have released us in its callback; memory stays valid
     * until the timer's close callback. */
    if (inst->exited && !inst->releasing)
        inst->cbs.exited(inst->owner, inst->status);
}

static orch_instance *bare_start(uv_loop_t *loop, const orch_service *svc,
                                 const orch_env_ctx *ctx, orch_instance_cbs cbs, void *owner,
                                 orch_error **err)
{
    *err = NULL;
    if (!svc->run_command) {
        orch_error_set(err, orch_error_new(ORCH_E_INVALID,
                                           "service %s: not a host service (no RUN)", svc->name));
        return NULL;
    }
    orch_bare_launch l;
    if (orch_bare_launch_prepare(svc, ctx, svc->run_command, true, &l, err) < 0)
        return NULL;

    orch_instance *inst = xcalloc(1, sizeof *inst);
    char *warning = NULL;
    orch_cgroup_prepare(namespace_of(ctx), svc->name, svc, &inst->cg, &warning);
    if (warning) {
        fprintf(stderr, "orchd: service %s: %s\n", svc->name, warning);
        free(warning);
    }
    orch_cgroup_spawn_targets(&inst->cg, &l.opts.cgroup_into, &l.opts.cgroup_procs);
    supersede_releases(&inst->cg);
    /* Whatever else is still in the cgroup was left by a previous orchd (a
     * process that could not be adopted, or its children): never two copies. */
    int left = orch_cgroup_kill_all(&inst->cg, SIGKILL);
    if (left > 0)
        fprintf(stderr, "orchd: service %s: killed %d leftover process%s in its cgroup %s\n",
                svc->name, left, left == 1 ? "" : "es", inst->cg.dir[0]);

    const char *stage;
    inst->pid = orch_spawn(&l.opts, &stage);
    if (inst->pid < 0) {
        *err = orch_bare_spawn_error(svc, &l, stage, errno);
        orch_bare_launch_free(&l);
        orch_cgroup_remove(&inst->cg);
        orch_cgroup_free(&inst->cg);
        free(inst);
        return NULL;
    }
    orch_bare_launch_free(&l);

    inst->name = xstrdup(svc->name);
    inst->cbs = cbs;
    inst->owner = owner;
    record_start(inst, svc, ctx);
    orch_reaper_watch(inst->pid, on_reaped, inst);
    uv_timer_init(loop, &inst->timer);
    inst->timer.data = inst;
    uv_timer_start(&inst->timer, on_started, 0, 0);
    return inst;
}

static orch_instance *bare_adopt(uv_loop_t *loop, const orch_service *svc,
                                 const orch_env_ctx *ctx, orch_instance_cbs cbs, void *owner,
                                 bool *same_spec)
{
    *same_spec = false;
    if (!svc->run_command)
        return NULL;
    char *path = orch_run_record_path(ctx, svc->name);
    orch_run_record r;
    int fd = -1;
    if (orch_run_record_read(path, &r) < 0 || (fd = pidfd_open(r.pid, 0)) < 0 ||
        /* checked after pidfd_open: the pidfd is the process the record means */
        orch_proc_start_time(r.pid) != r.start_time) {
        if (fd >= 0)
            close(fd);
        free(path);
        return NULL;
    }
    struct pidfd_watch *w = xmalloc(sizeof *w);
    w->fd = fd;
    if (uv_poll_init(loop, &w->poll, fd) < 0) {
        close(fd);
        free(w);
        free(path);
        return NULL;
    }
    orch_instance *inst = xcalloc(1, sizeof *inst);
    inst->pidfd_poll = w;
    w->poll.data = inst;
    char *warning = NULL;
    orch_cgroup_prepare(namespace_of(ctx), svc->name, svc, &inst->cg, &warning);
    free(warning); /* said when it was started */
    if (!orch_cgroup_has_pid(&inst->cg, r.pid)) { /* not the service's process */
        close_pidfd(inst);
        orch_cgroup_free(&inst->cg);
        free(inst);
        free(path);
        return NULL;
    }
    inst->pid = r.pid;
    inst->record = path;
    inst->name = xstrdup(svc->name);
    inst->cbs = cbs;
    inst->owner = owner;
    uv_poll_start(&w->poll, UV_READABLE, on_pidfd);
    uv_timer_init(loop, &inst->timer);
    inst->timer.data = inst;
    uv_timer_start(&inst->timer, on_started, 0, 0);
    *same_spec = r.spec_hash == orch_run_spec_hash(svc);
    return inst;
}

static int bare_signal(orch_instance *inst, int sig)
{
    int r = kill(-inst->pid, sig) == 0 ? 0 : -errno;
    if (orch_cgroup_kill_all(&inst->cg, sig) > 0)
        return 0;
    return r;
}

static void on_closed(uv_handle_t *h)
{
    orch_instance *inst = h->data;
    releasing_remove(inst);
    if (inst->record)
        orch_run_record_remove(inst->record, inst->pid);
    if (inst->done)
        inst->done(inst->done_arg);
    free(inst->record);
    orch_cgroup_free(&inst->cg);
    free(inst->name);
    free(inst);
}

/* Kills leftovers and removes the cgroup; retried until it is empty. */
static void on_release_tick(uv_timer_t *t)
{
    orch_instance *inst = t->data;
    if (!inst->exited)
        kill(-inst->pid, SIGKILL);
    int r;
    if (inst->superseded) {
        /* The tracking cgroup is the new instance's now. A limit directory
         * it does not use (its spec may differ) goes once our leftovers
         * (killed by supersede_releases) are reaped; one it uses stays
         * busy, and is left alone after the retries. */
        r = orch_cgroup_remove_limit_dirs(&inst->cg);
        if (r == -EBUSY && ++inst->release_tries < RELEASE_MAX_TRIES) {
            uv_timer_start(t, on_release_tick, RELEASE_RETRY_MS, 0);
            return;
        }
        close_pidfd(inst);
        uv_close((uv_handle_t *)t, on_closed);
        return;
    }
    orch_cgroup_kill_all(&inst->cg, SIGKILL);
    r = orch_cgroup_remove(&inst->cg);
    if (r == -EBUSY && ++inst->release_tries < RELEASE_MAX_TRIES) {
        uv_timer_start(t, on_release_tick, RELEASE_RETRY_MS, 0);
        return;
    }
    if (r < 0)
        fprintf(stderr, "orchd: service %s: cannot remove cgroup %s: %s\n", inst->name,
                inst->cg.dir[0], strerror(-r));
    close_pidfd(inst);
    uv_close((uv_handle_t *)t, on_closed);
}

static void bare_release(orch_instance *inst, void (*done)(void *arg), void *arg)
{
    inst->releasing = true;
    inst->next_releasing = releasing_list;
    releasing_list = inst;
    inst->done = done;
    inst->done_arg = arg;
    if (!inst->exited && !inst->pidfd_poll)
        orch_reaper_unwatch(inst->pid); /* still reaped, just not reported */
    uv_timer_stop(&inst->timer);
    uv_timer_start(&inst->timer, on_release_tick, 0, 0);
}

const orch_runtime_ops orch_runtime_bare = {
    .name = "bare",
    .start = bare_start,
    .adopt = bare_adopt,
    .signal = bare_signal,
    .release = bare_release,
    .exec = orch_bare_exec,
    .exec_cancel = orch_bare_exec_cancel,
    .describe = bare_describe,
    .log_path = bare_log_path,
    .identity = orch_bare_identity,
};
