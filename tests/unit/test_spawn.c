/* Unit tests for orch_spawn (runtimes/bare/spawn.c) and the reaper
 * (src/runtime/reaper.c), with real processes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "runtime/reaper.h"
#include "bare/spawn.h"
#include "proc_helpers.h"
#include "common/xalloc.h"

static uv_loop_t loop;
static char *tmp;

typedef struct exit_rec {
    bool done;
    pid_t pid;
    int status;
} exit_rec;

static void on_exit_cb(void *owner, pid_t pid, int status)
{
    exit_rec *r = owner;
    r->done = true;
    r->pid = pid;
    r->status = status;
}

static const char *const test_env[] = {"PATH=/usr/bin:/bin", "FOO=bar baz", "EMPTY=", NULL};

static orch_spawn_opts base_opts(const char *const *argv)
{
    return (orch_spawn_opts){
        .argv = argv,
        .envp = test_env,
        .stdin_fd = -1,
        .stdout_fd = -1,
        .stderr_fd = -1,
    };
}

static int open_out(const char *name, char **path)
{
    *path = xasprintf("%s/%s", tmp, name);
    return open(*path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/* Spawns, watches, runs the loop until the exit; returns the wait status or
 * -1 when the spawn failed or the exit did not come. */
static int run_to_exit(orch_spawn_opts *o)
{
    const char *stage = NULL;
    exit_rec r = {0};
    pid_t pid = orch_spawn(o, &stage);
    CHECK(pid > 0);
    if (pid <= 0) {
        fprintf(stderr, "  spawn failed at %s: %s\n", stage, strerror(errno));
        return -1;
    }
    test_track_pid(pid);
    orch_reaper_watch(pid, on_exit_cb, &r);
    CHECK(test_run_until(&loop, &r.done, 10000));
    CHECK(r.pid == pid);
    return r.done ? r.status : -1;
}

static void expect_failure(orch_spawn_opts *o, const char *want_stage, int want_errno)
{
    const char *stage = NULL;
    errno = 0;
    pid_t pid = orch_spawn(o, &stage);
    int err = errno;
    CHECK(pid == -1);
    CHECK_STR(stage, want_stage);
    CHECK(err == want_errno);
    if (err != want_errno)
        fprintf(stderr, "  got errno %d (%s), want %d\n", err, strerror(err), want_errno);
    if (pid > 0)
        test_track_pid(pid);
}

static bool has_cap_sys_resource(void)
{
    char *status = test_read("/proc/self/status");
    const char *p = status ? strstr(status, "CapEff:") : NULL;
    bool has = p && (strtoull(p + 7, NULL, 16) & (1ULL << 24));
    free(status);
    return has;
}

/* Runs first, while we have no other children: every failed child must have
 * been reaped by orch_spawn itself. */
static void test_failures(void)
{
    const char *missing[] = {"/nonexistent/program", NULL};
    orch_spawn_opts o = base_opts(missing);
    expect_failure(&o, "exec", ENOENT);

    const char *unknown[] = {"orchd-no-such-program", NULL};
    o = base_opts(unknown);
    expect_failure(&o, "exec", ENOENT);

    const char *not_executable[] = {"/etc/passwd", NULL};
    o = base_opts(not_executable);
    expect_failure(&o, "exec", EACCES);

    const char *ok[] = {"true", NULL};
    o = base_opts(ok);
    o.workdir = "/nonexistent-orchd-dir";
    expect_failure(&o, "chdir", ENOENT);

    o = base_opts(ok);
    const char *procs[] = {"/nonexistent-orchd-cgroup/cgroup.procs", NULL};
    o.cgroup_procs = procs;
    expect_failure(&o, "cgroup", ENOENT);

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max != RLIM_INFINITY && !has_cap_sys_resource()) {
        o = base_opts(ok);
        o.limit_nofile = (uint64_t)rl.rlim_max + 1;
        expect_failure(&o, "rlimit", EPERM);
    } else {
        fprintf(stderr, "note: can raise RLIMIT_NOFILE here; rlimit failure not tested\n");
    }

    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
}

