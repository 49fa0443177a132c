/* Unit tests for the bare runtime (runtimes/bare): a service's environment,
 * WORKDIR, USER, logs, limits, failures, signals and release, with real
 * processes. Cgroups are made in a namespace of our own (orchtest-PID). */
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bare/bare.h"
#include "bare/cgroup_park.h"
#include "bare/launch.h"
#include "check.h"
#include "runtime/reaper.h"
#include "proc_helpers.h"
#include "common/xalloc.h"

static uv_loop_t loop;
static char *tmp, *project, *state;
static char ns[64];
static orch_env_ctx ctx;

/* ---- a service and its callbacks ---- */

typedef struct run {
    bool started, exited, released;
    orch_errc code;   /* of err */
    bool started_inside_start; /* must stay false */
    bool in_start;
    int order; /* 1 when started came before exited */
    pid_t pid;
    int status;
    char *err;
} run;

static void on_started(void *owner, pid_t pid, const orch_error *err)
{
    run *r = owner;
    r->started_inside_start = r->in_start;
    r->started = true;
    r->pid = pid;
    if (err) {
        r->err = xstrdup(err->msg);
        r->code = err->code;
    }
    test_track_pid(pid);
}

/* Our children that are zombies (exited, not reaped). */
static int zombie_children(void)
{
    DIR *d = opendir("/proc");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid > 0 && test_proc_ppid(pid) == getpid() && test_proc_state(pid) == 'Z')
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static bool no_zombies(void *arg)
{
    (void)arg;
    return zombie_children() == 0;
}

/* Open fds of this process. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - 1; /* the directory's own */
}

static void on_exited(void *owner, int status)
{
    run *r = owner;
    r->order = r->started ? 1 : -1;
    r->exited = true;
    r->status = status;
}

static void on_released(void *arg)
{
    ((run *)arg)->released = true;
}

static void service(orch_service *s, const char *name, const char *command)
{
    orch_service_defaults(s);
    s->name = xstrdup(name);
    s->run_command = xstrdup(command);
}

static void add_env(orch_service *s, const char *key, const char *value)
{
    s->env = xrealloc(s->env, (s->n_env + 1) * sizeof *s->env);
    s->env[s->n_env++] = (orch_env){xstrdup(key), xstrdup(value), {0}};
}

static void add_env_file(orch_service *s, const char *path)
{
    xgrow((void **)&s->env_files.v, &s->env_files.cap, s->env_files.n + 1,
          sizeof *s->env_files.v);
    s->env_files.v[s->env_files.n++] = (orch_str){xstrdup(path), {0}};
}

static orch_instance *start(const orch_service *s, run *r)
{
    orch_error *err = NULL;
    orch_instance_cbs cbs = {on_started, on_exited};
    r->in_start = true;
    orch_instance *inst = orch_runtime_bare.start(&loop, s, &ctx, cbs, r, &err);
    r->in_start = false;
    CHECK(inst != NULL);
    if (!inst) {
        fprintf(stderr, "  start failed: %s\n", err ? err->msg : "?");
        orch_error_free(err);
    }
    return inst;
}

/* Starts s, waits for its exit, releases it. */
static void run_service(const orch_service *s, run *r)
{
    orch_instance *inst = start(s, r);
    if (!inst)
        return;
    CHECK(!r->started);
    CHECK(test_run_until(&loop, &r->exited, 10000));
    CHECK(r->started && !r->started_inside_start && r->pid > 0 && r->err == NULL);
    CHECK(r->order == 1);
    orch_runtime_bare.release(inst, on_released, r);
    CHECK(test_run_until(&loop, &r->released, 10000));
}

/* The error of a start that fails: either at once (what is decided before
 * fork: USER, logs, ENV_FILE) or, for what the child finds (WORKDIR, limits),
 * through `started` with pid 0, later, never inside start; then the child is
 * reaped (no zombie) once the instance is released. *code gets the error's
 * code when code is not NULL. */
static char *start_error_code(const orch_service *s, orch_errc *code)
{
    orch_error *err = NULL;
    run r = {0};
    orch_instance_cbs cbs = {on_started, on_exited};
    r.in_start = true;
    orch_instance *inst = orch_runtime_bare.start(&loop, s, &ctx, cbs, &r, &err);
    r.in_start = false;
    if (!inst) {
        CHECK(!r.started);
        if (code && err)
            *code = err->code;
        return orch_error_take_msg(err);
    }
    CHECK(!r.started);
    CHECK(test_run_until(&loop, &r.started, 10000));
    CHECK(!r.started_inside_start && r.pid == 0 && r.err != NULL);
    if (code)
        *code = r.code;
    orch_runtime_bare.release(inst, on_released, &r);
    CHECK(test_run_until(&loop, &r.released, 10000));
    CHECK(!r.exited); /* a failed start's exit is not reported */
    CHECK(test_run_until_cond(&loop, no_zombies, NULL, 5000));
    return r.err;
}

static char *start_error(const orch_service *s)
{
    return start_error_code(s, NULL);
}

static char *path_in(const char *dir, const char *name)
{
    return xasprintf("%s/%s", dir, name);
}

/* ---- tests ---- */

