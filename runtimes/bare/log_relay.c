#include "bare/log_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bare/spawn.h"
#include "runtime/reaper.h"
#include "common/xalloc.h"

static const char *relay_exe, *relay_fallback;

void orch_bare_log_relay_program(const char *exe, const char *fallback)
{
    relay_exe = exe;
    relay_fallback = fallback;
}

bool orch_bare_log_relay_enabled(void)
{
    return relay_exe || relay_fallback;
}

struct orch_bare_relay {
    uv_poll_t *report_poll; /* its exec report, when it had not come at settle */
    int report_fd;          /* -1 once read (or given up) */
    int read_fd;            /* the pipe's read end, until it is spawned */
    char *path;
    char size[32], keep[16];
    orch_bare_relay *next_deferred;
    void (*on_spawned)(void *arg);
    void *on_spawned_arg;
    uv_timer_t *term_timer; /* after end: SIGTERM if it is still there */
    pid_t pid; /* 0 until spawned */
    unsigned long long pipe_ino;
    char *service;
    bool reaped, ended;
};

static orch_bare_relay *deferred_head, **deferred_tail = &deferred_head;

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void relay_free(orch_bare_relay *r)
{
    if (r->term_timer) {
        uv_timer_stop(r->term_timer);
        uv_close((uv_handle_t *)r->term_timer, on_timer_closed);
    }
    if (r->read_fd >= 0)
        close(r->read_fd);
    free(r->path);
    free(r->service);
    free(r);
}

static void on_poll_closed(uv_handle_t *h)
{
    free(h);
}

static void stop_report(orch_bare_relay *r, bool forget)
{
    if (r->report_poll) {
        uv_poll_stop(r->report_poll);
        uv_close((uv_handle_t *)r->report_poll, on_poll_closed);
        r->report_poll = NULL;
    }
    if (r->report_fd >= 0) {
        if (forget)
            orch_spawn_forget(r->report_fd);
        close(r->report_fd);
        r->report_fd = -1;
    }
}

static void on_relay_reaped(void *owner, pid_t pid, int status)
{
    (void)pid, (void)status;
    orch_bare_relay *r = owner;
    orch_spawn_sweep();
    r->reaped = true;
    if (r->ended) {
        stop_report(r, true);
        relay_free(r);
    }
}

/* Execs the relay on r's pipe; false (said in the daemon's log) when it
 * could not: the read end is closed, the service's writes then fail. */
static bool spawn(orch_bare_relay *r)
{
    const char *argv[] = {relay_exe ? relay_exe : relay_fallback, "--stdin", "--stdout", r->path,
                          "--max-size", r->size, "--keep", r->keep, NULL};
    const char *fallback[] = {relay_fallback, "log-relay", "--stdin", "--stdout", r->path,
                              "--max-size", r->size, "--keep", r->keep, NULL};
    const char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    const char *const *args = relay_exe ? argv : fallback; /* orchd itself: its verb first */
    orch_spawn_opts o = {.argv = args, .envp = envp, .stdin_fd = r->read_fd, .stdout_fd = -1,
                         .stderr_fd = 2, /* its complaints go to the daemon's log */
                         .new_session = true, /* no signal for the service reaches it */
                         .fallback_argv = relay_exe && relay_fallback ? fallback : NULL};
    const char *stage;
    pid_t pid = orch_spawn_begin(&o, &r->report_fd, &stage);
    int e = errno;
    close(r->read_fd);
    r->read_fd = -1;
    if (pid < 0) {
        r->report_fd = -1;
        fprintf(stderr, "orchd: service %s: cannot start its log relay (%s): %s; what it "
                        "writes to its log is lost until it restarts\n",
                r->service, stage, strerror(e));
        return false;
    }
    r->pid = pid;
    orch_reaper_watch(pid, on_relay_reaped, r);
    return true;
}

orch_bare_relay *orch_bare_relay_begin(uv_loop_t *loop, const char *service, const char *path,
                                       const orch_env_ctx *ctx, bool defer, int *wfd, char **why)
{
    (void)loop;
    *why = NULL;
    *wfd = -1;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        *why = xasprintf("cannot make a pipe for its log relay: %s", strerror(errno));
        return NULL;
    }
    orch_bare_relay *r = xcalloc(1, sizeof *r);
    struct stat st;
    r->pipe_ino = fstat(p[0], &st) == 0 ? (unsigned long long)st.st_ino : 0;
    r->read_fd = p[0];
    r->report_fd = -1;
    r->path = xstrdup(path);
    r->service = xstrdup(service);
    snprintf(r->size, sizeof r->size, "%llu", (unsigned long long)ctx->log_max_size);
    snprintf(r->keep, sizeof r->keep, "%u", ctx->log_keep);
    if (defer) {
        *deferred_tail = r;
        deferred_tail = &r->next_deferred;
    } else if (!spawn(r)) {
        close(p[1]);
        relay_free(r);
        *why = xasprintf("cannot start its log relay");
        return NULL;
    }
    *wfd = p[1];
    return r;
}

bool orch_bare_relay_any_deferred(void)
{
    return deferred_head != NULL;
}

void orch_bare_relay_on_spawned(orch_bare_relay *r, void (*cb)(void *arg), void *arg)
{
    r->on_spawned = cb;
    r->on_spawned_arg = arg;
}

