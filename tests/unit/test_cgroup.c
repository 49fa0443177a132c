/* Unit tests for service cgroups (runtimes/bare/cgroup.c): limits written, a
 * process joined, killed and the directories removed. Skips (77) when no
 * cgroup hierarchy is writable. Every cgroup is made in a namespace of its
 * own (orchtest-PID) and removed at the end, pass or fail. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "bare/cgroup.h"
#include "bare/cgroup_park.h"
#include "runtime/reaper.h"
#include "bare/spawn.h"
#include "proc_helpers.h"
#include "common/xalloc.h"

static uv_loop_t loop;
static char ns[64];
static orch_cgroup groups[8];
static size_t n_groups;

/* Contents of control file name with the trailing newline cut, or NULL. */
static char *read_control(const orch_cgroup *cg, const char *name)
{
    char *path = orch_cgroup_file(cg, name);
    char *text = path ? test_read(path) : NULL;
    free(path);
    if (text)
        text[strcspn(text, "\n")] = '\0';
    return text;
}

static orch_cgroup *prepare(const char *service, const orch_service *svc, char **warning)
{
    if (n_groups == sizeof groups / sizeof *groups)
        abort(); /* a test bug: make groups[] bigger */
    orch_cgroup *cg = &groups[n_groups++];
    int r = orch_cgroup_prepare(ns, service, svc, cg, warning);
    CHECK(r == 0);
    return cg;
}

static void init_service(orch_service *s, const char *name)
{
    orch_service_defaults(s);
    s->name = xstrdup(name);
    s->run_command = xstrdup("true");
}

static void test_limits(void)
{
    orch_service s;
    init_service(&s, "limits");
    s.set |= ORCH_BIT(ORCH_F_MEMORY) | ORCH_BIT(ORCH_F_TASKS_MAX) | ORCH_BIT(ORCH_F_CPUS) |
             ORCH_BIT(ORCH_F_IO_WEIGHT);
    s.memory = 64 << 20;
    s.tasks_max = 32;
    s.cpus = 0.5;
    s.io_weight = 200;
    char *warning = NULL;
    orch_cgroup *cg = prepare("limits", &s, &warning);
    if (warning)
        fprintf(stderr, "note: warning: %s\n", warning);

    char *want_suffix = xasprintf("/orchd/%s/limits", ns);
    for (size_t i = 0; i < cg->n; i++) {
        size_t dl = strlen(cg->dir[i]), sl = strlen(want_suffix);
        CHECK(dl > sl && strcmp(cg->dir[i] + dl - sl, want_suffix) == 0);
    }
    free(want_suffix);

    /* v2 file names where the memory limit lives in cgroup2 (pure v2); v1
     * names in the hybrid and v1 layouts */
    char *memory_max = orch_cgroup_file(cg, "memory.max");
    bool v2 = memory_max != NULL;
    free(memory_max);
    char *p;
    if (v2) {
        CHECK_STR(p = read_control(cg, "memory.max"), "67108864");
        free(p);
        CHECK_STR(p = read_control(cg, "cpu.max"), "50000 100000");
        free(p);
    } else {
        CHECK_STR(p = read_control(cg, "memory.limit_in_bytes"), "67108864");
        free(p);
        CHECK_STR(p = read_control(cg, "cpu.cfs_quota_us"), "50000");
        free(p);
        CHECK_STR(p = read_control(cg, "cpu.cfs_period_us"), "100000");
        free(p);
    }
    CHECK_STR(p = read_control(cg, "pids.max"), "32");
    free(p);

    /* IO weight: written where the kernel offers a knob, else a warning. */
    const char *io_files[] = {"io.weight", "io.bfq.weight", "blkio.weight", "blkio.bfq.weight"};
    bool io_knob = false;
    for (size_t i = 0; i < 4; i++) {
        char *v = read_control(cg, io_files[i]);
        if (v) {
            io_knob = true;
            CHECK_CONTAINS(v, "200");
            free(v);
            break;
        }
    }
    if (!io_knob)
        CHECK_CONTAINS(warning, "IO_WEIGHT not applied");
    CHECK(!warning || !strstr(warning, "MEMORY"));
    CHECK(!warning || !strstr(warning, "TASKS_MAX"));
    CHECK(!warning || !strstr(warning, "CPUS"));
    free(warning);
    orch_service_free(&s);
}