static void test_environment_and_workdir(void)
{
    char *env_file = path_in(project, "app.env");
    test_write(env_file, "# app settings\nFROM_FILE=1\nFOO=file\nexport QUOTED=\"a b\"\n");
    char *sub = path_in(project, "sub");
    mkdir(sub, 0755);
    setenv("ORCH_TEST_LEAK", "1", 1);

    orch_service s;
    service(&s, "envsvc",
            "env > \"$OUT/env.txt\"; /bin/pwd > \"$OUT/pwd.txt\"; "
            "cat /proc/self/limits > \"$OUT/limits.txt\"");
    add_env(&s, "OUT", tmp);
    add_env(&s, "FOO", "env");
    add_env_file(&s, "app.env");
    s.workdir = xstrdup("sub");
    s.set |= ORCH_BIT(ORCH_F_LIMIT_NOFILE);
    s.limit_nofile = 1000;
    run r = {0};
    run_service(&s, &r);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);

    char *p = path_in(tmp, "env.txt");
    char *text = test_read(p);
    CHECK_CONTAINS(text, "\nFOO=env\n");
    CHECK_CONTAINS(text, "FROM_FILE=1\n");
    CHECK_CONTAINS(text, "QUOTED=a b\n");
    CHECK_CONTAINS(text, "ORCH_SERVICE=envsvc\n");
    CHECK_CONTAINS(text, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    struct passwd *pw = getpwuid(geteuid());
    if (pw) {
        char *home = xasprintf("HOME=%s\n", pw->pw_dir);
        char *user = xasprintf("USER=%s\n", pw->pw_name);
        CHECK_CONTAINS(text, home);
        CHECK_CONTAINS(text, user);
        free(home);
        free(user);
    }
    CHECK(text && !strstr(text, "ORCH_TEST_LEAK"));
    free(text);
    free(p);

    p = path_in(tmp, "pwd.txt");
    text = test_read(p);
    char *want = xasprintf("%s\n", sub);
    CHECK_STR(text, want);
    free(want);
    free(text);
    free(p);

    p = path_in(tmp, "limits.txt");
    text = test_read(p);
    CHECK_CONTAINS(text, "Max open files            1000                 1000");
    free(text);
    free(p);

    orch_service_free(&s);
    free(env_file);
    free(sub);
}

static void test_logs(void)
{
    /* default: one log file per service, both streams, parent dirs made */
    orch_service s;
    service(&s, "logsvc", "echo to-out; echo to-err >&2");
    run r = {0};
    run_service(&s, &r);
    char *log = orch_runtime_bare.log_path(&s, &ctx);
    char *want = xasprintf("%s/logs/%s.logsvc.log", state, ns);
    CHECK_STR(log, want);
    char *text = test_read(log);
    CHECK_STR(text, "to-out\nto-err\n");
    free(text);

    /* appended on the next start */
    run r2 = {0};
    run_service(&s, &r2);
    text = test_read(log);
    CHECK_STR(text, "to-out\nto-err\nto-out\nto-err\n");
    free(text);
    free(want);
    free(log);

    /* STDOUT and STDERR apart; relative paths are in the project */
    s.stdout_path = xstrdup("logs/out.log");
    s.stderr_path = path_in(tmp, "deep/er/err.log");
    run r3 = {0};
    run_service(&s, &r3);
    char *out = path_in(project, "logs/out.log");
    text = test_read(out);
    CHECK_STR(text, "to-out\n");
    free(text);
    text = test_read(s.stderr_path);
    CHECK_STR(text, "to-err\n");
    free(text);
    free(out);
    orch_service_free(&s);
}

/* HOME of a service without USER, as a start would give it now. */
static char *own_home(void)
{
    orch_service s;
    service(&s, "ownsvc", "true");
    orch_bare_launch l;
    orch_error *err = NULL;
    char *home = NULL;
    if (orch_bare_launch_env(&s, &ctx, &l, &err) == 0) {
        for (char **e = l.envp; *e && !home; e++)
            if (strncmp(*e, "HOME=", 5) == 0)
                home = xstrdup(*e + 5);
        orch_bare_launch_free(&l);
    }
    orch_error_free(err);
    orch_service_free(&s);
    return home;
}

/* In a child with a mount namespace of its own: once /etc/passwd is another
 * file (a bind mount of a copy that gives our user another home), a start
 * sees the new entry, not the one kept from before; and the old one again
 * once the mount is gone. Exit status: 0 passed, 77 cannot run, else the
 * step that failed. */
static int own_user_follows_passwd(const char *copy)
{
    char *before = own_home();
    if (!before)
        return 1;
    char *again = own_home(); /* kept */
    int rc = again && strcmp(again, before) == 0 ? 0 : 2;
    free(again);
    if (rc == 0 && (unshare(CLONE_NEWNS) != 0 ||
                    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
                    mount(copy, "/etc/passwd", NULL, MS_BIND, NULL) != 0))
        rc = 77;
    char *during = rc == 0 ? own_home() : NULL;
    if (rc == 0 && !(during && strcmp(during, "/orchd-test-home") == 0))
        rc = 3;
    if (rc == 0 && umount("/etc/passwd") != 0)
        rc = 4;
    char *after = rc == 0 ? own_home() : NULL;
    if (rc == 0 && !(after && strcmp(after, before) == 0))
        rc = 5;
    free(before);
    free(during);
    free(after);
    return rc;
}