/* The child sees exactly the environment, working directory and limits
 * asked for. */
static void test_env_workdir_limits(void)
{
    char *out_path;
    int out = open_out("env.out", &out_path);
    char *wd = xasprintf("%s/wd", tmp);
    mkdir(wd, 0755);
    setenv("ORCH_TEST_LEAK", "1", 1);

    const char *argv[] = {"sh", "-c", "env; echo PWD_IS=$(/bin/pwd); cat /proc/self/limits", NULL};
    orch_spawn_opts o = base_opts(argv);
    o.workdir = wd;
    o.stdout_fd = out;
    o.limit_nofile = 1000;
    o.limit_nproc = 5000;
    int status = run_to_exit(&o);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(out);

    char *text = test_read(out_path);
    CHECK_CONTAINS(text, "FOO=bar baz\n");
    CHECK_CONTAINS(text, "EMPTY=\n");
    CHECK_CONTAINS(text, "PATH=/usr/bin:/bin\n");
    CHECK(text && !strstr(text, "ORCH_TEST_LEAK"));
    char *want_pwd = xasprintf("PWD_IS=%s\n", wd);
    CHECK_CONTAINS(text, want_pwd);
    CHECK_CONTAINS(text, "Max open files            1000                 1000");
    CHECK_CONTAINS(text, "Max processes             5000                 5000");
    free(want_pwd);
    free(text);
    free(wd);
    free(out_path);
}

/* No fd but 0-2 reaches the child; no blocked or ignored signal either; one
 * fd can serve as both stdout and stderr. */
static void test_fds_and_signals(void)
{
    int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
    CHECK(dup2(leak, 42) == 42);
    close(leak);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_usr1;
    sigaction(SIGUSR1, &ign, &old_usr1);

    char *out_path;
    int out = open_out("fds.out", &out_path);
    const char *ls[] = {"/bin/ls", "-1", "/proc/self/fd", NULL};
    orch_spawn_opts o = base_opts(ls);
    o.stdout_fd = out;
    int status = run_to_exit(&o);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    const char *sig[] = {"/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
    o = base_opts(sig);
    o.stdout_fd = out;
    status = run_to_exit(&o);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    const char *both[] = {"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2", NULL};
    o = base_opts(both);
    o.stdout_fd = out;
    o.stderr_fd = out;
    status = run_to_exit(&o);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(out);

    char *text = test_read(out_path);
    CHECK(text && strncmp(text, "0\n1\n2\n", 6) == 0);
    CHECK(text && !strstr(text, "\n42\n"));
    CHECK_CONTAINS(text, "SigBlk:\t0000000000000000\n");
    CHECK_CONTAINS(text, "SigIgn:\t0000000000000000\n");
    CHECK_CONTAINS(text, "to-stdout\nto-stderr\n");
    free(text);
    free(out_path);

    close(42);
    sigprocmask(SIG_SETMASK, &old, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
}

static void test_set_ids(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "note: not root; USER switching not tested\n");
        return;
    }
    char *out_path;
    int out = open_out("ids.out", &out_path);
    const char *argv[] = {"/bin/grep", "-E", "^(Uid|Gid|Groups):", "/proc/self/status", NULL};
    gid_t groups[] = {65534};
    orch_spawn_opts o = base_opts(argv);
    o.stdout_fd = out;
    o.set_ids = true;
    o.uid = 65534;
    o.gid = 65534;
    o.groups = groups;
    o.n_groups = 1;
    int status = run_to_exit(&o);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(out);
    char *text = test_read(out_path);
    CHECK_CONTAINS(text, "Uid:\t65534\t65534\t65534\t65534\n");
    CHECK_CONTAINS(text, "Gid:\t65534\t65534\t65534\t65534\n");
    CHECK_CONTAINS(text, "Groups:\t65534");
    free(text);
    free(out_path);
}

