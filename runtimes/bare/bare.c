/* The bare runtime's instance lifecycle:
 *   start    resolve everything, create the cgroup, fork, and return: the
 *            child's exec report (its close-on-exec pipe) is watched on
 *            the loop, so the children of one pass exec at the same time;
 *            `started` comes from that watch, with the pid once execve
 *            succeeded or with the error the child reported (then the
 *            child is reaped like any other: it stays watched until then).
 *            At most max_pending() reports are outstanding (each holds an
 *            fd); beyond that the oldest is waited for, as orch_spawn does.
 *   exit     from the reaper; held back until `started` has been reported
 *   signal   the process group and, to reach processes that left it, every
 *            process in the cgroup
 *   release  SIGKILL whatever is left of the service, wait until the cgroup
 *            is empty, park it for the service's next start
 *            (bare/cgroup_park.h), free. A new start of the same service
 *            while that is still going on takes the cgroup over: the old
 *            release kills its leftovers once more, then leaves the
 *            tracking cgroup alone (otherwise it would kill the new
 *            instance) and only removes limit directories once empty.
 *   adopt    after a crash of orchd: the process its run record names
 *            (bare/run_record.h), if it still runs in the service's cgroup,
 *            watched through a pidfd (it is not our child, so the reaper
 *            never sees it and its exit status is unknown). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bare/bare.h"
#include "bare/launch.h"
#include "bare/log_relay.h"
#include "bare/cgroup.h"
#include "bare/cgroup_park.h"
#include "bare/run_record.h"
#include "runtime/reaper.h"
#include "runtime/usage.h"
#include "common/xalloc.h"

#define RELEASE_RETRY_MS 20
#define RELEASE_MAX_TRIES 250 /* 5 s for leftovers to die and be reaped */

struct orch_instance {
    char *name;
    pid_t pid; /* also the process group and session id */
    orch_cgroup cg;
    char *record; /* its run record's path */
    uint64_t spec_hash; /* for the run record, written once execve succeeded */
    struct fd_watch *pidfd_poll; /* adopted: the exit comes through its pidfd */
    struct fd_watch *report;     /* the child's exec report, until it came */
    orch_instance *prev_pending, *next_pending; /* while report is set */
    orch_bare_spawn_what what;   /* for the message of a failure it reports */
    int sync_rc, sync_err;       /* a report read while the loop waited */
    const char *sync_stage;
    orch_instance_cbs cbs;
    void *owner;
    orch_bare_relay *relay; /* its log relay (bare/log_relay.h), or NULL */
    pid_t adopted_relay;    /* adopted: the relay its run record names, 0: none */
    unsigned long long adopted_relay_ino;
    uv_timer_t timer; /* the `started` report (adopted, or read while
                         waiting), then release retries */

    bool watched; /* registered with the reaper, not yet reaped */
    bool started_reported;
    bool start_failed; /* `started` said it failed: its exit is not reported */
    bool exited; /* reaped; status is valid */
    int status;

    bool releasing;
    bool superseded; /* a new instance owns the cgroup now */
    int release_tries;
    orch_instance *next_releasing, *prev_releasing;
    void (*done)(void *arg);
    void *done_arg;
};

/* Its own allocation: it may close after the instance is freed. */
struct fd_watch {
    uv_poll_t poll; /* first: the handle's address is the watch's */
    int fd;
};

/* Instances whose exec report is outstanding, oldest first. */
static orch_instance *pending_head, *pending_tail;
static size_t n_pending;

static void pending_add(orch_instance *inst)
{
    inst->prev_pending = pending_tail;
    inst->next_pending = NULL;
    if (pending_tail)
        pending_tail->next_pending = inst;
    else
        pending_head = inst;
    pending_tail = inst;
    n_pending++;
}

static void pending_remove(orch_instance *inst)
{
    if (inst->prev_pending)
        inst->prev_pending->next_pending = inst->next_pending;
    else
        pending_head = inst->next_pending;
    if (inst->next_pending)
        inst->next_pending->prev_pending = inst->prev_pending;
    else
        pending_tail = inst->prev_pending;
    inst->prev_pending = inst->next_pending = NULL;
    n_pending--;
}

/* How many exec reports may be outstanding: each holds a pipe fd, and the
 * daemon's own fds must not run out (a quarter of the soft limit); and every
 * fd the daemon holds is copied into each new child's fd table (the kernel's
 * dup_fd), so many outstanding reports make every start dearer: with 4,096
 * (a start of 10,000 services) that copy was a quarter of the daemon's time.
 * 128 is far more than a few cores need to overlap the children's work. */
static size_t max_pending(void)
{
    static size_t cap;
    if (!cap) {
        struct rlimit rl;
        rlim_t soft = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
        cap = soft == RLIM_INFINITY || soft / 4 > 128 ? 128 : soft / 4 < 8 ? 8 : (size_t)soft / 4;
    }
    return cap;
}

