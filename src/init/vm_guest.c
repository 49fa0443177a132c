/* The guest side of the vm runtime (vm_guest.h). No daemon, no Orchfile:
 * the host already resolved the service into the spec; this only mounts,
 * loads the kernel modules, runs the service on the console and reports. */
#include "init/vm_guest.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "common/fileutil.h"
#include "common/xalloc.h"
#include "init/machine.h"
#include "runtime/vm_exit.h"

#define MODULES "/.orchd/modules"
#define SVC_CGROUP "/sys/fs/cgroup/service"

extern char **environ;

bool orch_vm_guest_present(void)
{
    return getpid() == 1 && access(ORCH_VM_GUEST_CONFIG, R_OK) == 0;
}

static void load_modules(void)
{
    char *order = NULL;
    if (orch_read_file(MODULES "/order", &order, NULL) < 0)
        return;
    char *save = NULL;
    for (char *m = strtok_r(order, "\n", &save); m; m = strtok_r(NULL, "\n", &save)) {
        char path[512];
        snprintf(path, sizeof path, MODULES "/%s", m);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        /* finit_module takes no parameters from the kernel command line:
         * none are needed, the devices are found without them */
        if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST))
            init_log("module %s: %s", m, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    free(order);
}

static char **strs(yajl_val v)
{
    size_t n = YAJL_IS_ARRAY(v) ? YAJL_GET_ARRAY(v)->len : 0;
    char **out = xcalloc(n + 1, sizeof *out);
    for (size_t i = 0, j = 0; i < n; i++)
        if (YAJL_IS_STRING(YAJL_GET_ARRAY(v)->values[i]))
            out[j++] = YAJL_GET_STRING(YAJL_GET_ARRAY(v)->values[i]);
    return out;
}

static long long num(yajl_val root, const char **path)
{
    yajl_val v = yajl_tree_get(root, path, yajl_t_number);
    return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : -1;
}

static int rlimit_of(const char *t)
{
    if (!strcmp(t, "RLIMIT_NOFILE"))
        return RLIMIT_NOFILE;
    if (!strcmp(t, "RLIMIT_NPROC"))
        return RLIMIT_NPROC;
    return -1;
}

