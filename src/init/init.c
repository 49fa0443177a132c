/* orchd init: process 1 (init.h, docs/PID1.md).
 *
 * One loop over sigtimedwait(2) with every signal it handles blocked: no
 * event library, no threads, no file descriptors of its own. Children:
 *   daemon  `orchd daemon ...`, restarted with a backoff when it dies;
 *   booter  a fork that checks the Orchfile (printing its errors), tells us
 *           the stop bound through a pipe, waits until the daemon listens and
 *           then execs `orchd grow ...`;
 *   anything else is an orphan and is just reaped.
 * Shutdown: SIGTERM to the daemon (it stops every service in reverse
 * dependency order), bounded by the sum of the stop timeouts; then SIGTERM
 * and SIGKILL to whatever is left (kill(-1)); sync; unmount; reboot(2). */
#include "init/init.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/settings.h"
#include "orchfile/orchfile.h"
#include "common/xalloc.h"
#include "init/cmdline.h"
#include "init/machine.h"

#define RESTART_MIN_MS 1000u
#define RESTART_MAX_MS 30000u
#define STABLE_MS 30000u       /* a daemon that lived this long restarts quickly again */
#define STOP_MARGIN_S 15u      /* added to the sum of the stop timeouts */
#define STOP_RELEASE_S 5u      /* per service: SIGKILL and cgroup release after TIMEOUT_STOP */
#define STOP_DEFAULT_S 60u     /* when the Orchfile could not be read */
#define TERM_GRACE_MS 5000u    /* SIGTERM to everything left, then SIGKILL */
#define KILL_GRACE_MS 3000u

/* Exit codes of the booter before it execs grow. */
#define BOOT_INVALID 3  /* the Orchfile is missing or invalid */
#define BOOT_NO_DAEMON 4 /* the daemon died before listening */

enum kind { KIND_NONE, KIND_POWEROFF, KIND_HALT, KIND_REBOOT };
enum phase { PH_RUN, PH_STOP_DAEMON, PH_TERM_ALL, PH_KILL_ALL, PH_DONE };

static struct {
    const orch_init_opts *o;
    bool machine; /* the machine's own pid namespace: reboot(2) at the end */
    char self[PATH_MAX];
    orch_settings s;
    bool have_settings;
    char **args; /* the resolved settings as flags, for daemon and grow */
    size_t n_args;

    pid_t daemon, booter;
    bool daemon_clean; /* during the shutdown: it exited 0 */
    uint64_t daemon_started;
    uint64_t backoff;
    uint64_t restart_at; /* 0: none scheduled */
    bool restart_grow;
    int bound_fd;       /* the booter's stop bound arrives here */
    unsigned bound_s;

    enum kind kind;
    enum phase phase;
    uint64_t deadline;
} I = {.bound_fd = -1, .bound_s = STOP_DEFAULT_S};

static const int handled[] = {SIGCHLD, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGPWR,
                              SIGHUP,  SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGALRM};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double since_boot_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *kind_name(enum kind k)
{
    switch (k) {
    case KIND_POWEROFF: return "power off";
    case KIND_HALT: return "halt";
    case KIND_REBOOT: return "reboot";
    default: return "?";
    }
}

static void describe(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with code %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "was killed by SIG%s",
                 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
    else
        snprintf(buf, len, "ended with status %#x", (unsigned)status);
}

static void noop_handler(int sig)
{
    (void)sig;
}