/* orchd's own passwd entry is kept between starts while /etc/passwd stays
 * the same file (bare/user.c), and looked up again when it changes. */
static void test_own_user_cache(void)
{
    struct passwd *pw = getpwuid(geteuid());
    if (geteuid() != 0 || !pw) {
        fprintf(stderr, "note: not root or no passwd entry; own-user cache not tested\n");
        return;
    }
    /* The copy: every line as it is, ours with the home field replaced. */
    char *text = test_read("/etc/passwd");
    char *copy = path_in(tmp, "passwd.copy");
    FILE *f = text ? fopen(copy, "w") : NULL;
    CHECK(f != NULL);
    if (!f) {
        free(text);
        free(copy);
        return;
    }
    size_t nl = strlen(pw->pw_name);
    for (char *line = text, *next; *line; line = next) {
        next = strchr(line, '\n');
        next = next ? next + 1 : line + strlen(line);
        char *field[7];
        int n = 0;
        for (char *p = line; n < 7 && p < next; n++) {
            field[n] = p;
            p = memchr(p, ':', (size_t)(next - p));
            p = p ? p + 1 : next;
        }
        if (n == 7 && strncmp(line, pw->pw_name, nl) == 0 && line[nl] == ':')
            fprintf(f, "%.*s/orchd-test-home%.*s", (int)(field[5] - line), line,
                    (int)(next - field[6] + 1), field[6] - 1);
        else
            fprintf(f, "%.*s", (int)(next - line), line);
    }
    fclose(f);
    free(text);
    pid_t child = fork();
    if (child == 0)
        _exit(own_user_follows_passwd(copy));
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        fprintf(stderr, "note: no private mount namespace; own-user cache not tested\n");
    else
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(copy);
}

static void test_user(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "note: not root; USER not tested\n");
        return;
    }
    struct passwd *pw = getpwnam("nobody");
    if (!pw) {
        fprintf(stderr, "note: no user 'nobody'; USER not tested\n");
        return;
    }
    /* STDOUT is opened with the service's identity: it goes into a
     * directory nobody may write (docs/RUNTIME-BARE.md). */
    char *udir = path_in(tmp, "nobody-logs");
    CHECK(chmod(tmp, 0711) == 0);
    CHECK(mkdir(udir, 0700) == 0 || errno == EEXIST);
    CHECK(chown(udir, pw->pw_uid, pw->pw_gid) == 0);
    const char *specs[] = {"nobody", "65534:65534"};
    for (int i = 0; i < 2; i++) {
        orch_service s;
        service(&s, "usersvc",
                "grep -E '^(Uid|Gid):' /proc/self/status; echo \"HOME=$HOME USER=$USER\"");
        s.user = xstrdup(specs[i]);
        s.stdout_path = path_in(udir, "user.log");
        unlink(s.stdout_path);
        run r = {0};
        run_service(&s, &r);
        CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
        struct stat st;
        CHECK(stat(s.stdout_path, &st) == 0 && st.st_uid == pw->pw_uid &&
              (st.st_mode & 0777) == 0640);
        char *text = test_read(s.stdout_path);
        CHECK_CONTAINS(text, "Uid:\t65534\t65534\t65534\t65534\n");
        CHECK_CONTAINS(text, "Gid:\t65534\t65534\t65534\t65534\n");
        char *want = xasprintf("HOME=%s USER=nobody\n", pw->pw_dir);
        CHECK_CONTAINS(text, want);
        free(want);
        free(text);
        orch_service_free(&s);
    }
    free(udir);
}

