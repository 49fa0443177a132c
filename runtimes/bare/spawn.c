/* fork + exec with everything decided before fork. Between fork and exec the
 * child runs only async-signal-safe code: syscalls, plus arithmetic on memory
 * prepared by the parent. Any failure goes back through a close-on-exec pipe
 * as {stage, errno}; EOF on the pipe means execve succeeded. The parent
 * need not wait for it: orch_spawn_begin returns right after fork with the
 * pipe's read end, which the caller watches on its loop (so many children
 * exec at once), orch_spawn_report reads the outcome; orch_spawn does both
 * and waits. */
#include "bare/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/xalloc.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* clone3's arguments up to `cgroup` (CLONE_ARGS_SIZE_VER2), spelt out here:
 * <linux/sched.h> clashes with glibc's <sched.h>. */
typedef struct clone3_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    uint64_t set_tid, set_tid_size, cgroup;
} clone3_args;
#define CLONE3_INTO_CGROUP 0x200000000ULL

typedef enum stage {
    STAGE_SETSID,
    STAGE_CGROUP,
    STAGE_RLIMIT,
    STAGE_OPEN,
    STAGE_DUP2,
    STAGE_SETGROUPS,
    STAGE_SETGID,
    STAGE_SETUID,
    STAGE_CHDIR,
    STAGE_EXEC,
} stage;

static const char *const stage_names[] = {
    [STAGE_SETSID] = "setsid",       [STAGE_CGROUP] = "cgroup", [STAGE_RLIMIT] = "rlimit",
    [STAGE_OPEN] = "open",           [STAGE_DUP2] = "dup2",     [STAGE_SETGROUPS] = "setgroups",
    [STAGE_SETGID] = "setgid",       [STAGE_SETUID] = "setuid", [STAGE_CHDIR] = "chdir",
    [STAGE_EXEC] = "exec",
};

typedef struct child_error {
    int stage;
    int err;
} child_error;

/* What the child needs beyond the options, all prepared before fork. */
typedef struct prepared {
    char **candidates; /* paths to try for argv[0], NULL-terminated */
    char *into_procs;  /* cgroup_into's cgroup.procs, when clone3 did not
                          start the child there; else NULL */
    int errfd;         /* write end of the error pipe */
    long max_fd;       /* bound for the close loop when close_range is missing */
} prepared;

/* ---- before fork ---- */

static const char *env_lookup(const char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (; envp && *envp; envp++)
        if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

/* Like execvpe: a name without '/' is tried in every PATH entry of the
 * child's environment (an empty entry is the current directory). */
static char **exec_candidates(const char *file, const char *const *envp)
{
    size_t n = 0, cap = 0;
    char **v = NULL;
    if (strchr(file, '/')) {
        xgrow((void **)&v, &cap, 2, sizeof *v);
        v[n++] = xstrdup(file);
    } else if (*file) {
        const char *path = env_lookup(envp, "PATH");
        if (!path)
            path = DEFAULT_PATH;
        for (const char *p = path;; p++) {
            const char *end = strchrnul(p, ':');
            int len = (int)(end - p);
            xgrow((void **)&v, &cap, n + 2, sizeof *v);
            v[n++] = len ? xasprintf("%.*s/%s", len, p, file) : xasprintf("./%s", file);
            if (!*end)
                break;
            p = end;
        }
    }
    xgrow((void **)&v, &cap, n + 1, sizeof *v);
    v[n] = NULL;
    return v;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* A pipe whose ends are both >= 3, so the child's dup2 onto 0-2 never hits
 * them (possible when orchd itself was started with stdio closed). */
static int error_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (fds[i] > 2)
            continue;
        int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3); /* O_NONBLOCK is the file's: kept */
        int saved = errno;
        close(fds[i]);
        if (moved < 0) {
            close(fds[1 - i]);
            errno = saved;
            return -1;
        }
        fds[i] = moved;
    }
    return 0;
}

/* ---- in the child: async-signal-safe only ---- */

static _Noreturn void child_fail(const prepared *p, stage s, int err)
{
    child_error ce = {s, err};
    ssize_t r;
    do
        r = write(p->errfd, &ce, sizeof ce);
    while (r < 0 && errno == EINTR);
    _exit(127);
}

static void reset_signals(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL); /* fails harmlessly for KILL, STOP, libc-internal */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static size_t format_pid(char *buf, pid_t pid)
{
    char tmp[16];
    size_t n = 0;
    unsigned long v = (unsigned long)pid;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < sizeof tmp);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\n';
    return n + 1;
}