/* A child of process 1 starts with the signals as a normal program has them. */
static void child_reset(void)
{
    for (size_t i = 0; i < sizeof handled / sizeof *handled; i++)
        signal(handled[i], SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static bool has_children(void)
{
    siginfo_t si;
    return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 || errno != ECHILD;
}

/* ---- settings --------------------------------------------------------------- */

static void add_arg(const char *flag, const char *value)
{
    I.args = xrealloc(I.args, (I.n_args + 3) * sizeof *I.args);
    I.args[I.n_args++] = xstrdup(flag);
    I.args[I.n_args++] = xstrdup(value);
    I.args[I.n_args] = NULL;
}

/* Resolves the settings once, exactly as `orchd grow` would, and hands the
 * results to daemon and grow as flags so both agree whatever the
 * environment and .orchrc files say. */
static bool resolve_settings(const char *orchfile, const char *state_dir)
{
    char *argv[4];
    int argc = 0;
    argv[argc++] = (char *)"--orchfile";
    argv[argc++] = (char *)orchfile;
    if (state_dir) {
        argv[argc++] = (char *)"--state-dir";
        argv[argc++] = (char *)state_dir;
    }
    if (orch_settings_parse(&I.s, "init", "", argc, argv) != 0) {
        orch_settings_free(&I.s);
        return false;
    }
    I.have_settings = true;
    add_arg("--orchfile", I.s.orchfile);
    add_arg("--state-dir", I.s.state_dir);
    add_arg("--data-dir", I.s.data_dir);
    add_arg("--project-dir", I.s.project_dir);
    add_arg("--namespace", I.s.namespace_);
    add_arg("--containerd-socket", I.s.containerd_socket);
    add_arg("--runtime", I.s.runtime);
    add_arg("--vm-kernel", I.s.vm_kernel);
    return true;
}

static void exec_self(const char *verb)
{
    char **argv = xcalloc(I.n_args + 3, sizeof *argv);
    argv[0] = (char *)"orchd";
    argv[1] = (char *)verb;
    for (size_t i = 0; i < I.n_args; i++)
        argv[i + 2] = I.args[i];
    execv(I.self, argv);
    fprintf(stderr, "orchd-init: cannot run %s %s: %s\n", I.self, verb, strerror(errno));
    _exit(127);
}

/* ---- leftovers of a dead daemon ---------------------------------------------- */

/* SIGKILLs every process listed below dir (recursively); returns how many.
 * *found is set when dir exists. */
static int kill_tree(const char *dir, int depth, bool *found)
{
    int n = 0;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= (int)sizeof path)
        return 0; /* deeper than any cgroup orchd makes */
    FILE *f = fopen(path, "re");
    if (f) {
        *found = true;
        long pid;
        while (fscanf(f, "%ld", &pid) == 1)
            if (pid > 1 && pid != (long)getpid() && kill((pid_t)pid, SIGKILL) == 0)
                n++;
        fclose(f);
    }
    if (depth > 8)
        return n;
    DIR *d = opendir(dir);
    if (!d)
        return n;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        n += kill_tree(path, depth + 1, found);
    }
    closedir(d);
    return n;
}

/* Our own path in a hierarchy from /proc/self/cgroup (ctrl NULL: v2). */
static bool own_cgroup(const char *ctrl, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        if (ctrl) {
            char *save = NULL;
            for (char *t = strtok_r(c1 + 1, ",", &save); t; t = strtok_r(NULL, ",", &save))
                found = found || strcmp(t, ctrl) == 0;
        } else {
            found = c1 == line + 1 && line[0] == '0' && c1[1] == '\0';
        }
        if (found)
            snprintf(out, len, "%s", strcmp(c2 + 1, "/") == 0 ? "" : c2 + 1);
    }
    fclose(f);
    return found;
}

/* Without cgroups: every process (but us) whose environment says
 * ORCH_SERVICE=..., which every service and helper command gets. */
static int kill_by_environ(void)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    static char env[65536];
    while ((e = readdir(d))) {
        long pid = strtol(e->d_name, NULL, 10);
        if (pid <= 1 || pid == (long)getpid())
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/environ", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, env, sizeof env - 1);
        close(fd);
        if (len <= 0)
            continue;
        env[len] = '\0';
        for (char *p = env; p < env + len; p += strlen(p) + 1) {
            if (strncmp(p, "ORCH_SERVICE=", 13) == 0) {
                n += kill((pid_t)pid, SIGKILL) == 0;
                break;
            }
        }
    }
    closedir(d);
    return n;
}