/* In the child, before exec. Errors print and exit 127 (as a shell would). */
static void become_service(yajl_val spec)
{
    const char *ap[] = {"process", "args", NULL}, *ep[] = {"process", "env", NULL},
               *cp[] = {"process", "cwd", NULL}, *up[] = {"process", "user", "uid", NULL},
               *gp[] = {"process", "user", "gid", NULL},
               *xp[] = {"process", "user", "additionalGids", NULL},
               *rp[] = {"process", "rlimits", NULL};
    char **argv = strs(yajl_tree_get(spec, ap, yajl_t_array));
    char **env = strs(yajl_tree_get(spec, ep, yajl_t_array));
    if (!argv[0]) {
        fprintf(stderr, "orchd-vm: the spec has no process.args\n");
        _exit(127);
    }
    setsid();
    int cg = open(SVC_CGROUP "/cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (cg >= 0) {
        if (write(cg, "0", 1) != 1)
            fprintf(stderr, "orchd-vm: joining %s: %s\n", SVC_CGROUP, strerror(errno));
        close(cg);
    }
    yajl_val rl = yajl_tree_get(spec, rp, yajl_t_array);
    for (size_t i = 0; rl && i < YAJL_GET_ARRAY(rl)->len; i++) {
        yajl_val r = YAJL_GET_ARRAY(rl)->values[i];
        const char *tp[] = {"type", NULL}, *hp[] = {"hard", NULL}, *sp[] = {"soft", NULL};
        const char *t = YAJL_GET_STRING(yajl_tree_get(r, tp, yajl_t_string));
        int which = t ? rlimit_of(t) : -1;
        if (which < 0)
            continue;
        struct rlimit lim = {(rlim_t)num(r, sp), (rlim_t)num(r, hp)};
        if (setrlimit(which, &lim) != 0)
            fprintf(stderr, "orchd-vm: %s: %s\n", t, strerror(errno));
    }
    yajl_val xg = yajl_tree_get(spec, xp, yajl_t_array);
    size_t ng = xg ? YAJL_GET_ARRAY(xg)->len : 0;
    gid_t *groups = xcalloc(ng + 1, sizeof *groups);
    for (size_t i = 0; i < ng; i++)
        groups[i] = (gid_t)YAJL_GET_INTEGER(YAJL_GET_ARRAY(xg)->values[i]);
    long long uid = num(spec, up), gid = num(spec, gp);
    if (setgroups(ng, groups) != 0 || (gid > 0 && setgid((gid_t)gid) != 0) ||
        (uid > 0 && setuid((uid_t)uid) != 0)) {
        fprintf(stderr, "orchd-vm: cannot become uid %lld gid %lld: %s\n", uid, gid, strerror(errno));
        _exit(127);
    }
    const char *cwd = YAJL_GET_STRING(yajl_tree_get(spec, cp, yajl_t_string));
    if (cwd && chdir(cwd) != 0) {
        fprintf(stderr, "orchd-vm: WORKDIR %s: %s\n", cwd, strerror(errno));
        _exit(127);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    environ = env; /* execvp looks argv[0] up in the service's PATH */
    execvp(argv[0], argv);
    fprintf(stderr, "orchd-vm: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static void set_tasks_max(yajl_val spec)
{
    const char *pp[] = {"linux", "resources", "pids", "limit", NULL};
    long long lim = num(spec, pp);
    if (lim <= 0)
        return;
    if (mkdir(SVC_CGROUP, 0755) != 0 && errno != EEXIST) {
        init_log("TASKS_MAX: %s: %s", SVC_CGROUP, strerror(errno));
        return;
    }
    char v[32];
    snprintf(v, sizeof v, "%lld", lim);
    int r = orch_write_file(SVC_CGROUP "/pids.max", v);
    if (r < 0)
        init_log("TASKS_MAX: pids.max: %s", strerror(-r));
}

static void report(int status)
{
    unsigned v = orch_vm_exit_encode(status);
    init_log("the service ended (wait status %d): powering off", status);
    kill(-1, SIGKILL);
    sync();
    if (ioperm(ORCH_VM_EXIT_PORT, 4, 1) == 0)
        outl(v, ORCH_VM_EXIT_PORT); /* qemu exits here */
    init_log("no isa-debug-exit port: powering off without a status");
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

int orch_vm_guest_run(void)
{
    init_console();
    init_log("vm guest init: starting");
    reboot(RB_DISABLE_CAD); /* ctrl-alt-del (the host's stop) becomes SIGINT */
    init_mount_all();
    load_modules();
    char *text = NULL;
    char eb[256] = "";
    yajl_val spec = NULL;
    if (orch_read_file(ORCH_VM_GUEST_CONFIG, &text, NULL) == 0)
        spec = yajl_tree_parse(text, eb, sizeof eb);
    free(text);
    if (!spec) {
        init_log("%s: %s", ORCH_VM_GUEST_CONFIG, eb);
        report(127 << 8);
    }
    set_tasks_max(spec);
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGINT, SIGTERM, SIGPWR, SIGUSR1, SIGUSR2, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pid_t child = fork();
    if (child < 0) {
        init_log("fork: %s", strerror(errno));
        report(127 << 8);
    }
    if (child == 0)
        become_service(spec);
    init_log("service started (pid %d)", (int)child);
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&set, &si);
        if (sig == SIGCHLD) {
            int st;
            pid_t p;
            while ((p = waitpid(-1, &st, WNOHANG)) > 0)
                if (p == child)
                    report(st);
        } else if (sig > 0) {
            init_log("%s: stopping the service", strsignal(sig));
            kill(-child, SIGTERM);
            kill(child, SIGTERM);
        }
    }
}