static void test_start_errors(void)
{
    orch_service s;
    service(&s, "badsvc", "true");
    s.user = xstrdup("orchd-no-such-user");
    char *err = start_error(&s);
    CHECK_STR(err, "service badsvc: USER 'orchd-no-such-user' does not exist");
    free(err);
    free(s.user);
    s.user = xstrdup("nobody:orchd-no-such-group");
    err = start_error(&s);
    CHECK_STR(err, "service badsvc: USER 'nobody:orchd-no-such-group': group "
                   "'orchd-no-such-group' does not exist");
    free(err);
    free(s.user);
    s.user = NULL;

    s.workdir = xstrdup("/nonexistent-orchd-dir");
    err = start_error(&s);
    CHECK_STR(err, "service badsvc: WORKDIR '/nonexistent-orchd-dir': No such file or directory");
    free(err);
    free(s.workdir);
    s.workdir = NULL;

    s.stdout_path = xstrdup("/proc/orchd-nope/out.log");
    err = start_error(&s);
    CHECK_CONTAINS(err, "service badsvc: cannot open STDOUT '/proc/orchd-nope/out.log'");
    free(err);
    free(s.stdout_path);
    s.stdout_path = NULL;

    add_env_file(&s, "missing.env");
    err = start_error(&s);
    char *want = xasprintf("service badsvc: ENV_FILE %s/missing.env: No such file or directory",
                           project);
    CHECK_STR(err, want);
    free(want);
    free(err);
    char *bad = path_in(project, "bad.env");
    test_write(bad, "OK=1\nnot valid\n");
    free(s.env_files.v[0].s);
    s.env_files.v[0].s = bad;
    err = start_error(&s);
    want = xasprintf("service badsvc: ENV_FILE %s:2: ", bad);
    CHECK_CONTAINS(err, want);
    free(want);
    free(err);
    orch_service_free(&s);

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    char *status = test_read("/proc/self/status");
    const char *cap = status ? strstr(status, "CapEff:") : NULL;
    bool can_raise = cap && (strtoull(cap + 7, NULL, 16) & (1ULL << 24));
    free(status);
    if (rl.rlim_max != RLIM_INFINITY && !can_raise) {
        service(&s, "limitsvc", "true");
        s.set |= ORCH_BIT(ORCH_F_LIMIT_NOFILE);
        s.limit_nofile = (uint64_t)rl.rlim_max + 1;
        err = start_error(&s);
        want = xasprintf("service limitsvc: LIMIT_NOFILE %llu is above the hard limit %llu",
                         (unsigned long long)rl.rlim_max + 1, (unsigned long long)rl.rlim_max);
        CHECK_CONTAINS(err, want);
        free(want);
        free(err);
        orch_service_free(&s);
    }

    orch_service c;
    orch_service_defaults(&c);
    c.name = xstrdup("image");
    c.image = xstrdup("busybox");
    err = start_error(&c);
    CHECK_STR(err, "service image: not a host service (no RUN)");
    free(err);
    orch_service_free(&c);
}

static pid_t read_pid(const char *name)
{
    char *p = path_in(tmp, name);
    pid_t pid = 0;
    for (int i = 0; i < 1000 && pid <= 0; i++) { /* 10 s */
        char *text = test_read(p);
        if (text && strchr(text, '\n'))
            pid = (pid_t)atoi(text);
        free(text);
        if (pid <= 0)
            usleep(10000);
    }
    free(p);
    test_track_pid(pid);
    return pid;
}

/* The directory of pid's cgroup in the first hierarchy where it is under
 * orchd/<ns>/, or NULL. */
static char *our_cgroup_dir(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    char *text = test_read(path);
    char *want = xasprintf("/orchd/%s/", ns);
    char *dir = NULL;
    for (char *line = text, *next; line && *line && !dir; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || !strstr(c2, want))
            continue;
        size_t ctrl_len = strcspn(c1 + 1, ",:");
        const char *v2_mount = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0
                                   ? "/sys/fs/cgroup"
                                   : "/sys/fs/cgroup/unified"; /* hybrid */
        dir = ctrl_len ? xasprintf("/sys/fs/cgroup/%.*s%s", (int)ctrl_len, c1 + 1, c2 + 1)
                       : xasprintf("%s%s", v2_mount, c2 + 1);
    }
    free(want);
    free(text);
    return dir;
}

static bool in_our_cgroup(pid_t pid)
{
    char *dir = our_cgroup_dir(pid);
    free(dir);
    return dir != NULL;
}

static bool pid_gone(void *arg)
{
    return test_proc_gone(*(pid_t *)arg);
}

/* The hierarchies pid is in below orchd/<ns>/<service>, as a
 * comma-separated list of /proc/PID/cgroup controller fields ("" for v2). */
static char *joined_hierarchies(pid_t pid, const char *service)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    char *text = test_read(path);
    char *want = xasprintf("/orchd/%s/%s", ns, service);
    char *list = xstrdup("");
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || !strstr(c2, want))
            continue;
        char *more = xasprintf("%s%s[%.*s]", list, *list ? "," : "", (int)(c2 - c1 - 1), c1 + 1);
        free(list);
        list = more;
    }
    free(want);
    free(text);
    return list;
}

static bool is_started(void *arg)
{
    return ((run *)arg)->started;
}

/* Many starts in one go (as the supervisor's pass makes them): every
 * `started` comes later, never inside start; the good ones with their pid,
 * each failing one with its own message and code; more than the runtime
 * keeps outstanding (main lowers RLIMIT_NOFILE so that the oldest report is
 * waited for on the way); after release no zombie, no process, no fd left. */