static int join_cgroups(const char *const *procs)
{
    char buf[24];
    size_t len = format_pid(buf, getpid());
    for (; procs && *procs; procs++) {
        int fd = open(*procs, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        ssize_t w = write(fd, buf, len);
        int saved = errno;
        close(fd);
        if (w < 0) {
            errno = saved;
            return -1;
        }
    }
    return 0;
}

/* soft = hard = value. Only the kernel decides whether the hard limit may
 * rise (CAP_SYS_RESOURCE); without it setrlimit fails with EPERM. */
static int set_limit(int resource, uint64_t value)
{
    if (value == 0)
        return 0;
    struct rlimit rl = {(rlim_t)value, (rlim_t)value};
    return setrlimit(resource, &rl);
}

/* Points 0, 1, 2 at the requested fds. Every source is first copied above 2
 * so that one dup2 cannot clobber another's source (e.g. stdout_fd == 2). */
static void setup_stdio(const orch_spawn_opts *o, const prepared *p)
{
    int src[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
    int tmp[3];
    for (int i = 0; i < 3; i++) {
        int fd = src[i];
        if (fd < 0) {
            fd = open("/dev/null", i == 0 ? O_RDONLY : O_WRONLY);
            if (fd < 0)
                child_fail(p, STAGE_OPEN, errno);
        }
        tmp[i] = fcntl(fd, F_DUPFD, 3);
        if (tmp[i] < 0)
            child_fail(p, STAGE_DUP2, errno);
        if (src[i] < 0)
            close(fd);
    }
    for (int i = 0; i < 3; i++)
        if (dup2(tmp[i], i) < 0)
            child_fail(p, STAGE_DUP2, errno);
}

/* Raw syscalls: they change only this (single) thread's credentials, without
 * glibc's all-threads broadcast machinery, which has no place after fork. */
static void switch_ids(const orch_spawn_opts *o, const prepared *p)
{
    if (syscall(SYS_setgroups, o->n_groups, o->n_groups ? o->groups : NULL) < 0)
        child_fail(p, STAGE_SETGROUPS, errno);
    if (syscall(SYS_setresgid, o->gid, o->gid, o->gid) < 0)
        child_fail(p, STAGE_SETGID, errno);
    if (syscall(SYS_setresuid, o->uid, o->uid, o->uid) < 0)
        child_fail(p, STAGE_SETUID, errno);
}

/* Nothing but 0-2 may reach the service: mark every other fd close-on-exec
 * (the error pipe must stay usable until execve). */
static void close_other_fds(const prepared *p)
{
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    if (errno == EINVAL && syscall(SYS_close_range, 3U, (unsigned)p->errfd - 1, 0U) == 0 &&
        syscall(SYS_close_range, (unsigned)p->errfd + 1, ~0U, 0U) == 0)
        return;
    for (long fd = 3; fd < p->max_fd; fd++)
        if (fd != p->errfd)
            close((int)fd);
}

static void exec_candidates_in_child(const orch_spawn_opts *o, const prepared *p)
{
    int err = ENOENT;
    int saw_eacces = 0;
    for (char **c = p->candidates; *c; c++) {
        execve(*c, (char *const *)o->argv, (char *const *)o->envp);
        err = errno;
        if (err == EACCES)
            saw_eacces = 1;
        else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENODEV &&
                 err != ETIMEDOUT)
            break;
    }
    if (o->fallback_argv) {
        execve(o->fallback_argv[0], (char *const *)o->fallback_argv, (char *const *)o->envp);
        child_fail(p, STAGE_EXEC, errno);
    }
    child_fail(p, STAGE_EXEC, saw_eacces ? EACCES : err);
}

static _Noreturn void child(const orch_spawn_opts *o, const prepared *p)
{
    reset_signals();
    if (o->new_session && setsid() < 0)
        child_fail(p, STAGE_SETSID, errno);
    const char *into[] = {p->into_procs, NULL};
    if (join_cgroups(into) < 0 || join_cgroups(o->cgroup_procs) < 0)
        child_fail(p, STAGE_CGROUP, errno);
    if (set_limit(RLIMIT_NOFILE, o->limit_nofile) < 0 ||
        set_limit(RLIMIT_NPROC, o->limit_nproc) < 0)
        child_fail(p, STAGE_RLIMIT, errno);
    setup_stdio(o, p);
    if (o->set_ids)
        switch_ids(o, p);
    if (o->workdir && chdir(o->workdir) < 0)
        child_fail(p, STAGE_CHDIR, errno);
    close_other_fds(p);
    exec_candidates_in_child(o, p);
    _exit(127); /* not reached */
}

/* ---- the parent ---- */

/* A fork-like clone3 whose child starts in cgroup2 directory cgroup_fd.
 * Returns -2 when clone3 is unavailable or refuses, so that the caller forks
 * and lets the child join through cgroup.procs. The clone3 child skips
 * glibc's fork bookkeeping (atfork handlers, the thread's cached tid,
 * malloc's locks); until execve it only makes plain syscalls, which need
 * none of that. */
static pid_t clone_into(int cgroup_fd)
{
#ifdef SYS_clone3
    clone3_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE3_INTO_CGROUP;
    ca.exit_signal = SIGCHLD;
    ca.cgroup = (uint64_t)cgroup_fd;
    long r = syscall(SYS_clone3, &ca, sizeof ca);
    return r >= 0 ? (pid_t)r : -2;
#else
    (void)cgroup_fd;
    return -2;
#endif
}

/* Reads what the child has reported so far (the pipe is non-blocking):
 * 1 nothing yet, 0 execve succeeded (EOF), -1 failed (*ce filled). A report
 * is 8 bytes, written at once (far below PIPE_BUF), so it arrives whole. */
static int read_report(int fd, child_error *ce)
{
    for (;;) {
        ssize_t r = read(fd, ce, sizeof *ce);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        return r == (ssize_t)sizeof *ce ? -1 : 0; /* EOF (or an error: nothing to say) */
    }
}

pid_t orch_spawn_begin(const orch_spawn_opts *o, int *report_fd, const char **stage_out)
{
    const char *unused;
    if (!stage_out)
        stage_out = &unused;
    *stage_out = NULL;
    *report_fd = -1;

    int fds[2];
    if (error_pipe(fds) < 0) {
        *stage_out = "pipe";
        return -1;
    }
    prepared p = {
        .candidates = exec_candidates(o->argv[0], o->envp),
        .errfd = fds[1],
        .max_fd = sysconf(_SC_OPEN_MAX) > 0 ? sysconf(_SC_OPEN_MAX) : 1024,
    };
    int cgroup_fd = -1;
    if (o->cgroup_into)
        cgroup_fd = open(o->cgroup_into, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    /* Block every signal across fork so that no handler of ours (libuv's
     * writes to the loop's signal pipe) runs in the child before the child
     * has reset the dispositions. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = cgroup_fd >= 0 ? clone_into(cgroup_fd) : -2;
    if (pid == -2) {
        /* Not started in cgroup_into: the child joins it (or fails to, and
         * says why). */
        if (o->cgroup_into)
            p.into_procs = xasprintf("%s/cgroup.procs", o->cgroup_into);
        pid = fork();
    }
    if (pid == 0)
        child(o, &p);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (cgroup_fd >= 0)
        close(cgroup_fd);
    close(fds[1]);
    free_strv(p.candidates);
    free(p.into_procs);
    if (pid < 0) {
        close(fds[0]);
        *stage_out = "fork";
        errno = fork_errno;
        return -1;
    }
    *report_fd = fds[0];
    return pid;
}

int orch_spawn_report(int report_fd, const char **stage_out, int *err)
{
    child_error ce;
    int r = read_report(report_fd, &ce);
    if (r < 0) {
        *stage_out = ce.stage >= 0 && ce.stage <= STAGE_EXEC ? stage_names[ce.stage] : "exec";
        *err = ce.err;
    }
    return r;
}

pid_t orch_spawn(const orch_spawn_opts *o, const char **stage_out)
{
    const char *unused;
    if (!stage_out)
        stage_out = &unused;
    int fd;
    pid_t pid = orch_spawn_begin(o, &fd, stage_out);
    if (pid < 0)
        return -1;
    int r, err = 0;
    while ((r = orch_spawn_report(fd, stage_out, &err)) == 1) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, -1);
    }
    close(fd);
    if (r == 0)
        return pid;

    /* The child has _exit'ed or is about to: reap it here, since nobody else
     * knows this pid. ECHILD means someone reaped it already; fine. */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    errno = err;
    return -1;
}