/* Instances whose release is still in progress; doubly linked, so that a
 * fell of N services (N releases at once) removes each in O(1), not O(N). */
static orch_instance *releasing_list;

static void releasing_add(orch_instance *inst)
{
    inst->prev_releasing = NULL;
    inst->next_releasing = releasing_list;
    if (releasing_list)
        releasing_list->prev_releasing = inst;
    releasing_list = inst;
}

static void releasing_remove(orch_instance *inst)
{
    if (inst->prev_releasing)
        inst->prev_releasing->next_releasing = inst->next_releasing;
    else if (releasing_list == inst)
        releasing_list = inst->next_releasing;
    else
        return; /* not listed */
    if (inst->next_releasing)
        inst->next_releasing->prev_releasing = inst->prev_releasing;
    inst->next_releasing = inst->prev_releasing = NULL;
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

static char *cgroup_file_of(const char *name, void *cg)
{
    return orch_cgroup_file(cg, name);
}

/* A host process is known by its pid, which survey shows anyway; what its
 * cgroup uses is read now, for this survey (runtime/usage.h). */
static void bare_describe(const orch_service *svc, const orch_env_ctx *ctx,
                          const orch_instance *inst, orch_describe_put put, void *arg)
{
    (void)svc, (void)ctx;
    if (inst && inst->cg.n > 0)
        orch_usage_describe(cgroup_file_of, (void *)&inst->cg, put, arg);
}

static void on_reaped(void *owner, pid_t pid, int status)
{
    (void)pid;
    orch_instance *inst = owner;
    orch_spawn_sweep(); /* a child that had failed or was abandoned may be this one */
    inst->watched = false;
    inst->exited = true;
    inst->status = status;
    if (inst->started_reported && !inst->start_failed && !inst->releasing)
        inst->cbs.exited(inst->owner, status);
    /* else on_started delivers it right after `started` */
}

static void on_watch_closed(uv_handle_t *h)
{
    free((struct fd_watch *)h);
}

/* The fd is closed at once, not in the close callback: a pass that starts
 * thousands of services runs in one loop iteration, and every report fd
 * still open then is copied into each later child's fd table (dup_fd: a
 * start of 10,000 cost O(N^2), 23% of the daemon's time). uv_close takes
 * the fd out of epoll before it returns; only the callback waits. */
static void close_watch(struct fd_watch **wp)
{
    struct fd_watch *w = *wp;
    if (!w)
        return;
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, on_watch_closed);
    close(w->fd);
    w->fd = -1;
    *wp = NULL;
}

static void close_pidfd(orch_instance *inst)
{
    close_watch(&inst->pidfd_poll);
}

/* An adopted process ended (its pidfd became readable). */
static void on_pidfd(uv_poll_t *h, int status, int events)
{
    (void)status, (void)events;
    orch_instance *inst = h->data;
    close_pidfd(inst);
    on_reaped(inst, inst->pid, ORCH_WAIT_STATUS_UNKNOWN);
}

/* Writes the run record of a process that has exec'd; orchd works on
 * without one, it only cannot adopt the process after a crash. */
static void record_start(orch_instance *inst)
{
    orch_run_record r = {.pid = inst->pid, .start_time = orch_proc_start_time(inst->pid),
                         .spec_hash = inst->spec_hash,
                         .relay_pid = orch_bare_relay_pid(inst->relay),
                         .relay_pipe_ino = orch_bare_relay_pipe_ino(inst->relay)};
    int rc = r.start_time ? orch_run_record_write(inst->record, &r) : 0;
    if (rc < 0)
        fprintf(stderr, "orchd: service %s: cannot write %s: %s (it will not be adopted after a "
                        "crash of orchd)\n", inst->name, inst->record, strerror(-rc));
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

/* The child's report came (rc 0: it exec'd; -1: it failed at stage with
 * err): tell the owner. */
static void deliver_report(orch_instance *inst, int rc, const char *stage, int err)
{
    orch_bare_spawn_what what = inst->what;
    memset(&inst->what, 0, sizeof inst->what);
    inst->started_reported = true;
    orch_bare_relay_settle(inst->relay);
    if (rc < 0) {
        /* It exits by itself; the reaper still reaps it (it stays watched),
         * and release waits for its cgroup to empty. */
        inst->start_failed = true;
        orch_error *e = orch_bare_spawn_what_error(&what, stage, err);
        orch_bare_spawn_what_free(&what);
        inst->cbs.started(inst->owner, 0, e);
        orch_error_free(e);
        return;
    }
    orch_bare_spawn_what_free(&what);
    record_start(inst);
    inst->cbs.started(inst->owner, inst->pid, NULL);
    /* The owner may have released us in its callback; memory stays valid
     * until the timer's close callback. */
    if (inst->exited && !inst->releasing)
        inst->cbs.exited(inst->owner, inst->status);
}

static void stop_report_watch(orch_instance *inst)
{
    pending_remove(inst);
    close_watch(&inst->report);
}

static void on_report(uv_poll_t *h, int status, int events)
{
    (void)events;
    orch_instance *inst = h->data;
    const char *stage = NULL;
    int err = 0;
    int rc = orch_spawn_report(inst->report->fd, &stage, &err);
    if (rc == 1 && status == 0)
        return; /* spurious */
    if (rc == 1) /* the loop cannot watch the pipe: say so rather than hang */
        rc = -1, stage = "pipe", err = -status;
    stop_report_watch(inst);
    deliver_report(inst, rc, stage, err);
}

static void on_sync_report(uv_timer_t *t)
{
    orch_instance *inst = t->data;
    deliver_report(inst, inst->sync_rc, inst->sync_stage, inst->sync_err);
}

/* Waits (blocking, as orch_spawn would) for inst's report; delivers it from
 * a 0 timer, never inside the caller. */
static void wait_report_fd(orch_instance *inst, int fd)
{
    int rc;
    inst->sync_stage = NULL;
    inst->sync_err = 0;
    while ((rc = orch_spawn_report(fd, &inst->sync_stage, &inst->sync_err)) == 1) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, -1);
    }
    inst->sync_rc = rc;
    uv_timer_start(&inst->timer, on_sync_report, 0, 0);
}