static void test_exit_statuses(void)
{
    const char *seven[] = {"/bin/sh", "-c", "exit 7", NULL};
    orch_spawn_opts o = base_opts(seven);
    int status = run_to_exit(&o);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);

    const char *killed[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
    o = base_opts(killed);
    status = run_to_exit(&o);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* new_session: the child leads its own session and process group. */
static void test_new_session(void)
{
    const char *argv[] = {"/bin/sleep", "30", NULL};
    orch_spawn_opts o = base_opts(argv);
    o.new_session = true;
    const char *stage;
    exit_rec r = {0};
    pid_t pid = orch_spawn(&o, &stage);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    test_track_pid(pid);
    orch_reaper_watch(pid, on_exit_cb, &r);
    CHECK(getpgid(pid) == pid);
    CHECK(getsid(pid) == pid);
    kill(-pid, SIGTERM);
    CHECK(test_run_until(&loop, &r.done, 10000));
    CHECK(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM);
}

/* Waits until pid has exited without reaping it. */
static void wait_exited_unreaped(pid_t pid)
{
    siginfo_t si;
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
        ;
}

/* An exit reaped before anyone watched still reaches a later watch, from the
 * loop and not from inside orch_reaper_watch. */
static void test_late_watch(void)
{
    const char *argv[] = {"/bin/sh", "-c", "exit 4", NULL};
    orch_spawn_opts o = base_opts(argv);
    const char *stage;
    pid_t pid = orch_spawn(&o, &stage);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    test_track_pid(pid);
    wait_exited_unreaped(pid);
    orch_reaper_reap();
    CHECK(test_proc_gone(pid)); /* reaped, unclaimed */

    exit_rec r = {0};
    orch_reaper_watch(pid, on_exit_cb, &r);
    CHECK(!r.done);
    CHECK(test_run_until(&loop, &r.done, 5000));
    CHECK(r.pid == pid);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 4);
}

/* unwatch: no callback, but the exit is still reaped. */
static void test_unwatch(void)
{
    const char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
    orch_spawn_opts o = base_opts(argv);
    const char *stage;
    pid_t pid = orch_spawn(&o, &stage);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    test_track_pid(pid);
    exit_rec r = {0};
    orch_reaper_watch(pid, on_exit_cb, &r);
    orch_reaper_unwatch(pid);
    wait_exited_unreaped(pid);
    orch_reaper_reap();
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(!r.done);
    CHECK(test_proc_gone(pid));
}

static bool pid_gone(void *arg)
{
    return test_proc_gone(*(pid_t *)arg);
}

/* A grandchild left behind by a child that exited is re-parented to us (the
 * subreaper) and reaped when it exits: no zombie stays. */
static void test_orphan_reaped(void)
{
    char *out_path;
    int out = open_out("orphan.out", &out_path);
    /* a long sleep, killed once seen re-parented: a short one could end
     * (and be reaped) before the check of its parent on a loaded machine */
    const char *argv[] = {"/bin/sh", "-c", "sleep 60 & echo $!", NULL};
    orch_spawn_opts o = base_opts(argv);
    o.stdout_fd = out;
    int status = run_to_exit(&o);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(out);
    char *text = test_read(out_path);
    pid_t orphan = text ? (pid_t)atoi(text) : 0;
    free(text);
    free(out_path);
    CHECK(orphan > 0);
    if (orphan <= 0)
        return;
    test_track_pid(orphan);
    pid_t ppid = test_proc_ppid(orphan);
    CHECK(ppid == getpid());
    if (ppid == getpid()) /* ours: the pid is not someone else's by now */
        kill(orphan, SIGTERM);
    CHECK(test_run_until_cond(&loop, pid_gone, &orphan, 10000));
    CHECK(test_proc_state(orphan) != 'Z');
}