void orch_bare_relay_run_deferred(size_t max)
{
    for (size_t n = 0; deferred_head && n < max; n++) {
        orch_bare_relay *r = deferred_head;
        deferred_head = r->next_deferred;
        if (!deferred_head)
            deferred_tail = &deferred_head;
        r->next_deferred = NULL;
        /* released before its relay ran: it still drains what the pipe holds
         * (the service's last words), then ends at end of file */
        bool ended = r->ended;
        r->ended = false;
        if (spawn(r)) {
            orch_bare_relay_settle(r);
            if (r->on_spawned)
                r->on_spawned(r->on_spawned_arg);
        }
        if (ended)
            orch_bare_relay_end(r);
    }
}

/* 1: still to come; else what it said, in the daemon's log when it failed. */
static int read_report(orch_bare_relay *r)
{
    const char *stage = NULL;
    int err = 0;
    int rc = orch_spawn_report(r->report_fd, &stage, &err);
    if (rc == 1)
        return 1;
    if (rc < 0)
        fprintf(stderr, "orchd: service %s: its log relay did not start (%s: %s); what it "
                        "writes to its log is lost until it restarts\n",
                r->service, stage ? stage : "exec", strerror(err));
    return rc;
}

static void on_report(uv_poll_t *h, int status, int events)
{
    (void)events;
    orch_bare_relay *r = h->data;
    if (read_report(r) == 1 && status == 0)
        return;
    stop_report(r, true); /* read: nothing to forget; else it lingers until it exits */
}

void orch_bare_relay_settle(orch_bare_relay *r)
{
    if (!r || r->report_fd < 0 || r->report_poll)
        return;
    if (read_report(r) != 1) {
        stop_report(r, false);
        return;
    }
    uv_loop_t *loop = orch_reaper_loop();
    uv_poll_t *p = xmalloc(sizeof *p);
    if (!loop || uv_poll_init(loop, p, r->report_fd) < 0) {
        free(p);
        stop_report(r, true); /* its image is kept until it exits */
        return;
    }
    p->data = r;
    r->report_poll = p;
    uv_poll_start(p, UV_READABLE, on_report);
}

pid_t orch_bare_relay_pid(const orch_bare_relay *r)
{
    return r ? r->pid : 0;
}

unsigned long long orch_bare_relay_pipe_ino(const orch_bare_relay *r)
{
    return r ? r->pipe_ino : 0;
}

/* How long a relay whose service is gone may take to drain and reach end
 * of file by itself before it is sent SIGTERM: only one whose pipe a
 * process outside the service's cgroup still holds should ever see it, and
 * a relay just exec'd must have installed its SIGTERM handler (which drains
 * first) by then. */
#define END_GRACE_MS 1000

static void on_term_timer(uv_timer_t *t)
{
    orch_bare_relay *r = t->data;
    if (!r->reaped) /* still our unreaped child: the pid is its own */
        kill(r->pid, SIGTERM);
}

void orch_bare_relay_end(orch_bare_relay *r)
{
    if (!r)
        return;
    r->ended = true;
    r->on_spawned = NULL;
    if (r->read_fd >= 0) /* still deferred: run_deferred spawns, then ends it */
        return;
    if (r->reaped || !r->pid) {
        stop_report(r, true);
        relay_free(r);
        return;
    }
    uv_loop_t *loop = orch_reaper_loop();
    if (!loop || r->term_timer)
        return;
    r->term_timer = xmalloc(sizeof *r->term_timer);
    uv_timer_init(loop, r->term_timer);
    r->term_timer->data = r;
    uv_timer_start(r->term_timer, on_term_timer, END_GRACE_MS, 0);
}

/* An adopted service's relay: not our child, watched through a pidfd so
 * that its end (normally at end of file, within milliseconds) stops the
 * grace timer at once. */
typedef struct adopted_end {
    uv_timer_t timer;
    uv_poll_t poll;
    int pidfd;
    int open_handles;
} adopted_end;

static void on_adopted_closed(uv_handle_t *h)
{
    adopted_end *a = h->data;
    if (--a->open_handles == 0) {
        close(a->pidfd);
        free(a);
    }
}

static void adopted_done(adopted_end *a)
{
    if (uv_is_closing((uv_handle_t *)&a->timer))
        return;
    uv_close((uv_handle_t *)&a->timer, on_adopted_closed);
    uv_close((uv_handle_t *)&a->poll, on_adopted_closed);
}

static void on_adopted_term(uv_timer_t *t)
{
    adopted_end *a = t->data;
    pidfd_send_signal(a->pidfd, SIGTERM, NULL, 0);
    adopted_done(a);
}

static void on_adopted_exit(uv_poll_t *p, int status, int events)
{
    (void)status, (void)events;
    adopted_done(p->data);
}

void orch_bare_relay_end_adopted(pid_t pid, unsigned long long pipe_ino)
{
    uv_loop_t *loop = orch_reaper_loop();
    if (pid <= 1 || !pipe_ino || !loop)
        return;
    int fd = pidfd_open(pid, 0);
    if (fd < 0)
        return; /* gone already */
    /* checked after pidfd_open: the pidfd is the process whose stdin this is */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/0", (int)pid);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISFIFO(st.st_mode) ||
        (unsigned long long)st.st_ino != pipe_ino) {
        close(fd);
        return;
    }
    adopted_end *a = xcalloc(1, sizeof *a);
    a->pidfd = fd;
    if (uv_poll_init(loop, &a->poll, fd) < 0) {
        pidfd_send_signal(fd, SIGTERM, NULL, 0); /* cannot watch it: now */
        close(fd);
        free(a);
        return;
    }
    uv_timer_init(loop, &a->timer);
    a->timer.data = a->poll.data = a;
    a->open_handles = 2;
    uv_poll_start(&a->poll, UV_READABLE, on_adopted_exit);
    uv_timer_start(&a->timer, on_adopted_term, END_GRACE_MS, 0);
}