/* The host services of a dead daemon are orphans now (ours); a new daemon
 * starts them again, so kill what is left in their cgroups first
 * (RUNTIME-BARE.md: <own>/orchd/<namespace>/<service>, per hierarchy), or,
 * where no such cgroup exists, every process carrying ORCH_SERVICE in its
 * environment. Only processes of our pid namespace are visible, so nothing
 * of another namespace's orchd is touched. */
static void kill_leftovers(void)
{
    if (!I.have_settings)
        return;
    static const char *const v1[] = {"pids", "memory", "cpu", "blkio"};
    int total = 0;
    for (int round = 0; round < 5; round++) {
        int n = 0;
        bool found = false;
        char own[PATH_MAX], dir[PATH_MAX * 2];
        if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
            if (own_cgroup(NULL, own, sizeof own)) {
                snprintf(dir, sizeof dir, "/sys/fs/cgroup%s/orchd/%s", own, I.s.namespace_);
                n += kill_tree(dir, 0, &found);
            }
        } else {
            for (size_t i = 0; i < sizeof v1 / sizeof *v1; i++) {
                if (!own_cgroup(v1[i], own, sizeof own))
                    continue;
                snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s%s/orchd/%s", v1[i], own,
                         I.s.namespace_);
                n += kill_tree(dir, 0, &found);
            }
        }
        if (!found)
            n += kill_by_environ();
        if (n == 0)
            break;
        total += n;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (total > 0)
        init_log("killed %d leftover process%s of the dead daemon's services", total,
                 total == 1 ? "" : "es");
}

/* ---- children ----------------------------------------------------------------- */

static void read_bound(void)
{
    if (I.bound_fd < 0)
        return;
    static uint32_t b; /* static: GCC 12 sees a dangling pointer otherwise */
    if (read(I.bound_fd, &b, sizeof b) == (ssize_t)sizeof b)
        I.bound_s = b;
    close(I.bound_fd);
    I.bound_fd = -1;
}

/* The booter: a fork of process 1 that never returns. Loading the Orchfile
 * here keeps the parser out of process 1 itself. */
static void boot_child(int ready_fd, int bound_fd)
{
    child_reset();
    const char *files[] = {I.s.orchfile};
    orch_load_opts lo = {.files = files, .n_files = 1};
    orch_diags dg;
    orch_diags_init(&dg);
    orch_model m;
    if (orch_load(&lo, &m, &dg) != 0) {
        for (size_t i = 0; i < dg.n; i++) {
            char *line = orch_diag_format(&dg.items[i]);
            fprintf(stderr, "orchd-init: %s\n", line);
            free(line);
        }
        char *more = orch_diags_more(&dg);
        if (more)
            fprintf(stderr, "orchd-init: %s\n", more);
        free(more);
        _exit(BOOT_INVALID);
    }
    uint32_t bound = STOP_MARGIN_S;
    for (size_t i = 0; i < m.n_services; i++)
        bound += m.services[i].timeout_stop + STOP_RELEASE_S;
    if (write(bound_fd, &bound, sizeof bound) < 0) {
        /* process 1 then uses its default bound */
    }
    close(bound_fd);
    orch_model_free(&m);
    orch_diags_free(&dg);
    char c;
    ssize_t r;
    do
        r = read(ready_fd, &c, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1)
        _exit(BOOT_NO_DAEMON);
    close(ready_fd);
    exec_self("grow");
}

static void schedule_restart(uint64_t delay_ms, bool grow)
{
    I.restart_at = now_ms() + delay_ms;
    I.restart_grow = grow;
}