static int open_fd_count(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

/* The child may run in orchd's memory until its execve (spawn.c): the
 * options must be copied, since the caller frees and reuses its own right
 * after orch_spawn_begin. Here they are overwritten at once, before the
 * child has had a chance to exec; the child still runs what it was given. */
static void test_options_freed_at_once(void)
{
    char *out_path;
    int out = open_out("copied.out", &out_path);
    for (int round = 0; round < 20; round++) {
        char **argv = xcalloc(4, sizeof *argv);
        argv[0] = xstrdup("/bin/sh");
        argv[1] = xstrdup("-c");
        argv[2] = xasprintf("echo \"$FOO\" %d; cd /; echo \"$PWD\"", round);
        char **envp = xcalloc(2, sizeof *envp);
        envp[0] = xstrdup("FOO=copied");
        char *wd = xstrdup(tmp);
        orch_spawn_opts o = base_opts((const char *const *)argv);
        o.envp = (const char *const *)envp;
        o.workdir = wd;
        o.stdout_fd = out;
        int fd;
        const char *stage = NULL;
        exit_rec r = {0};
        pid_t pid = orch_spawn_begin(&o, &fd, &stage);
        for (int i = 0; argv[i]; i++)
            memset(argv[i], 'X', strlen(argv[i]));
        memset(envp[0], 'X', strlen(envp[0]));
        memset(wd, 'X', strlen(wd));
        free(argv[0]), free(argv[1]), free(argv[2]), free(argv), free(envp[0]), free(envp);
        free(wd);
        CHECK(pid > 0);
        if (pid <= 0)
            continue;
        test_track_pid(pid);
        orch_reaper_watch(pid, on_exit_cb, &r);
        CHECK(test_run_until(&loop, &r.done, 10000));
        CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
        int err = 0;
        CHECK(orch_spawn_report(fd, &stage, &err) == 0);
        close(fd);
    }
    close(out);
    char *text = test_read(out_path);
    CHECK_CONTAINS(text, "copied 0\n/\n");
    CHECK_CONTAINS(text, "copied 19\n/\n");
    CHECK(text && !strchr(text, 'X'));
    free(text);
    free(out_path);
}

/* Children that fail before exec, and children whose report the caller
 * gives up on (it kills them), leave nothing behind once reaped and swept:
 * no fd, and no copy of their options (kept while the child, which may run
 * in our memory, could still read it). */
static void test_failed_and_abandoned_leave_nothing(void)
{
    int before = open_fd_count();
    size_t held_before = orch_spawn_images_held();
    const char *argv[] = {"/bin/true", NULL};
    const char *sleeper[] = {"/bin/sleep", "30", NULL};
    for (int round = 0; round < 40; round++) {
        bool abandon = round % 2;
        orch_spawn_opts o = base_opts(abandon ? sleeper : argv);
        o.workdir = abandon ? NULL : "/nonexistent-orchd-dir";
        int fd;
        const char *stage = NULL;
        exit_rec r = {0};
        pid_t pid = orch_spawn_begin(&o, &fd, &stage);
        CHECK(pid > 0);
        if (pid <= 0)
            continue;
        test_track_pid(pid);
        orch_reaper_watch(pid, on_exit_cb, &r);
        if (abandon) {
            kill(pid, SIGKILL);
            orch_spawn_forget(fd);
        } else {
            int err = 0, rc;
            while ((rc = orch_spawn_report(fd, &stage, &err)) == 1)
                test_run_until(&loop, &r.done, 10);
            CHECK(rc == -1);
            CHECK_STR(stage, "chdir");
            CHECK(err == ENOENT);
        }
        close(fd);
        CHECK(test_run_until(&loop, &r.done, 10000));
        orch_spawn_sweep();
    }
    CHECK(open_fd_count() == before);
    CHECK(orch_spawn_images_held() == held_before);
}

int main(void)
{
    tmp = test_mkdtemp();
    uv_loop_init(&loop);

    test_failures();
    CHECK(orch_reaper_init(&loop) == 0);
    test_env_workdir_limits();
    test_fds_and_signals();
    test_set_ids();
    test_exit_statuses();
    test_new_session();
    test_late_watch();
    test_unwatch();
    test_orphan_reaped();
    test_options_freed_at_once();
    test_failed_and_abandoned_leave_nothing();

    test_kill_tracked();
    orch_reaper_close();
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    test_rm_rf(tmp);
    free(tmp);
    return check_done();
}