#define MANY 48
static void test_async_many(void)
{
    int fds_before = open_fds();
    orch_service s[MANY];
    run r[MANY];
    orch_instance *inst[MANY];
    memset(r, 0, sizeof r);
    for (int i = 0; i < MANY; i++) {
        char name[32];
        snprintf(name, sizeof name, "many%d", i);
        service(&s[i], name, "exec sleep 100");
        if (i % 7 == 3) {
            s[i].workdir = xasprintf("/nonexistent-orchd-dir-%d", i);
        }
        inst[i] = start(&s[i], &r[i]);
        CHECK(!r[i].started);
    }
    bool all = false;
    for (int waited = 0; waited < 10000 && !all; waited += 10) {
        all = true;
        for (int i = 0; i < MANY; i++)
            all &= r[i].started;
        if (!all)
            uv_run(&loop, UV_RUN_ONCE);
    }
    CHECK(all);
    for (int i = 0; i < MANY; i++) {
        CHECK(!r[i].started_inside_start);
        if (i % 7 == 3) {
            char *want = xasprintf("service many%d: WORKDIR '/nonexistent-orchd-dir-%d': No such "
                                   "file or directory", i, i);
            CHECK_STR(r[i].err, want);
            CHECK(r[i].pid == 0 && r[i].code == ORCH_E_NOT_FOUND);
            free(want);
        } else {
            CHECK(r[i].pid > 0 && r[i].err == NULL);
            CHECK(r[i].pid > 0 && test_proc_state(r[i].pid) != 'Z' && in_our_cgroup(r[i].pid));
            for (int j = 0; j < i; j++)
                CHECK(r[j].pid <= 0 || r[j].pid != r[i].pid);
        }
    }
    for (int i = 0; i < MANY; i++)
        if (inst[i])
            orch_runtime_bare.release(inst[i], on_released, &r[i]);
    for (int i = 0; i < MANY; i++) {
        CHECK(test_run_until(&loop, &r[i].released, 10000));
        CHECK(!r[i].exited); /* released while running: the exit is not reported */
        if (r[i].pid > 0)
            CHECK(test_run_until_cond(&loop, pid_gone, &r[i].pid, 5000));
        free(r[i].err);
        orch_service_free(&s[i]);
    }
    CHECK(test_run_until_cond(&loop, no_zombies, NULL, 5000));
    uv_run(&loop, UV_RUN_NOWAIT); /* closes of the watches */
    CHECK(open_fds() == fds_before);
}

/* Released before its exec report came: no `started`, no exit report, the
 * child killed and reaped, nothing left open. */
static void test_release_before_report(void)
{
    int fds_before = open_fds();
    orch_service s;
    service(&s, "earlysvc", "echo $$ > \"$OUT/early.pid\"; exec sleep 100");
    add_env(&s, "OUT", tmp);
    run r = {0};
    orch_instance *inst = start(&s, &r);
    if (inst)
        orch_runtime_bare.release(inst, on_released, &r);
    CHECK(inst && test_run_until(&loop, &r.released, 10000));
    CHECK(!r.started && !r.exited);
    char *p = path_in(tmp, "early.pid");
    char *text = test_read(p);
    pid_t pid = text ? (pid_t)atoi(text) : 0;
    if (pid > 0)
        CHECK(test_run_until_cond(&loop, pid_gone, &pid, 5000));
    CHECK(test_run_until_cond(&loop, no_zombies, NULL, 5000));
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(open_fds() == fds_before);
    free(text);
    free(p);
    orch_service_free(&s);
}

/* Without limits a service is in its cgroup in exactly one hierarchy (the
 * tracking one: cgroup2 when mounted); MEMORY adds v1 memory where that is
 * a hierarchy of its own. */
static void test_hierarchies_joined(void)
{
    bool pure_v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
    bool cgroup2 = pure_v2 || access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0;
    bool v1_memory = !pure_v2 && access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) == 0;
    for (int with_memory = 0; with_memory < 2; with_memory++) {
        orch_service s;
        const char *name = with_memory ? "memsvc" : "plainsvc";
        service(&s, name, "exec sleep 100");
        if (with_memory) {
            s.set |= ORCH_BIT(ORCH_F_MEMORY);
            s.memory = 64 << 20;
        }
        run r = {0};
        orch_instance *inst = start(&s, &r);
        if (!inst) {
            orch_service_free(&s);
            return;
        }
        /* polled: `started` comes from a 0 timer, after which a plain
         * test_run_until would sleep until some other event */
        CHECK(test_run_until_cond(&loop, is_started, &r, 10000));
        char *list = joined_hierarchies(r.pid, name);
        if (!*list) {
            fprintf(stderr, "note: no cgroup; hierarchies not tested\n");
        } else {
            const char *tracking = cgroup2 ? "[]" : "[pids]";
            const char *want = tracking;
            char *both = NULL;
            if (with_memory && v1_memory)
                want = both = cgroup2 ? xstrdup("[memory],[]") : xstrdup("[pids],[memory]");
            if (strcmp(list, want) != 0)
                fprintf(stderr, "  %s is in: %s, want %s\n", name, list, want);
            CHECK(strcmp(list, want) == 0);
            free(both);
        }
        free(list);
        CHECK(orch_runtime_bare.signal(inst, SIGKILL) == 0);
        CHECK(test_run_until(&loop, &r.exited, 10000));
        orch_runtime_bare.release(inst, on_released, &r);
        CHECK(test_run_until(&loop, &r.released, 10000));
        orch_service_free(&s);
    }
}

/* signal reaches the process group and, through the cgroup, a process that
 * left it with setsid. */