static void spawn_daemon(bool grow)
{
    if (I.booter > 0) {
        kill(I.booter, SIGTERM); /* an older grow; reaped as an orphan */
        I.booter = 0;
    }
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) {
        init_log("cannot start the daemon: pipe: %s", strerror(errno));
        schedule_restart(RESTART_MAX_MS, grow);
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        init_log("cannot start the daemon: fork: %s", strerror(errno));
        close(ready[0]);
        close(ready[1]);
        schedule_restart(RESTART_MAX_MS, grow);
        return;
    }
    if (pid == 0) {
        child_reset();
        setsid();
        close(ready[0]);
        fcntl(ready[1], F_SETFD, 0);
        char num[16];
        snprintf(num, sizeof num, "%d", ready[1]);
        setenv("ORCH_READY_FD", num, 1);
        snprintf(num, sizeof num, "%d", (int)getppid());
        setenv("ORCH_INIT_PID", num, 1);
        exec_self("daemon");
    }
    close(ready[1]);
    I.daemon = pid;
    I.daemon_started = now_ms();
    init_log("started the daemon (pid %d)%s", (int)pid, grow ? "" : ", idle");
    if (grow) {
        int bp[2];
        if (pipe2(bp, O_CLOEXEC | O_NONBLOCK) != 0) {
            init_log("cannot grow %s: pipe: %s", I.s.orchfile, strerror(errno));
        } else {
            pid_t b = fork();
            if (b == 0) {
                close(bp[0]);
                boot_child(ready[0], bp[1]);
            }
            close(bp[1]);
            if (b > 0) {
                if (I.bound_fd >= 0)
                    close(I.bound_fd);
                I.bound_fd = bp[0];
                I.booter = b;
                init_log("growing %s", I.s.orchfile);
            } else {
                close(bp[0]);
                init_log("cannot grow %s: fork: %s", I.s.orchfile, strerror(errno));
            }
        }
    }
    close(ready[0]);
}

static void on_daemon_exit(int status)
{
    char how[64];
    describe(status, how, sizeof how);
    I.daemon = 0;
    if (I.phase != PH_RUN) {
        I.daemon_clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        init_log("the daemon %s", how);
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        /* `orchd fell` stopped everything and the daemon: keep one running
         * (idle) so that a later `orchd grow` reaches a supervised daemon. */
        I.backoff = 0;
        init_log("the daemon exited (orchd fell); starting it again, idle, in %us",
                 RESTART_MIN_MS / 1000);
        schedule_restart(RESTART_MIN_MS, false);
        return;
    }
    uint64_t lived = now_ms() - I.daemon_started;
    if (I.backoff == 0 || lived >= STABLE_MS)
        I.backoff = RESTART_MIN_MS;
    else if ((I.backoff *= 2) > RESTART_MAX_MS)
        I.backoff = RESTART_MAX_MS;
    init_log("the daemon %s; restarting it in %us", how, (unsigned)(I.backoff / 1000));
    kill_leftovers();
    schedule_restart(I.backoff, true);
}

static void on_booter_exit(int status)
{
    I.booter = 0;
    read_bound();
    if (I.phase != PH_RUN)
        return;
    if (WIFEXITED(status)) {
        switch (WEXITSTATUS(status)) {
        case 0:
            init_log("%s: every service is up (%.1fs since boot)", I.s.orchfile, since_boot_s());
            return;
        case 1:
            init_log("%s: some services failed (see above)", I.s.orchfile);
            return;
        case BOOT_INVALID:
            init_log("%s: no services started; the machine stays up idle (SIGTERM or SIGUSR2 "
                     "powers it off, SIGINT or ctrl-alt-del reboots)", I.s.orchfile);
            return;
        case BOOT_NO_DAEMON:
            return; /* the daemon's exit says why */
        }
    }
    char how[64];
    describe(status, how, sizeof how);
    init_log("orchd grow %s", how);
}

static void reap(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return;
        if (pid == I.daemon)
            on_daemon_exit(status);
        else if (pid == I.booter)
            on_booter_exit(status);
        /* else: an orphan, reaped */
    }
}

/* ---- shutdown ----------------------------------------------------------------- */

static int finish(void);

static void enter_term_all(void)
{
    reap();
    if (!has_children()) {
        I.phase = PH_DONE;
        return;
    }
    init_log("sending SIGTERM to every remaining process");
    kill(-1, SIGTERM);
    I.phase = PH_TERM_ALL;
    I.deadline = now_ms() + TERM_GRACE_MS;
}

