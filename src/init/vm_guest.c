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
#include <poll.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <time.h>
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
#include "init/vm_agent.h"
#include "init/vm_net.h"
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
    int loaded = 0, failed = 0;
    for (char *m = strtok_r(order, "\n", &save); m; m = strtok_r(NULL, "\n", &save)) {
        char path[512];
        snprintf(path, sizeof path, MODULES "/%s", m);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        /* finit_module takes no parameters from the kernel command line:
         * none are needed, the devices are found without them */
        if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)) {
            init_log("module %s: %s", m, strerror(errno));
            failed++;
        } else
            loaded++;
        if (fd >= 0)
            close(fd);
    }
    free(order);
    init_log("loaded %d kernel modules (%d failed)", loaded, failed);
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
static void become_service(yajl_val spec, const char *command, int out_fd)
{
    if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(127);
    const char *ap[] = {"process", "args", NULL}, *ep[] = {"process", "env", NULL},
               *cp[] = {"process", "cwd", NULL}, *up[] = {"process", "user", "uid", NULL},
               *gp[] = {"process", "user", "gid", NULL},
               *xp[] = {"process", "user", "additionalGids", NULL},
               *rp[] = {"process", "rlimits", NULL};
    char **argv = strs(yajl_tree_get(spec, ap, yajl_t_array));
    if (command) { /* a helper command (HEALTHCHECK, STOP, RELOAD): sh -c */
        free(argv);
        argv = xcalloc(4, sizeof *argv);
        argv[0] = (char *)"/bin/sh";
        argv[1] = (char *)"-c";
        argv[2] = (char *)command;
    }
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

/* Waits (at most 2 s) until the console has sent what was written to it:
 * a write to the serial console returns once the bytes are in the tty's
 * buffer, and the exit port ends qemu at once, taking the service's and
 * our last lines with it. Not a tty (or no answer): nothing to wait for. */
static void drain_console(void)
{
    for (int i = 0; i < 200; i++) {
        int queued = 0;
        if (ioctl(2, TIOCOUTQ, &queued) < 0 || queued <= 0)
            return;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void report(int status)
{
    unsigned v = orch_vm_exit_encode(status);
    init_log("the service ended (wait status %d): powering off", status);
    kill(-1, SIGKILL);
    sync();
    drain_console();
    if (ioperm(ORCH_VM_EXIT_PORT, 4, 1) == 0)
        outl(v, ORCH_VM_EXIT_PORT); /* qemu exits here */
    init_log("no isa-debug-exit port: powering off without a status");
    drain_console();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

/* The host's extras (/.orchd/vm.json, vm_guest.h): 9p volumes, network. */
static void mount_volumes(yajl_val vm)
{
    const char *vp[] = {"volumes", NULL}, *tp[] = {"tag", NULL}, *dp[] = {"target", NULL};
    yajl_val vols = vm ? yajl_tree_get(vm, vp, yajl_t_array) : NULL;
    for (size_t i = 0; vols && i < YAJL_GET_ARRAY(vols)->len; i++) {
        yajl_val v = YAJL_GET_ARRAY(vols)->values[i];
        const char *tag = YAJL_GET_STRING(yajl_tree_get(v, tp, yajl_t_string));
        const char *dst = YAJL_GET_STRING(yajl_tree_get(v, dp, yajl_t_string));
        if (!tag || !dst || dst[0] != '/') {
            init_log("%s: a volume without tag or absolute target", ORCH_VM_GUEST_EXTRAS);
            report(127 << 8);
        }
        int r = orch_mkdir_p(dst, 0755);
        if (r < 0 && r != -EEXIST)
            init_log("VOLUME %s: %s", dst, strerror(-r));
        /* cache=none: the host's writes show at once, the guest's reach the
         * host before write() returns */
        if (mount(tag, dst, "9p", MS_NOSUID | MS_NODEV,
                  "trans=virtio,version=9p2000.L,msize=262144,cache=none,access=client") != 0) {
            init_log("VOLUME %s (9p %s): %s", dst, tag, strerror(errno));
            report(127 << 8);
        }
        init_log("mounted volume %s (9p %s)", dst, tag);
    }
}

static void net_up(yajl_val vm)
{
    const char *np[] = {"net", NULL};
    if (!vm || !YAJL_IS_TRUE(yajl_tree_get(vm, np, yajl_t_any)))
        return;
    char why[256];
    if (orch_vm_net_up(why, sizeof why) < 0)
        init_log("network: %s", why); /* the service may not need it: go on */
    else
        init_log("network: " ORCH_VM_NET_IF " " ORCH_VM_NET_ADDR "/24 via " ORCH_VM_NET_GW);
}

static yajl_val read_json(const char *path, bool must)
{
    char *text = NULL;
    char eb[256] = "";
    yajl_val v = NULL;
    int r = orch_read_file(path, &text, NULL);
    if (r == 0)
        v = yajl_tree_parse(text, eb, sizeof eb);
    else
        snprintf(eb, sizeof eb, "%s", strerror(-r));
    free(text);
    if (!v && (must || r != -ENOENT)) {
        init_log("%s: %s", path, eb);
        report(127 << 8);
    }
    return v;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the agent (vm_agent.h): helper commands from the host */

static yajl_val g_spec;

static pid_t agent_spawn(const char *command, int out_fd)
{
    pid_t p = fork();
    if (p == 0)
        become_service(g_spec, command, out_fd);
    return p;
}

/* A stop (SIGINT from ctrl-alt-del, the agent's stop, SIGTERM, SIGPWR):
 * SIGTERM to the service's process group; its end powers off (report). */
static void stop_service(pid_t child, const char *why)
{
    init_log("%s: stopping the service", why);
    kill(-child, SIGTERM);
    kill(child, SIGTERM);
}

int orch_vm_guest_run(void)
{
    init_console();
    init_log("vm guest init: starting");
    reboot(RB_DISABLE_CAD); /* ctrl-alt-del (the host's stop) becomes SIGINT */
    init_mount_all();
    load_modules();
    yajl_val spec = read_json(ORCH_VM_GUEST_CONFIG, true);
    yajl_val vm = read_json(ORCH_VM_GUEST_EXTRAS, false);
    g_spec = spec;
    net_up(vm);
    mount_volumes(vm);
    set_tasks_max(spec);
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGINT, SIGTERM, SIGPWR, SIGUSR1, SIGUSR2, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    pid_t child = fork();
    if (child < 0) {
        init_log("fork: %s", strerror(errno));
        report(127 << 8);
    }
    if (child == 0)
        become_service(spec, NULL, -1);
    init_log("service started (pid %d)", (int)child);
    orch_vm_agent agent;
    orch_vm_agent_init(&agent, agent_spawn);
    for (;;) {
        struct pollfd pf[2] = {{.fd = sfd, .events = POLLIN}, {.fd = -1}};
        int64_t now = now_ms();
        int timeout = orch_vm_agent_poll(&agent, &pf[1], now);
        poll(pf, 2, timeout);
        orch_vm_agent_work(&agent, pf[1].revents, now_ms());
        if (agent.stop) { /* the host's stop over the agent: as SIGINT */
            stop_service(child, "the host's stop request (agent)");
            /* the host notes the answer in the same log qemu writes the
             * console to: our line first, whole */
            drain_console();
            orch_vm_agent_stop_taken(&agent);
        }
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
            int sig = (int)si.ssi_signo;
            if (sig == SIGCHLD) {
                int st;
                pid_t p;
                while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
                    if (p == child)
                        report(st);
                    orch_vm_agent_reaped(&agent, p, st);
                }
            } else {
                stop_service(child, strsignal(sig));
            }
        }
    }
}