static void test_signal(void)
{
    orch_service s;
    service(&s, "sigsvc",
            "sleep 100 & echo $! > \"$OUT/bg.pid\"; "
            "setsid sleep 100 & echo $! > \"$OUT/escaped.pid\"; wait");
    add_env(&s, "OUT", tmp);
    run r = {0};
    orch_instance *inst = start(&s, &r);
    if (!inst) {
        orch_service_free(&s);
        return;
    }
    CHECK(test_run_until(&loop, &r.started, 10000));
    pid_t bg = read_pid("bg.pid"), escaped = read_pid("escaped.pid");
    CHECK(bg > 0 && escaped > 0);
    bool has_cgroup = escaped > 0 && in_our_cgroup(escaped);
    for (int i = 0; i < 100 && escaped > 0 && getsid(escaped) != escaped; i++)
        usleep(10000); /* setsid(1) may not have run yet */
    CHECK(orch_runtime_bare.signal(inst, SIGTERM) == 0);
    CHECK(test_run_until(&loop, &r.exited, 10000));
    CHECK(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM);
    CHECK(test_run_until_cond(&loop, pid_gone, &bg, 5000));
    if (has_cgroup)
        CHECK(test_run_until_cond(&loop, pid_gone, &escaped, 5000));
    else
        fprintf(stderr, "note: no cgroup; escaped process not tested\n");
    orch_runtime_bare.release(inst, on_released, &r);
    CHECK(test_run_until(&loop, &r.released, 10000));
    orch_service_free(&s);
}

static bool dir_gone(void *arg)
{
    return access((const char *)arg, F_OK) < 0 && errno == ENOENT;
}

/* release kills what the service left behind and parks its (empty) cgroup,
 * which goes once ORCH_CGROUP_PARK_MS have passed with no start of it. */