static void begin_shutdown(enum kind kind, int sig, const siginfo_t *si)
{
    const char *name = sigabbrev_np(sig) ? sigabbrev_np(sig) : "?";
    if (I.phase == PH_DONE) {
        return;
    }
    if (I.phase != PH_RUN) {
        init_log("SIG%s: already shutting down (%s)", name, kind_name(I.kind));
        return;
    }
    I.kind = kind;
    I.restart_at = 0;
    bool from_daemon = I.daemon > 0 && si->si_pid == I.daemon;
    init_log("SIG%s%s: %s: stopping every service", name,
             from_daemon ? " from the daemon (orchd fell --poweroff)" : "", kind_name(kind));
    if (I.booter > 0)
        kill(I.booter, SIGTERM);
    read_bound();
    if (I.daemon > 0) {
        if (!from_daemon)
            kill(I.daemon, SIGTERM);
        I.phase = PH_STOP_DAEMON;
        I.deadline = now_ms() + (uint64_t)I.bound_s * 1000u;
        init_log("waiting up to %us for the daemon", I.bound_s);
    } else {
        enter_term_all();
    }
}

/* Advances timers and shutdown phases; returns true when process 1 should
 * return (a pid namespace's init after its shutdown). */
static bool step(void)
{
    uint64_t now = now_ms();
    switch (I.phase) {
    case PH_RUN:
        if (I.restart_at && now >= I.restart_at) {
            I.restart_at = 0;
            spawn_daemon(I.restart_grow);
        }
        return false;
    case PH_STOP_DAEMON:
        if (I.daemon == 0) {
            init_log(I.daemon_clean ? "every service is stopped"
                                    : "the daemon did not finish stopping the services");
            enter_term_all();
        } else if (now >= I.deadline) {
            init_log("the daemon did not finish within %us: killing it", I.bound_s);
            kill(I.daemon, SIGKILL);
            enter_term_all();
        }
        break;
    case PH_TERM_ALL:
        if (!has_children()) {
            I.phase = PH_DONE;
        } else if (now >= I.deadline) {
            init_log("sending SIGKILL to every remaining process");
            kill(-1, SIGKILL);
            I.phase = PH_KILL_ALL;
            I.deadline = now + KILL_GRACE_MS;
        }
        break;
    case PH_KILL_ALL:
        if (!has_children()) {
            I.phase = PH_DONE;
        } else if (now >= I.deadline) {
            init_log("some processes did not die; going on");
            I.phase = PH_DONE;
        }
        break;
    case PH_DONE:
        return false;
    }
    if (I.phase == PH_DONE)
        return finish() != 0;
    return false;
}

/* Returns 1 when process 1 should return, 0 to idle (reboot(2) failed). */
static int finish(void)
{
    sync();
    if (I.o->setup)
        init_unmount_all();
    sync();
    if (!I.machine) {
        init_log("not the machine's init (a pid namespace): exiting instead of %s",
                 kind_name(I.kind));
        return 1;
    }
    int cmd = I.kind == KIND_HALT ? RB_HALT_SYSTEM
              : I.kind == KIND_REBOOT ? RB_AUTOBOOT
                                      : RB_POWER_OFF;
    init_log("%s", I.kind == KIND_HALT ? "halting" : I.kind == KIND_REBOOT ? "rebooting"
                                                                           : "powering off");
    reboot(cmd);
    init_log("reboot(2) failed: %s; idling", strerror(errno));
    return 0;
}

