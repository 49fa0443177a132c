/* fork + exec with everything decided before fork. Between fork and exec the
 * child runs only raw syscalls, plus arithmetic on memory prepared by the
 * parent (on x86-64 the child is no fork but a clone3(CLONE_VM) sharing
 * orchd's memory: see "a child in the daemon's memory" below). Any failure goes back through a close-on-exec pipe
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
#include <sys/mman.h>
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
} prepared;

/* Everything a child reads, in memory of its own that outlives
 * orch_spawn_begin: a child that shares the daemon's memory (CLONE_VM,
 * below) reads it while the daemon runs on, so the caller's options are
 * copied in, together with the child's stack. Freed once the child can no
 * longer read it: when its report pipe reached EOF (it exec'd into memory
 * of its own, or it exited), or, after an error report or when the caller
 * stopped listening, once it has exited (see child_gone). */
typedef struct spawn_image {
    orch_spawn_opts o;
    prepared p;
    void *stack; /* NULL for a forked child (nothing to wait for) */
    int report_fd;
    pid_t pid;
    struct spawn_image *next_lingering;
    /* the copies o points into */
    char **argv, **envp, **fallback, **procs;
    char *workdir;
    gid_t *groups;
} spawn_image;

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

/* ---- in the child: raw system calls only ----
 *
 * The child may share the daemon's memory: it must write nothing but its own
 * stack. So no libc wrapper (they set errno, which is the daemon thread's
 * TLS); every call below is a raw syscall returning -errno. */