static void test_release_leftovers(void)
{
    orch_service s;
    service(&s, "leftsvc", "setsid sleep 100 & echo $! > \"$OUT/left.pid\"; exit 0");
    add_env(&s, "OUT", tmp);
    s.set |= ORCH_BIT(ORCH_F_TASKS_MAX);
    s.tasks_max = 50;
    run r = {0};
    orch_instance *inst = start(&s, &r);
    if (!inst) {
        orch_service_free(&s);
        return;
    }
    CHECK(test_run_until(&loop, &r.exited, 10000));
    CHECK(r.order == 1 && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    pid_t left = read_pid("left.pid");
    char *dir = left > 0 ? our_cgroup_dir(left) : NULL;
    CHECK(!dir || access(dir, F_OK) == 0);
    orch_runtime_bare.release(inst, on_released, &r);
    CHECK(test_run_until(&loop, &r.released, 10000));
    if (dir) {
        CHECK(test_run_until_cond(&loop, pid_gone, &left, 5000));
        CHECK(access(dir, F_OK) == 0 && orch_cgroup_parked() >= 1); /* parked, empty */
        CHECK(test_run_until_cond(&loop, dir_gone, dir, ORCH_CGROUP_PARK_MS + 5000));
    } else {
        fprintf(stderr, "note: no cgroup; release of leftovers not tested\n");
    }
    free(dir);
    orch_service_free(&s);
}

static ino_t dir_ino(const char *dir)
{
    struct stat st;
    return dir && stat(dir, &st) == 0 ? st.st_ino : 0;
}

/* A restart after a release starts in the same cgroup directory (parked, not
 * removed and made again); a parked one that is not started again goes at
 * shutdown, and the timer with it (the loop closes in main). */
static void test_restart_reuses_cgroup(void)
{
    orch_service s;
    service(&s, "reusesvc", "echo $$ > \"$OUT/reuse.pid\"; sleep 0.2");
    add_env(&s, "OUT", tmp);
    ino_t ino[2] = {0, 0};
    char *dir = NULL;
    for (int round = 0; round < 2; round++) {
        run r = {0};
        unlink("reuse.pid");
        orch_instance *inst = start(&s, &r);
        if (!inst)
            break;
        CHECK(test_run_until(&loop, &r.started, 10000));
        free(dir);
        dir = our_cgroup_dir(r.pid);
        ino[round] = dir_ino(dir);
        CHECK(test_run_until(&loop, &r.exited, 10000));
        orch_runtime_bare.release(inst, on_released, &r);
        CHECK(test_run_until(&loop, &r.released, 10000));
    }
    if (dir) {
        CHECK(ino[0] != 0 && ino[0] == ino[1]);
        CHECK(access(dir, F_OK) == 0);
        orch_runtime_bare.shutdown();
        CHECK(dir_gone(dir));
        CHECK(orch_cgroup_parked() == 0);
    } else {
        fprintf(stderr, "note: no cgroup; reuse not tested\n");
        orch_runtime_bare.shutdown();
    }
    free(dir);
    orch_service_free(&s);
}

/* A restart right after release: the old release must not kill the new
 * instance that now shares the cgroup. */
static void test_restart_during_release(void)
{
    orch_service s;
    service(&s, "restartsvc", "setsid sleep 100 & echo $! > \"$OUT/old.pid\"; exit 0");
    add_env(&s, "OUT", tmp);
    run old = {0};
    orch_instance *inst = start(&s, &old);
    if (!inst) {
        orch_service_free(&s);
        return;
    }
    CHECK(test_run_until(&loop, &old.exited, 10000));
    pid_t left = read_pid("old.pid");
    orch_runtime_bare.release(inst, on_released, &old);

    free(s.run_command);
    s.run_command = xstrdup("sleep 0.3; exit 0");
    run fresh = {0};
    orch_instance *next = start(&s, &fresh);
    if (next) {
        CHECK(test_run_until(&loop, &fresh.exited, 10000));
        CHECK(WIFEXITED(fresh.status) && WEXITSTATUS(fresh.status) == 0);
        CHECK(old.released);
        orch_runtime_bare.release(next, on_released, &fresh);
        CHECK(test_run_until(&loop, &fresh.released, 10000));
    }
    CHECK(test_run_until(&loop, &old.released, 10000));
    if (in_our_cgroup(left) || test_proc_gone(left))
        CHECK(test_run_until_cond(&loop, pid_gone, &left, 5000));
    orch_service_free(&s);
}

typedef struct cmd_rec {
    bool done;
    orch_exec_result r;
} cmd_rec;

static void on_command(void *owner, const orch_exec_result *r)
{
    cmd_rec *c = owner;
    c->done = true;
    c->r = *r;
    c->r.err = NULL;
}

static orch_exec *run_cmd(orch_service *s, const char *cmd, uint64_t timeout_ms, cmd_rec *c,
                          char **err)
{
    *c = (cmd_rec){0};
    return orch_runtime_bare.exec(NULL, s, &ctx, cmd, timeout_ms, on_command, c, err);
}

static pid_t read_pid_file(const char *path)
{
    char *text = test_read(path);
    pid_t pid = text ? (pid_t)atoi(text) : 0;
    free(text);
    return pid;
}

/* True once the pid file holds a pid: the shell writes it to a temporary
 * name and renames it, so a reader never sees it created but still empty. */
static bool pid_file_ready(void *arg)
{
    return read_pid_file(arg) > 0;
}

static void test_run_command(void)
{
    orch_service s;
    service(&s, "cmdsvc", "true");
    s.stdout_path = path_in(tmp, "cmd.log");
    add_env(&s, "GREETING", "hello");
    char *err = NULL;
    cmd_rec c;
    orch_exec *x = run_cmd(&s, "echo $GREETING-$ORCH_SERVICE; pwd; exit 3", 0, &c, &err);
    CHECK(x != NULL);
    CHECK(err == NULL);
    CHECK(!c.done); /* never from inside the call */
    CHECK(test_run_until(&loop, &c.done, 10000));
    CHECK(!c.r.timed_out && WIFEXITED(c.r.status) && WEXITSTATUS(c.r.status) == 3);
    char *text = test_read(s.stdout_path);
    char *want = xasprintf("hello-cmdsvc\n%s\n", project);
    CHECK_STR(text, want);
    free(want);
    free(text);

    /* a timeout kills the command's whole process group */
    char *pidfile = path_in(tmp, "cmd.pid");
    char *cmd = xasprintf("sleep 30 & echo $! >%s.tmp && mv %s.tmp %s; wait",
                          pidfile, pidfile, pidfile);
    /* 3 s: long enough for the shell to write the pid file on a loaded machine
     * under ASan before the timeout kills it */
    x = run_cmd(&s, cmd, 3000, &c, &err);
    CHECK(x != NULL);
    CHECK(test_run_until(&loop, &c.done, 15000));
    CHECK(c.r.timed_out);
    pid_t child = read_pid_file(pidfile);
    CHECK(child > 0);
    if (child > 0) {
        test_track_pid(child);
        CHECK(test_run_until_cond(&loop, pid_gone, &child, 5000));
    }

    /* a cancelled command is killed and never reported */
    unlink(pidfile);
    x = run_cmd(&s, cmd, 0, &c, &err);
    CHECK(x != NULL);
    CHECK(test_run_until_cond(&loop, pid_file_ready, pidfile, 5000));
    orch_runtime_bare.exec_cancel(x);
    child = read_pid_file(pidfile);
    CHECK(child > 0);
    if (child > 0) {
        test_track_pid(child);
        CHECK(test_run_until_cond(&loop, pid_gone, &child, 5000));
    }
    bool never = false;
    test_run_until(&loop, &never, 300);
    CHECK(!c.done);
    free(cmd);
    free(pidfile);

    /* an unopenable log is not fatal for a helper command */
    free(s.stdout_path);
    s.stdout_path = xstrdup("/proc/orchd-nope/out.log");
    x = run_cmd(&s, "exit 0", 0, &c, &err);
    CHECK(x != NULL);
    CHECK(test_run_until(&loop, &c.done, 10000));
    CHECK(WIFEXITED(c.r.status) && WEXITSTATUS(c.r.status) == 0);

    s.workdir = xstrdup("/nonexistent-orchd-dir");
    x = run_cmd(&s, "exit 0", 0, &c, &err);
    CHECK(x == NULL);
    CHECK_CONTAINS(err, "service cmdsvc: WORKDIR '/nonexistent-orchd-dir'");
    free(err);
    orch_service_free(&s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *sorted_lines(const char *text)
{
    if (!text)
        return NULL;
    char *copy = xstrdup(text), *save = NULL;
    char **v = NULL;
    size_t n = 0, cap = 0, len = 0;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        xgrow((void **)&v, &cap, n + 1, sizeof *v);
        v[n++] = l;
        len += strlen(l) + 1;
    }
    qsort(v, n, sizeof *v, cmp_str);
    char *out = xcalloc(1, len + 1);
    for (size_t i = 0; i < n; i++) {
        strcat(out, v[i]);
        strcat(out, "\n");
    }
    free(v);
    free(copy);
    return out;
}

/* A plain command line is exec'd by orchd itself (no /bin/sh in between),
 * with exactly the environment the shell would have given it (PWD
 * included); whatever that exec cannot do falls back to the shell, so a
 * missing command and a script without #! behave as under /bin/sh -c. */
static void test_direct_exec(void)
{
    orch_service s;
    /* the service is env itself: its environment, compared with what env
     * sees when the shell runs it (`; true` keeps that line the shell's) */
    service(&s, "directsvc", "exec /usr/bin/env");
    s.stdout_path = path_in(tmp, "direct-env.txt");
    add_env(&s, "FOO", "bar");
    run r = {0};
    run_service(&s, &r);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    free(s.run_command);
    s.run_command = xstrdup("/usr/bin/env; true");
    free(s.stdout_path);
    s.stdout_path = path_in(tmp, "shell-env.txt");
    run r2 = {0};
    run_service(&s, &r2);
    char *direct_path = path_in(tmp, "direct-env.txt");
    char *a = test_read(direct_path), *b = test_read(s.stdout_path);
    char *sa = sorted_lines(a), *sb = sorted_lines(b);
    CHECK_STR(sa, sb);
    CHECK_CONTAINS(sa, "PWD=");
    free(a), free(b), free(sa), free(sb), free(direct_path);

    /* by the time `started` comes the service's pid is the command itself */
    free(s.run_command);
    s.run_command = xstrdup("exec sleep 30");
    run r3 = {0};
    orch_instance *inst = start(&s, &r3);
    if (inst) {
        CHECK(test_run_until(&loop, &r3.started, 10000));
        char link[64], exe[256] = "";
        snprintf(link, sizeof link, "/proc/%d/exe", (int)r3.pid);
        ssize_t n = readlink(link, exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        CHECK_STR(exe, "/usr/bin/sleep");
        orch_runtime_bare.signal(inst, SIGKILL);
        CHECK(test_run_until(&loop, &r3.exited, 10000));
        orch_runtime_bare.release(inst, on_released, &r3);
        CHECK(test_run_until(&loop, &r3.released, 10000));
    }

    /* not found: the shell's message and status 127, not a start error */
    free(s.run_command);
    s.run_command = xstrdup("orchd-no-such-command-xyz 1");
    free(s.stdout_path);
    s.stdout_path = path_in(tmp, "direct-missing.txt");
    s.stderr_path = xstrdup(s.stdout_path);
    run r4 = {0};
    run_service(&s, &r4);
    CHECK(WIFEXITED(r4.status) && WEXITSTATUS(r4.status) == 127);
    char *text = test_read(s.stdout_path);
    CHECK_CONTAINS(text, "not found");
    free(text);

    /* an executable without #!: the shell runs it as a script */
    char *script = path_in(project, "noshebang");
    char *mark = path_in(tmp, "noshebang.out");
    char *body = xasprintf("echo ran > %s\n", mark);
    test_write(script, body);
    chmod(script, 0755);
    free(s.run_command);
    s.run_command = xstrdup("./noshebang");
    run r5 = {0};
    run_service(&s, &r5);
    CHECK(WIFEXITED(r5.status) && WEXITSTATUS(r5.status) == 0);
    text = test_read(mark);
    CHECK_STR(text, "ran\n");
    free(text), free(body), free(mark), free(script);
    orch_service_free(&s);
}

int main(void)
{
    tmp = test_mkdtemp();
    project = path_in(tmp, "project");
    state = path_in(tmp, "state");
    chmod(tmp, 0755); /* USER nobody must reach the project dir */
    mkdir(project, 0755);
    snprintf(ns, sizeof ns, "orchtest-%d", (int)getpid());
    ctx = (orch_env_ctx){.state_dir = state, .data_dir = tmp, .project_dir = project, .namespace_ = ns,
                         .port_offset = "0"};
    /* Few fds, so that test_async_many starts more children than the
     * runtime keeps exec reports outstanding for (a quarter of this). */
    struct rlimit few;
    if (getrlimit(RLIMIT_NOFILE, &few) == 0 && (few.rlim_max == RLIM_INFINITY || few.rlim_max >= 128)) {
        few.rlim_cur = 128;
        setrlimit(RLIMIT_NOFILE, &few);
    }
    uv_loop_init(&loop);
    CHECK(orch_reaper_init(&loop) == 0);

    test_environment_and_workdir();
    test_logs();
    test_user();
    test_own_user_cache();
    test_start_errors();
    test_signal();
    test_release_leftovers();
    test_restart_during_release();
    test_run_command();
    test_direct_exec();
    test_hierarchies_joined();
    test_async_many();
    test_release_before_report();

    test_kill_tracked();
    test_restart_reuses_cgroup(); /* last: it shuts the runtime down */
    orch_reaper_close();
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    test_rm_rf(tmp);
    free(project);
    free(state);
    free(tmp);
    return check_done();
}