static void test_cpu_quota(void)
{
    orch_service s;
    init_service(&s, "quota");
    s.set |= ORCH_BIT(ORCH_F_CPU_QUOTA);
    s.cpu_quota = 200;
    char *warning = NULL;
    orch_cgroup *cg = prepare("quota", &s, &warning);
    char *v2 = read_control(cg, "cpu.max");
    char *v1 = read_control(cg, "cpu.cfs_quota_us");
    CHECK((v2 && strcmp(v2, "200000 100000") == 0) || (v1 && strcmp(v1, "200000") == 0));
    free(v1);
    free(v2);
    CHECK(warning == NULL);
    free(warning);

    /* both given: the stricter one wins */
    s.set |= ORCH_BIT(ORCH_F_CPUS);
    s.cpus = 0.25;
    cg = prepare("quota-both", &s, &warning);
    v2 = read_control(cg, "cpu.max");
    v1 = read_control(cg, "cpu.cfs_quota_us");
    CHECK((v2 && strcmp(v2, "25000 100000") == 0) || (v1 && strcmp(v1, "25000") == 0));
    free(v1);
    free(v2);
    free(warning);
    orch_service_free(&s);
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static bool under(const char *dir, const char *mount)
{
    return strncmp(dir, mount, strlen(mount)) == 0 && dir[strlen(mount)] == '/';
}

/* The hierarchy a service is tracked in: cgroup2 when mounted, else v1
 * pids (when writable, which it is wherever this test runs as root). */
static void check_tracking(const orch_cgroup *cg)
{
    bool pure = exists("/sys/fs/cgroup/cgroup.controllers");
    bool hybrid = !pure && exists("/sys/fs/cgroup/unified/cgroup.controllers");
    if (pure || hybrid) {
        CHECK(cg->v2);
        CHECK(under(cg->dir[0], hybrid ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup"));
        char *controllers = xasprintf("%s/cgroup.controllers", cg->dir[0]);
        CHECK(exists(controllers));
        free(controllers);
    } else if (exists("/sys/fs/cgroup/pids/cgroup.procs")) {
        CHECK(!cg->v2);
        CHECK(under(cg->dir[0], "/sys/fs/cgroup/pids"));
    }
}

/* Without limits there is still a cgroup, and never a warning: exactly one,
 * in the tracking hierarchy. */
static void test_no_limits(void)
{
    char *warning = NULL;
    orch_cgroup *cg = prepare("plain", NULL, &warning);
    CHECK(cg->n == 1);
    CHECK(warning == NULL);
    CHECK(cg->procs[cg->n] == NULL);
    check_tracking(cg);

    const char *into;
    const char *const *procs;
    orch_cgroup_spawn_targets(cg, &into, &procs);
    if (cg->v2) {
        CHECK_STR(into, cg->dir[0]);
        CHECK(procs == NULL); /* nothing left to join */
    } else {
        CHECK(into == NULL);
        CHECK(procs && procs[0] == cg->procs[0] && procs[1] == NULL);
    }

    /* A service whose directives set no limit is the same. */
    orch_service s;
    init_service(&s, "plain-svc");
    cg = prepare("plain-svc", &s, &warning);
    CHECK(cg->n == 1);
    CHECK(warning == NULL);
    orch_service_free(&s);
}

/* MEMORY alone: the tracking cgroup plus, where memory is a v1 hierarchy,
 * that hierarchy, which gets the limit; no other hierarchy. */
static void test_memory_joins_memory(void)
{
    orch_service s;
    init_service(&s, "mem");
    s.set |= ORCH_BIT(ORCH_F_MEMORY);
    s.memory = 32 << 20;
    char *warning = NULL;
    orch_cgroup *cg = prepare("mem", &s, &warning);
    check_tracking(cg);
    CHECK(warning == NULL);
    bool v1_memory = !exists("/sys/fs/cgroup/cgroup.controllers") &&
                     exists("/sys/fs/cgroup/memory/cgroup.procs");
    if (v1_memory) {
        CHECK(cg->n == 2);
        CHECK(cg->n == 2 && under(cg->dir[1], "/sys/fs/cgroup/memory"));
        char *p = read_control(cg, "memory.limit_in_bytes");
        CHECK_STR(p, "33554432");
        free(p);
        const char *into;
        const char *const *procs;
        orch_cgroup_spawn_targets(cg, &into, &procs);
        CHECK(procs && procs[0] == cg->procs[cg->v2 ? 1 : 0]);
    } else {
        CHECK(cg->n == 1);
        char *p = read_control(cg, "memory.max");
        CHECK_STR(p, "33554432");
        free(p);
    }
    free(warning);
    orch_service_free(&s);
}

/* A cgroup that cannot be created: silent without limits, a warning naming
 * the cause with them. */
static void test_unwritable(void)
{
    const char *name = "bad\nname"; /* cgroupfs refuses a newline */
    orch_cgroup cg;
    char *warning = NULL;
    CHECK(orch_cgroup_prepare(ns, name, NULL, &cg, &warning) == -EINVAL);
    CHECK(warning == NULL);
    CHECK(cg.n == 0);

    orch_service s;
    init_service(&s, "x");
    s.set |= ORCH_BIT(ORCH_F_MEMORY);
    s.memory = 1 << 30;
    CHECK(orch_cgroup_prepare(ns, name, &s, &cg, &warning) == -EINVAL);
    CHECK_CONTAINS(warning, "resource limits not applied: cannot create a cgroup under");
    CHECK_CONTAINS(warning, "Invalid argument");
    free(warning);
    orch_cgroup_free(&cg);
    orch_service_free(&s);
}

typedef struct exit_rec {
    bool done;
    int status;
} exit_rec;

static void on_exit_cb(void *owner, pid_t pid, int status)
{
    exit_rec *r = owner;
    r->done = true;
    r->status = status;
}

static bool procs_contain(const orch_cgroup *cg, size_t i, pid_t pid)
{
    char *text = test_read(cg->procs[i]);
    char *lines = xasprintf("\n%s", text ? text : "");
    char want[32];
    snprintf(want, sizeof want, "\n%d\n", (int)pid);
    bool found = strstr(lines, want) != NULL;
    free(lines);
    free(text);
    return found;
}

static int procs_count(const orch_cgroup *cg, size_t i)
{
    char *text = test_read(cg->procs[i]);
    int n = 0;
    for (const char *p = text ? text : ""; *p; p++)
        n += *p == '\n';
    free(text);
    return n;
}

/* A process joins every hierarchy, kill_all reaches it and its escaped
 * child, and the directories go away once they are dead. */
static void test_join_kill_remove(void)
{
    orch_service s;
    init_service(&s, "procs");
    s.set |= ORCH_BIT(ORCH_F_MEMORY);
    s.memory = 64 << 20;
    char *warning = NULL;
    orch_cgroup *cg = prepare("procs", &s, &warning);
    orch_service_free(&s);
    free(warning);
    if (cg->n == 0)
        return;
    const char *argv[] = {"/bin/sh", "-c", "setsid sleep 60 & sleep 60", NULL};
    const char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    orch_spawn_opts o = {
        .argv = argv,
        .envp = envp,
        .stdin_fd = -1,
        .stdout_fd = -1,
        .stderr_fd = -1,
        .new_session = true,
    };
    /* as the bare runtime does: started in the cgroup2 one (clone3), the
     * others joined */
    orch_cgroup_spawn_targets(cg, &o.cgroup_into, &o.cgroup_procs);
    const char *stage;
    pid_t pid = orch_spawn(&o, &stage);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    test_track_pid(pid);
    exit_rec r = {0};
    orch_reaper_watch(pid, on_exit_cb, &r);
    for (size_t i = 0; i < cg->n; i++)
        CHECK(procs_contain(cg, i, pid));

    /* let sh start its child: wait (at most 5 s) until the cgroup lists both */
    for (int i = 0; i < 250 && procs_count(cg, 0) < 2; i++)
        usleep(20000);
    CHECK(orch_cgroup_remove(cg) == -EBUSY);
    CHECK(orch_cgroup_kill_all(cg, SIGKILL) >= 2);
    CHECK(test_run_until(&loop, &r.done, 10000));
    CHECK(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL);

    /* The children die and are reaped by the reaper (we are a subreaper). */
    int rm = -EBUSY;
    for (int i = 0; i < 250 && rm == -EBUSY; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(20000);
        rm = orch_cgroup_remove(cg);
    }
    CHECK(rm == 0);
    for (size_t i = 0; i < cg->n; i++)
        CHECK(access(cg->dir[i], F_OK) < 0 && errno == ENOENT);
    CHECK(orch_cgroup_remove(cg) == 0); /* again: already gone is fine */
}

/* A cgroup_into that cannot be opened: the child tries cgroup.procs and
 * reports the failure. */
static void test_into_missing(void)
{
    const char *argv[] = {"/bin/true", NULL};
    const char *envp[] = {NULL};
    orch_spawn_opts o = {
        .argv = argv,
        .envp = envp,
        .stdin_fd = -1,
        .stdout_fd = -1,
        .stderr_fd = -1,
        .cgroup_into = "/nonexistent-orchd-cgroup",
    };
    const char *stage = NULL;
    errno = 0;
    CHECK(orch_spawn(&o, &stage) == -1);
    CHECK(errno == ENOENT);
    CHECK_STR(stage, "cgroup");
}

/* The namespace directory goes with its last service, not before: the
 * parents are removed only once no service cgroup is left below them
 * (cgroup.stat on cgroup2, so that N removals stay O(N)). */
static void test_parents_go_with_last(void)
{
    char ns2[sizeof ns + 8];
    snprintf(ns2, sizeof ns2, "%s-p", ns);
    orch_cgroup a, b;
    char *warning = NULL;
    if (orch_cgroup_prepare(ns2, "a", NULL, &a, &warning) < 0)
        return;
    free(warning);
    warning = NULL;
    CHECK(orch_cgroup_prepare(ns2, "b", NULL, &b, &warning) == 0);
    free(warning);
    char *nsdir = xstrdup(a.dir[0]);
    *strrchr(nsdir, '/') = '\0';
    CHECK(orch_cgroup_remove(&a) == 0);
    CHECK(access(a.dir[0], F_OK) < 0 && errno == ENOENT);
    CHECK(access(nsdir, F_OK) == 0); /* b is still in it */
    CHECK(orch_cgroup_remove(&b) == 0);
    CHECK(access(nsdir, F_OK) < 0 && errno == ENOENT);
    free(nsdir);
    orch_cgroup_free(&a);
    orch_cgroup_free(&b);
}

static bool path_gone(void *arg)
{
    return access((const char *)arg, F_OK) < 0 && errno == ENOENT;
}

/* A parked cgroup someone put a process into (root can): when its time is
 * up the process is killed and the cgroup still goes, once the process is
 * dead (the timer looks again every 100 ms). */
static void test_park_busy(void)
{
    char *warning = NULL;
    orch_cgroup *cg = prepare("busy", NULL, &warning);
    free(warning);
    if (cg->n == 0)
        return;
    const char *argv[] = {"/bin/sleep", "60", NULL};
    const char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    orch_spawn_opts o = {.argv = argv, .envp = envp, .stdin_fd = -1, .stdout_fd = -1,
                         .stderr_fd = -1, .new_session = true};
    orch_cgroup_spawn_targets(cg, &o.cgroup_into, &o.cgroup_procs);
    const char *stage;
    pid_t pid = orch_spawn(&o, &stage);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    test_track_pid(pid);
    exit_rec r = {0};
    orch_reaper_watch(pid, on_exit_cb, &r);
    CHECK(procs_contain(cg, 0, pid));
    char *dir = xstrdup(cg->dir[0]);
    orch_cgroup_park(&loop, cg); /* takes the paths: groups[] has nothing left to remove */
    CHECK(test_run_until_cond(&loop, path_gone, dir, ORCH_CGROUP_PARK_MS + 5000));
    CHECK(r.done && WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL);
    CHECK(orch_cgroup_parked() == 0);
    free(dir);
}

/* Parked cgroups (bare/cgroup_park.h): beyond ORCH_CGROUP_PARK_MAX the
 * oldest goes at once; a start that takes one back (unpark) keeps its
 * tracking directory and drops limit directories its spec no longer uses;
 * flush removes the rest with their parents, and a later park removes at
 * once. */
static void test_park(void)
{
    char ns3[sizeof ns + 8];
    snprintf(ns3, sizeof ns3, "%s-k", ns);
    size_t n = ORCH_CGROUP_PARK_MAX + 1;
    char **dirs = xcalloc(n, sizeof *dirs);
    for (size_t i = 0; i < n; i++) {
        char name[32], *warning = NULL;
        snprintf(name, sizeof name, "s%zu", i);
        orch_cgroup cg;
        if (orch_cgroup_prepare(ns3, name, NULL, &cg, &warning) < 0) {
            free(warning);
            break;
        }
        free(warning);
        dirs[i] = xstrdup(cg.dir[0]);
        orch_cgroup_park(&loop, &cg);
        CHECK(cg.n == 0); /* taken over */
    }
    if (!dirs[n - 1]) {
        fprintf(stderr, "note: cannot make %zu cgroups; park not tested\n", n);
    } else {
        CHECK(orch_cgroup_parked() == ORCH_CGROUP_PARK_MAX);
        CHECK(access(dirs[0], F_OK) < 0 && errno == ENOENT); /* the oldest went */
        CHECK(access(dirs[1], F_OK) == 0 && access(dirs[n - 1], F_OK) == 0);

        /* s1 again, now with a limit in another hierarchy and without it */
        orch_service s;
        orch_service_defaults(&s);
        s.name = xstrdup("s1");
        s.set |= ORCH_BIT(ORCH_F_MEMORY);
        s.memory = 64u << 20;
        char *warning = NULL;
        orch_cgroup with;
        CHECK(orch_cgroup_prepare(ns3, "s1", &s, &with, &warning) == 0);
        free(warning);
        CHECK(orch_cgroup_unpark(&with));
        CHECK(!orch_cgroup_unpark(&with)); /* once */
        CHECK(strcmp(with.dir[0], dirs[1]) == 0);
        char *limit_dir = with.n > 1 ? xstrdup(with.dir[1]) : NULL;
        orch_cgroup_park(&loop, &with);
        orch_cgroup without;
        warning = NULL;
        CHECK(orch_cgroup_prepare(ns3, "s1", NULL, &without, &warning) == 0);
        free(warning);
        CHECK(orch_cgroup_unpark(&without));
        if (limit_dir) /* hybrid or v1: the memory directory is not needed now */
            CHECK(access(limit_dir, F_OK) < 0 && errno == ENOENT);
        CHECK(access(without.dir[0], F_OK) == 0);
        orch_cgroup_park(&loop, &without);
        free(limit_dir);
        orch_service_free(&s);

        char *nsdir = xstrdup(dirs[1]);
        *strrchr(nsdir, '/') = '\0';
        orch_cgroup_park_flush();
        CHECK(orch_cgroup_parked() == 0);
        CHECK(access(dirs[n - 1], F_OK) < 0 && errno == ENOENT);
        CHECK(access(nsdir, F_OK) < 0 && errno == ENOENT); /* parents with the last */
        free(nsdir);

        char *warning2 = NULL;
        orch_cgroup late;
        CHECK(orch_cgroup_prepare(ns3, "late", NULL, &late, &warning2) == 0);
        free(warning2);
        char *late_dir = xstrdup(late.dir[0]);
        orch_cgroup_park(&loop, &late); /* after the flush: removed at once */
        CHECK(orch_cgroup_parked() == 0);
        CHECK(access(late_dir, F_OK) < 0 && errno == ENOENT);
        free(late_dir);
    }
    orch_cgroup_park_flush();
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
}

static void cleanup(void)
{
    test_kill_tracked();
    for (size_t i = 0; i < n_groups; i++) {
        for (int tries = 0; tries < 100 && orch_cgroup_remove(&groups[i]) == -EBUSY; tries++) {
            orch_cgroup_kill_all(&groups[i], SIGKILL);
            usleep(20000);
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        }
        orch_cgroup_free(&groups[i]);
    }
}

int main(void)
{
    snprintf(ns, sizeof ns, "orchtest-%d", (int)getpid());
    orch_cgroup probe;
    char *warning = NULL;
    if (orch_cgroup_prepare(ns, "probe", NULL, &probe, &warning) < 0) {
        printf("SKIP: no writable cgroup hierarchy\n");
        return 77;
    }
    orch_cgroup_remove(&probe);
    orch_cgroup_free(&probe);

    uv_loop_init(&loop);
    CHECK(orch_reaper_init(&loop) == 0);
    test_limits();
    test_cpu_quota();
    test_no_limits();
    test_memory_joins_memory();
    test_unwritable();
    test_join_kill_remove();
    test_into_missing();
    test_parents_go_with_last();
    test_park_busy();
    test_park(); /* last: it flushes the park, for good */
    cleanup();
    orch_reaper_close();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return check_done();
}