static void wait_report(orch_instance *inst)
{
    wait_report_fd(inst, inst->report->fd);
    stop_report_watch(inst);
}

/* Deferred relays run once no service's exec report is outstanding (after
 * the last of a burst of starts), a few per loop iteration, so that the
 * supervisor reports the services running in between. A timer, only while
 * relays wait: an idle daemon has none. */
#define RELAYS_PER_TICK 16
static uv_timer_t *relay_timer;

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void on_relay_tick(uv_timer_t *h)
{
    if (n_pending > 0)
        return;
    orch_bare_relay_run_deferred(RELAYS_PER_TICK);
    if (!orch_bare_relay_any_deferred()) {
        uv_close((uv_handle_t *)h, on_timer_closed);
        relay_timer = NULL;
    }
}

/* Its relay runs now: the run record names it (if the service has exec'd). */
static void on_relay_spawned(void *arg)
{
    orch_instance *inst = arg;
    if (inst->started_reported && !inst->start_failed && !inst->releasing)
        record_start(inst);
}

/* The own log through a relay (bare/log_relay.h): the pipe now, the relay
 * once the burst of starts this one belongs to is over. Without one
 * (no relay program, or it could not start) the service writes straight
 * into the file, as it did before: no stamps, no rotation, said in the
 * daemon's log. A service whose STDOUT and STDERR both name files has no
 * own log and no relay. */