static void on_signal(int sig, const siginfo_t *si)
{
    switch (sig) {
    case SIGCHLD:
        break;
    case SIGTERM:
    case SIGUSR2:
    case SIGPWR:
        begin_shutdown(KIND_POWEROFF, sig, si);
        break;
    case SIGUSR1:
        begin_shutdown(KIND_HALT, sig, si);
        break;
    case SIGINT:
        begin_shutdown(KIND_REBOOT, sig, si);
        break;
    default:
        init_log("SIG%s ignored", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
        break;
    }
}

static int loop(sigset_t *set)
{
    for (;;) {
        uint64_t wake = 0;
        if (I.phase == PH_RUN)
            wake = I.restart_at;
        else if (I.phase != PH_DONE)
            wake = I.deadline;
        siginfo_t si;
        memset(&si, 0, sizeof si);
        int sig;
        if (wake) {
            uint64_t now = now_ms();
            uint64_t left = wake > now ? wake - now : 0;
            struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
            sig = sigtimedwait(set, &si, &ts);
        } else {
            sig = sigwaitinfo(set, &si);
        }
        if (sig > 0)
            on_signal(sig, &si);
        reap();
        if (step())
            return 0;
    }
}

/* ---- start ---------------------------------------------------------------------- */

int orch_init_run(const orch_init_opts *o)
{
    if (getpid() != 1) {
        fprintf(stderr, "orchd init: must run as process 1 (for a try without a VM: "
                        "unshare --pid --fork --mount-proc orchd init --no-mount ...)\n");
        return 2;
    }
    I.o = o;
    sigset_t set;
    sigemptyset(&set);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = noop_handler;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof handled / sizeof *handled; i++) {
        sigaddset(&set, handled[i]);
        /* A handler (never run: the signals stay blocked) so that signals
         * from outside a pid namespace are not dropped for its init. */
        sigaction(handled[i], &sa, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_BLOCK, &set, NULL);

    init_console();
    umask(022);
    if (chdir("/") != 0) {
        /* keep the current directory */
    }
    setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 0);
    /* Leftovers of a dead daemon are found by this variable (kill_by_environ);
     * none of ours may carry it. */
    unsetenv("ORCH_SERVICE");
    init_log("orchd " ORCH_VERSION_STRING " is process 1 (%.1fs since boot)", since_boot_s());
    if (o->setup)
        init_mount_all();
    I.machine = init_machine_pidns();
    if (!I.machine)
        init_log("in a pid namespace: the end will be an exit, not reboot(2)");

    char *cmdline = orch_cmdline_read(o->cmdline ? o->cmdline : "/proc/cmdline");
    char *c_orchfile = orch_cmdline_get(cmdline, "orchd.orchfile");
    char *c_state = orch_cmdline_get(cmdline, "orchd.state_dir");
    char *c_host = orch_cmdline_get(cmdline, "orchd.hostname");
    free(cmdline);
    char *etc_host = NULL;
    if (!o->hostname && !c_host && o->setup) {
        etc_host = orch_cmdline_read("/etc/hostname"); /* one word, like the cmdline */
        if (etc_host)
            etc_host[strcspn(etc_host, " \t\n")] = '\0';
    }
    const char *hostname = o->hostname ? o->hostname : c_host ? c_host : etc_host;
    if (hostname && *hostname) {
        if (o->setup)
            init_set_hostname(hostname);
        else
            init_log("hostname %s not set (--no-mount)", hostname);
    }
    if (o->setup)
        init_loopback_up();

    const char *orchfile = o->orchfile ? o->orchfile
                           : c_orchfile && *c_orchfile ? c_orchfile
                                                       : ORCH_INIT_DEFAULT_ORCHFILE;
    const char *state = o->state_dir ? o->state_dir : c_state && *c_state ? c_state : NULL;
    ssize_t n = readlink("/proc/self/exe", I.self, sizeof I.self - 1);
    if (n > 0)
        I.self[n] = '\0';
    else
        snprintf(I.self, sizeof I.self, "/proc/self/exe");
    if (!resolve_settings(orchfile, state)) {
        init_log("cannot resolve the settings (see above); no daemon: the machine stays up "
                 "idle");
    } else {
        init_log("Orchfile %s, state %s, namespace %s", I.s.orchfile, I.s.state_dir,
                 I.s.namespace_);
        spawn_daemon(true);
    }
    free(c_orchfile);
    free(c_state);
    free(c_host);
    free(etc_host);
    int rc = loop(&set);
    if (I.have_settings)
        orch_settings_free(&I.s);
    for (size_t i = 0; i < I.n_args; i++)
        free(I.args[i]);
    free(I.args);
    return rc;
}