static long raw6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
#if defined(__x86_64__)
    register long rax __asm__("rax") = nr;
    register long rdi __asm__("rdi") = a1;
    register long rsi __asm__("rsi") = a2;
    register long rdx __asm__("rdx") = a3;
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    __asm__ volatile("syscall"
                     : "+r"(rax)
                     : "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return rax;
#else
    /* Only ever reached in a forked child (no CLONE_VM without the x86-64
     * trampoline), whose errno is its own. */
    long r = syscall(nr, a1, a2, a3, a4, a5, a6);
    return r < 0 ? -errno : r;
#endif
}
#define RAW(nr, ...) raw_call(nr, __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define raw_call(nr, a, b, c, d, e, f, ...) \
    raw6(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static _Noreturn void raw_exit(int status)
{
    for (;;)
        RAW(SYS_exit_group, status);
}

static _Noreturn void child_fail(const prepared *p, stage s, int err)
{
    child_error ce = {s, err};
    long r;
    do
        r = RAW(SYS_write, p->errfd, &ce, sizeof ce);
    while (r == -EINTR);
    raw_exit(127);
}

/* The kernel's struct sigaction for rt_sigaction (not glibc's). */
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

static void reset_signals(void)
{
    struct kernel_sigaction dfl = {SIG_DFL, 0, NULL, 0};
    for (int sig = 1; sig <= 64; sig++)
        RAW(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask); /* KILL, STOP: EINVAL, fine */
    unsigned long none = 0;
    RAW(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
}

static size_t format_pid(char *buf, long pid)
{
    char tmp[24];
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

/* 0 or -errno. */
static long join_cgroups(const char *const *procs)
{
    char buf[32];
    size_t len = format_pid(buf, RAW(SYS_getpid, 0));
    for (; procs && *procs; procs++) {
        long fd = RAW(SYS_openat, AT_FDCWD, *procs, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return fd;
        long w = RAW(SYS_write, fd, buf, len);
        RAW(SYS_close, fd);
        if (w < 0)
            return w;
    }
    return 0;
}

/* soft = hard = value. Only the kernel decides whether the hard limit may
 * rise (CAP_SYS_RESOURCE); without it setrlimit fails with EPERM. */
static long set_limit(int resource, uint64_t value)
{
    if (value == 0)
        return 0;
    struct rlimit rl = {(rlim_t)value, (rlim_t)value};
    return RAW(SYS_prlimit64, 0, resource, &rl, NULL);
}

/* Points 0, 1, 2 at the requested fds. Every source is first copied above 2
 * so that one dup2 cannot clobber another's source (e.g. stdout_fd == 2). */
static void setup_stdio(const orch_spawn_opts *o, const prepared *p)
{
    int src[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
    long tmp[3];
    for (int i = 0; i < 3; i++) {
        long fd = src[i];
        if (fd < 0) {
            fd = RAW(SYS_openat, AT_FDCWD, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY);
            if (fd < 0)
                child_fail(p, STAGE_OPEN, (int)-fd);
        }
        tmp[i] = RAW(SYS_fcntl, fd, F_DUPFD, 3);
        if (tmp[i] < 0)
            child_fail(p, STAGE_DUP2, (int)-tmp[i]);
        if (src[i] < 0)
            RAW(SYS_close, fd);
    }
    for (int i = 0; i < 3; i++) {
        long r = RAW(SYS_dup2, tmp[i], i);
        if (r < 0)
            child_fail(p, STAGE_DUP2, (int)-r);
    }
}

/* They change only this task's credentials, without glibc's all-threads
 * broadcast machinery, which has no place here. */
static void switch_ids(const orch_spawn_opts *o, const prepared *p)
{
    long r;
    if ((r = RAW(SYS_setgroups, o->n_groups, o->n_groups ? o->groups : NULL)) < 0)
        child_fail(p, STAGE_SETGROUPS, (int)-r);
    if ((r = RAW(SYS_setresgid, o->gid, o->gid, o->gid)) < 0)
        child_fail(p, STAGE_SETGID, (int)-r);
    if ((r = RAW(SYS_setresuid, o->uid, o->uid, o->uid)) < 0)
        child_fail(p, STAGE_SETUID, (int)-r);
}

/* Nothing but 0-2 may reach the service: mark every other fd close-on-exec
 * (the error pipe must stay usable until execve). */
static void close_other_fds(const prepared *p)
{
    long r = RAW(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    if (r == 0)
        return;
    if (r == -EINVAL && RAW(SYS_close_range, 3U, (unsigned)p->errfd - 1, 0U) == 0 &&
        RAW(SYS_close_range, (unsigned)p->errfd + 1, ~0U, 0U) == 0)
        return;
    /* No close_range (before Linux 5.9): up to the fd limit, asked now (a
     * raw syscall, safe here) rather than by the parent on every spawn. */
    struct rlimit rl;
    long max_fd = RAW(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                          rl.rlim_cur < 1048576
                      ? (long)rl.rlim_cur
                      : 1048576;
    for (long fd = 3; fd < max_fd; fd++)
        if (fd != p->errfd)
            RAW(SYS_close, fd);
}

static void exec_candidates_in_child(const orch_spawn_opts *o, const prepared *p)
{
    int err = ENOENT;
    int saw_eacces = 0;
    for (char **c = p->candidates; *c; c++) {
        err = (int)-RAW(SYS_execve, *c, o->argv, o->envp);
        if (err == EACCES)
            saw_eacces = 1;
        else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENODEV &&
                 err != ETIMEDOUT)
            break;
    }
    if (o->fallback_argv)
        child_fail(p, STAGE_EXEC,
                   (int)-RAW(SYS_execve, o->fallback_argv[0], o->fallback_argv, o->envp));
    child_fail(p, STAGE_EXEC, saw_eacces ? EACCES : err);
}

static _Noreturn void child(const orch_spawn_opts *o, const prepared *p)
{
    long r;
    reset_signals();
    if (o->new_session && (r = RAW(SYS_setsid, 0)) < 0)
        child_fail(p, STAGE_SETSID, (int)-r);
    const char *into[] = {p->into_procs, NULL};
    if ((r = join_cgroups(into)) < 0 || (r = join_cgroups(o->cgroup_procs)) < 0)
        child_fail(p, STAGE_CGROUP, (int)-r);
    if ((r = set_limit(RLIMIT_NOFILE, o->limit_nofile)) < 0 ||
        (r = set_limit(RLIMIT_NPROC, o->limit_nproc)) < 0)
        child_fail(p, STAGE_RLIMIT, (int)-r);
    setup_stdio(o, p);
    if (o->set_ids)
        switch_ids(o, p);
    if (o->workdir && (r = RAW(SYS_chdir, o->workdir)) < 0)
        child_fail(p, STAGE_CHDIR, (int)-r);
    close_other_fds(p);
    exec_candidates_in_child(o, p);
    raw_exit(127); /* not reached */
}

/* ---- the parent ---- */

static size_t strv_len(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static char **strv_dup(const char *const *v)
{
    if (!v)
        return NULL;
    size_t n = strv_len(v);
    char **c = xcalloc(n + 1, sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i] = xstrdup(v[i]);
    return c;
}

static size_t n_images; /* held, in by_fd or lingering */

static void stack_put(void *stack);

static void image_free(spawn_image *im)
{
    n_images--;
    free_strv(im->p.candidates);
    free(im->p.into_procs);
    free_strv(im->argv);
    free_strv(im->envp);
    free_strv(im->fallback);
    free_strv(im->procs);
    free(im->workdir);
    free(im->groups);
    if (im->stack)
        stack_put(im->stack);
    free(im);
}

static spawn_image *image_new(const orch_spawn_opts *o)
{
    spawn_image *im = xcalloc(1, sizeof *im);
    n_images++;
    im->o = *o;
    im->report_fd = -1;
    im->o.argv = (const char *const *)(im->argv = strv_dup(o->argv));
    im->o.envp = (const char *const *)(im->envp = strv_dup(o->envp));
    im->o.fallback_argv = (const char *const *)(im->fallback = strv_dup(o->fallback_argv));
    im->o.cgroup_procs = (const char *const *)(im->procs = strv_dup(o->cgroup_procs));
    im->o.workdir = im->workdir = o->workdir ? xstrdup(o->workdir) : NULL;
    if (o->n_groups) {
        im->groups = xcalloc(o->n_groups, sizeof *im->groups);
        memcpy(im->groups, o->groups, o->n_groups * sizeof *im->groups);
    }
    im->o.groups = im->groups;
    im->o.cgroup_into = NULL; /* the parent's business */
    return im;
}

/* Images of children that may still read them, by report fd; and those
 * whose report fd is gone (an error was reported, or the caller stopped
 * listening), waiting for the child to exit. */
static spawn_image **by_fd;
static size_t by_fd_cap;
static spawn_image *lingering;

size_t orch_spawn_images_held(void)
{
    return n_images;
}

static void linger(spawn_image *im)
{
    if (!im->stack) { /* nothing shares it: the child had a copy */
        image_free(im);
        return;
    }
    im->next_lingering = lingering;
    lingering = im;
}

static spawn_image *take_by_fd(int fd)
{
    if (fd < 0 || (size_t)fd >= by_fd_cap)
        return NULL;
    spawn_image *im = by_fd[fd];
    by_fd[fd] = NULL;
    return im;
}

/* Whether the child of im can no longer run: it has exited (a zombie), or
 * it is no child of ours any more (reaped; ECHILD). A pid reused meanwhile
 * by a new child of ours only keeps the image longer, never frees it early.
 * Not a pidfd: one more fd per outstanding start makes every clone's fd
 * table copy dearer (bare.c, max_pending). */
static bool child_gone(const spawn_image *im)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)im->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD;
    return si.si_pid == im->pid;
}

/* Frees the lingering images whose child has exited. */
void orch_spawn_sweep(void)
{
    for (spawn_image **pp = &lingering; *pp;) {
        spawn_image *im = *pp;
        if (child_gone(im)) {
            *pp = im->next_lingering;
            image_free(im);
        } else {
            pp = &im->next_lingering;
        }
    }
}

/* A fork-like clone3 whose child starts in cgroup2 directory cgroup_fd.
 * Returns -2 when clone3 is unavailable or refuses, so that the caller forks
 * and lets the child join through cgroup.procs. The clone3 child skips
 * glibc's fork bookkeeping (atfork handlers, the thread's cached tid,
 * malloc's locks); until execve it only makes raw syscalls, which need
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

/* ---- a child in the daemon's memory ----
 *
 * A fork copies the daemon's page tables, and every page either side then
 * writes is a copy-on-write fault; the child's execve then tears its copy
 * down again. For a start of many services that was most of the daemon's
 * time (perf: copy_process, do_wp_page, exit_mmap). With CLONE_VM the child
 * runs in the daemon's memory, on a stack of its own, while the daemon goes
 * on (no CLONE_VFORK: waiting for each exec is what orch_spawn_begin avoids;
 * measured, a vfork-style wait made a start of 300 services 1.5x slower).
 * The child reads only its spawn_image and writes only its stack (raw
 * syscalls, above); the image lives until the child cannot read it any
 * more. x86-64 only (the stack switch is a few instructions of assembly);
 * elsewhere, and where the kernel refuses, the child is forked. */
#if defined(__x86_64__) && defined(SYS_clone3)
#define HAVE_VM_CLONE 1
#define CLONE3_VM 0x00000100ULL
#define VM_CHILD_STACK (32 * 1024)

static _Noreturn void vm_child_main(spawn_image *im)
{
    child(&im->o, &im->p);
}

/* clone3 onto a new stack: the child calls fn(arg) there and never returns
 * (if fn did, the child would exit 127). The parent gets the pid or -errno. */
static long clone3_on_stack(clone3_args *ca, void (*fn)(spawn_image *), spawn_image *arg)
{
    register long rax __asm__("rax") = SYS_clone3;
    register clone3_args *rdi __asm__("rdi") = ca;
    register size_t rsi __asm__("rsi") = sizeof *ca;
    register void (*r12)(spawn_image *) __asm__("r12") = fn;
    register spawn_image *r13 __asm__("r13") = arg;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "mov %%r13, %%rdi\n\t"
                     "and $-16, %%rsp\n\t"
                     "call *%%r12\n\t"
                     "mov $231, %%eax\n\t"
                     "mov $127, %%edi\n\t"
                     "syscall\n\t"
                     "1:\n\t"
                     : "+r"(rax)
                     : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
                     : "rcx", "r11", "memory", "cc");
    return rax;
}

/* Child stacks are mappings of their own, unmapped when done, except a few
 * kept for reuse: out of the heap, each child's touched pages would stay in
 * orchd's resident memory after free (measured: +1.3 MB RSS after a start
 * of 100). */
#define STACKS_KEPT 8
static void *stacks_kept[STACKS_KEPT];
static size_t n_stacks_kept;

static void *stack_get(void)
{
    if (n_stacks_kept)
        return stacks_kept[--n_stacks_kept];
    void *s = mmap(NULL, VM_CHILD_STACK, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    return s == MAP_FAILED ? NULL : s;
}

static void stack_put(void *stack)
{
    if (n_stacks_kept < STACKS_KEPT)
        stacks_kept[n_stacks_kept++] = stack;
    else
        munmap(stack, VM_CHILD_STACK);
}

/* The child's pid, or -2 when the kernel refuses (then it is forked). */
static pid_t clone_vm(int cgroup_fd, spawn_image *im)
{
    im->stack = stack_get();
    if (!im->stack)
        return -2;
    clone3_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE3_VM | (cgroup_fd >= 0 ? CLONE3_INTO_CGROUP : 0);
    ca.exit_signal = SIGCHLD;
    ca.stack = (uint64_t)(uintptr_t)im->stack;
    ca.stack_size = VM_CHILD_STACK;
    ca.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0;
    long r = clone3_on_stack(&ca, vm_child_main, im);
    if (r < 0) {
        stack_put(im->stack);
        im->stack = NULL;
        return -2;
    }
    im->pid = (pid_t)r;
    return (pid_t)r;
}

/* ORCH_SPAWN_FORK=1 in the daemon's environment forks instead (to compare,
 * or to rule this out). */
static bool vm_clone_wanted(void)
{
    static int wanted = -1;
    if (wanted < 0) {
        const char *v = getenv("ORCH_SPAWN_FORK");
        wanted = !(v && strcmp(v, "1") == 0);
    }
    return wanted;
}
#else
#define HAVE_VM_CLONE 0
static void stack_put(void *stack)
{
    (void)stack; /* never allocated here */
}
#endif

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
    orch_spawn_sweep();

    int fds[2];
    if (error_pipe(fds) < 0) {
        *stage_out = "pipe";
        return -1;
    }
    /* A previous child's image under this fd number: its caller closed the
     * pipe without a final report. */
    spawn_image *old = take_by_fd(fds[0]);
    if (old)
        linger(old);

    spawn_image *im = image_new(o);
    im->p = (prepared){
        .candidates = exec_candidates(o->argv[0], o->envp),
        .errfd = fds[1],
    };
    int cgroup_fd = -1;
    if (o->cgroup_into)
        cgroup_fd = open(o->cgroup_into, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    /* Block every signal across the clone so that no handler of ours
     * (libuv's writes to the loop's signal pipe) runs in the child before the
     * child has reset the dispositions. */
    sigset_t all, old_mask;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_mask);
    pid_t pid = -2;
#if HAVE_VM_CLONE
    /* In the order of what they cost: shared memory, started in the cgroup
     * (or joining it when its directory could not be opened); a copy
     * started in the cgroup; a copy that joins through cgroup.procs. */
    if (vm_clone_wanted()) {
        if (o->cgroup_into && cgroup_fd < 0)
            im->p.into_procs = xasprintf("%s/cgroup.procs", o->cgroup_into);
        pid = clone_vm(cgroup_fd, im);
    }
#endif
    if (pid == -2 && cgroup_fd >= 0)
        pid = clone_into(cgroup_fd);
    if (pid == -2) {
        /* Not started in cgroup_into: the child joins it (or fails to, and
         * says why). */
        if (o->cgroup_into && !im->p.into_procs)
            im->p.into_procs = xasprintf("%s/cgroup.procs", o->cgroup_into);
        pid = fork();
    }
    if (pid == 0)
        child(&im->o, &im->p);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);

    if (cgroup_fd >= 0)
        close(cgroup_fd);
    close(fds[1]);
    if (pid < 0) {
        image_free(im);
        close(fds[0]);
        *stage_out = "fork";
        errno = fork_errno;
        return -1;
    }
    if (!im->stack) {
        image_free(im); /* a forked child has its own copy */
    } else {
        im->report_fd = fds[0];
        size_t had = by_fd_cap;
        xgrow((void **)&by_fd, &by_fd_cap, (size_t)fds[0] + 1, sizeof *by_fd);
        memset(by_fd + had, 0, (by_fd_cap - had) * sizeof *by_fd);
        by_fd[fds[0]] = im;
    }
    *report_fd = fds[0];
    return pid;
}

void orch_spawn_forget(int report_fd)
{
    spawn_image *im = take_by_fd(report_fd);
    if (im)
        linger(im);
}

int orch_spawn_report(int report_fd, const char **stage_out, int *err)
{
    child_error ce;
    int r = read_report(report_fd, &ce);
    if (r == 1)
        return 1;
    spawn_image *im = take_by_fd(report_fd);
    if (r == 0 && im) /* EOF: the child exec'd or exited, its memory is its own */
        image_free(im);
    else if (im) /* it reported an error and is about to exit */
        linger(im);
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
    orch_spawn_sweep();
    errno = err;
    return -1;
}