static void attach_log_relay(uv_loop_t *loop, const orch_service *svc, const orch_env_ctx *ctx,
                             orch_bare_launch *l, orch_instance *inst)
{
    if ((svc->stdout_path && svc->stderr_path) || !orch_bare_log_relay_enabled() ||
        !orch_bare_launch_writes_own_log(l, svc))
        return;
    char *path = orch_log_path_default(ctx->state_dir, ctx->namespace_, svc->name);
    char *why = NULL;
    int fd = -1;
    inst->relay = orch_bare_relay_begin(loop, svc->name, path, ctx, true, &fd, &why);
    free(path);
    if (!inst->relay) {
        fprintf(stderr, "orchd: service %s: %s; it writes into its log file directly\n",
                svc->name, why);
        free(why);
        return;
    }
    orch_bare_launch_use_log_pipe(l, svc, fd);
    orch_bare_relay_on_spawned(inst->relay, on_relay_spawned, inst);
    if (!relay_timer) {
        relay_timer = xmalloc(sizeof *relay_timer);
        uv_timer_init(loop, relay_timer);
        uv_timer_start(relay_timer, on_relay_tick, 1, 1);
    }
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
    attach_log_relay(loop, svc, ctx, &l, inst);
    char *warning = NULL;
    orch_cgroup_prepare(namespace_of(ctx), svc->name, svc, &inst->cg, &warning);
    if (warning) {
        fprintf(stderr, "orchd: service %s: %s\n", svc->name, warning);
        free(warning);
    }
    if (orch_cgroup_unpark(&inst->cg))
        inst->cg.fresh = true; /* parked empty by the last release */
    orch_cgroup_spawn_targets(&inst->cg, &l.opts.cgroup_into, &l.opts.cgroup_procs);
    supersede_releases(&inst->cg);
    /* Whatever else is still in the cgroup was left by a previous orchd (a
     * process that could not be adopted, or its children): never two copies.
     * A cgroup this start created holds nothing yet. */
    int left = inst->cg.fresh ? 0 : orch_cgroup_kill_all(&inst->cg, SIGKILL);
    if (left > 0)
        fprintf(stderr, "orchd: service %s: killed %d leftover process%s in its cgroup %s\n",
                svc->name, left, left == 1 ? "" : "es", inst->cg.dir[0]);

    while (n_pending >= max_pending())
        wait_report(pending_head);
    const char *stage;
    int report_fd;
    inst->pid = orch_spawn_begin(&l.opts, &report_fd, &stage);
    if (inst->pid < 0) {
        *err = orch_bare_spawn_error(svc, &l, stage, errno);
        orch_bare_launch_free(&l);
        orch_cgroup_remove(&inst->cg);
        orch_cgroup_free(&inst->cg);
        orch_bare_relay_end(inst->relay); /* its pipe's write end closed with l */
        free(inst);
        return NULL;
    }
    orch_reaper_watch(inst->pid, on_reaped, inst);
    inst->watched = true;
    orch_bare_spawn_what_save(&inst->what, svc, &l);
    orch_bare_launch_free(&l); /* the child has its own copies of the log fds */

    inst->name = xstrdup(svc->name);
    inst->record = orch_run_record_path(ctx, svc->name);
    inst->spec_hash = orch_run_spec_hash(svc);
    inst->cbs = cbs;
    inst->owner = owner;
    uv_timer_init(loop, &inst->timer);
    inst->timer.data = inst;
    struct fd_watch *w = xmalloc(sizeof *w);
    w->fd = report_fd;
    if (uv_poll_init(loop, &w->poll, report_fd) < 0) { /* not for a pipe; still: wait */
        free(w);
        wait_report_fd(inst, report_fd);
        close(report_fd);
        return inst;
    }
    w->poll.data = inst;
    inst->report = w;
    pending_add(inst);
    uv_poll_start(&w->poll, UV_READABLE, on_report);
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
    struct fd_watch *w = xmalloc(sizeof *w);
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
    inst->adopted_relay = r.relay_pid; /* it drains on; ended after the service */
    inst->adopted_relay_ino = r.relay_pipe_ino;
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
    if (inst->watched)
        orch_reaper_unwatch(inst->pid); /* still reaped, just not reported */
    if (inst->record)
        orch_run_record_remove(inst->record, inst->pid);
    if (inst->done)
        inst->done(inst->done_arg);
    free(inst->record);
    orch_cgroup_free(&inst->cg);
    free(inst->name);
    free(inst);
}

/* The service's processes are gone (or were killed): its relay writes
 * what is still in the pipe and ends. */
static void end_relay(orch_instance *inst)
{
    orch_bare_relay_end(inst->relay);
    inst->relay = NULL;
    orch_bare_relay_end_adopted(inst->adopted_relay, inst->adopted_relay_ino);
    inst->adopted_relay = 0;
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
        end_relay(inst);
        close_pidfd(inst);
        uv_close((uv_handle_t *)t, on_closed);
        return;
    }
    /* Most services leave nothing behind: the cgroup is empty at once and is
     * parked for the service's next start (bare/cgroup_park.h). What is left
     * is killed, and the cgroup looked at again until it is empty. */
    int left = orch_cgroup_kill_all(&inst->cg, SIGKILL);
    if (left > 0 && ++inst->release_tries < RELEASE_MAX_TRIES) {
        uv_timer_start(t, on_release_tick, RELEASE_RETRY_MS, 0);
        return;
    }
    if (left == 0) {
        orch_cgroup_park(t->loop, &inst->cg);
    } else if ((r = orch_cgroup_remove(&inst->cg)) < 0) { /* unreadable, or still busy */
        fprintf(stderr, "orchd: service %s: cannot remove cgroup %s: %s\n", inst->name,
                inst->cg.dir[0], strerror(-r));
    }
    end_relay(inst);
    close_pidfd(inst);
    uv_close((uv_handle_t *)t, on_closed);
}

static void bare_release(orch_instance *inst, void (*done)(void *arg), void *arg)
{
    inst->releasing = true;
    releasing_add(inst);
    inst->done = done;
    inst->done_arg = arg;
    if (inst->report) {
        /* Released before its exec report: it must not exec on. Still our
         * unreaped child (watched), so the pid is its own. */
        kill(inst->pid, SIGKILL);
        orch_spawn_forget(inst->report->fd);
        stop_report_watch(inst);
        orch_bare_spawn_what_free(&inst->what);
    }
    /* It stays watched until reaped (the exit is not reported while
     * releasing): kill(-pid) below is safe only while the pid is ours. */
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
    .shutdown = orch_cgroup_park_flush,
};
