/* The vm runtime (docs/RUNTIME-VM.md): every FROM service is a qemu guest.
 *
 *   start    on a worker thread: the image's rootfs (image.c, cached), the
 *            image part of the initramfs (initrd.c, cached); back on the
 *            loop: the guest's spec (the OCI runtime spec the containerd
 *            runtime would write: ENV, ENV_FILE, WORKDIR, USER, LIMIT_*,
 *            TASKS_MAX); worker again: the per-start initramfs in
 *            <state>/vm/<ns>.<service>/; loop: qemu spawned like a bare
 *            process, in the service's cgroup, its stdout (the guest's
 *            serial console) appended to the service's log.
 *   exit     qemu's wait status, decoded (runtime/vm_exit.h).
 *   signal   SIGKILL kills qemu; any other signal asks the guest to stop:
 *            a "stop" request on the agent channel, or when the agent does
 *            not take it, QMP send-key ctrl-alt-delete (SIGINT for the
 *            guest's process 1); either way process 1 stops the service and
 *            powers off with its status.
 *   release  SIGKILL qemu if it still runs, wait for it, remove the cgroup
 *            and the per-start directory. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "bare/cgroup.h"
#include "bare/spawn.h"
#include "common/envfile.h"
#include "common/fileutil.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "containerd/container/spec.h"
#include "containerd/store/image_config.h"
#include "runtime/module.h"
#include "runtime/vm_exit.h"
#include "vm/image.h"
#include "vm/initrd.h"
#include "vm/layer.h"
#include "vm/agent.h"
#include "vm/qmp.h"
#include "vm/tsc.h"

#define DEFAULT_MEMORY (256ull << 20)
#define RELEASE_RETRY_MS 20
#define RELEASE_MAX_TRIES 250
#define KVM_PROBE_MS 3000
#define QMP_TIMEOUT_MS 5000

static struct {
    uv_loop_t *loop;
    char *kernel_dir;
    char *ns;
    void (*watch)(pid_t, void (*)(void *, pid_t, int), void *);
    void (*unwatch)(pid_t);
    int accel; /* 0 unknown, 1 tcg, 2 kvm; probed once, on a worker */
    char *accel_why;
    unsigned long tsc_khz; /* TCG: the host TSC rate for microvm; 0 unknown (tsc_why) */
    const char *tsc_why;
    bool initialised;
} V;

struct orch_instance {
    char *name;
    const orch_service *svc; /* the supervisor keeps it while we live */
    orch_env_ctx ctx;        /* strings copied */
    orch_instance_cbs cbs;
    void *owner;
    uv_work_t work;
    int phase;   /* 1 image, 2 initrd */
    char *err;   /* of the worker */
    vm_image img;
    char *cached_initrd;
    char *run_dir, *initrd, *qmp, *agent_sock, *log, *spec;
    char **vol_src; /* the VOLUME sources, resolved (n_volumes) */
    char *extras;   /* /.orchd/vm.json */
    vm_agent *agent;
    /* the nested survey (vm_describe): the guest orchd's last answer (a
     * JSON array, parsed once), the request on its way, and whether the
     * guest has no orchd to ask (then never again this boot) */
    char *nested;
    orch_exec *nested_x;
    bool nested_off;
    orch_exec *stop_x; /* the agent's stop request on its way (vm_signal) */
    size_t spec_len;
    pid_t pid;
    orch_cgroup cg;
    bool have_cg;
    uv_timer_t timer;
    bool timer_live;
    bool started_reported, exited, releasing, work_busy, cancelled;
    int status;
    int release_tries;
    void (*done)(void *);
    void *done_arg;
};

#define NESTED_TIMEOUT_MS 10000 /* the guest's `orchd survey --json` */
/* How long the guest's agent has to take a stop request before
 * ctrl-alt-delete is tried: once process 1 serves the port it answers
 * within milliseconds (after its log line); a guest still booting never
 * does. */
#define STOP_AGENT_MS 1500
#define STOP_AGENT_MS_TEXT "1.5 s"

static const char *ns_of(const orch_env_ctx *ctx)
{
    return ctx->namespace_ ? ctx->namespace_ : ORCH_DEFAULT_NAMESPACE;
}

/* ---------------------------------------------------------------- kvm probe */

/* /dev/kvm can exist and hang (a nested host without working VMX): ask
 * for a VM in a child that raises no SIGCHLD (exit signal 0), which the
 * daemon's reaper therefore never takes, and give it KVM_PROBE_MS. */
static int probe_kvm(void)
{
    const char *forced = getenv("ORCH_VM_ACCEL");
    if (forced && (!strcmp(forced, "tcg") || !strcmp(forced, "kvm"))) {
        V.accel_why = xasprintf("ORCH_VM_ACCEL=%s", forced);
        return !strcmp(forced, "kvm") ? 2 : 1;
    }
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        V.accel_why = xstrdup("no usable /dev/kvm");
        return 1;
    }
    pid_t pid = (pid_t)syscall(SYS_clone, 0, NULL, NULL, NULL, 0); /* no SIGCHLD */
    if (pid == 0) {
        int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        int ok = fd >= 0 && ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION &&
                 ioctl(fd, KVM_CREATE_VM, 0) >= 0;
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    pid_t r = 0;
    for (int waited = 0; pid > 0 && waited < KVM_PROBE_MS; waited += 20) {
        r = waitpid(pid, &st, WNOHANG | __WCLONE);
        if (r != 0)
            break;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (pid > 0 && r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        V.accel_why = xstrdup("/dev/kvm works");
        return 2;
    }
    if (pid > 0 && r == 0) {
        kill(pid, SIGKILL); /* it may sit in the kernel; reaped if it ever leaves */
        waitpid(pid, &st, WNOHANG | __WCLONE);
    }
    V.accel_why = xstrdup(r == 0 && pid > 0 ? "/dev/kvm hangs (KVM_CREATE_VM did not return in 3 s)"
                                            : "/dev/kvm refuses to create a VM");
    return 1;
}

/* The accelerator, and under TCG the host's TSC rate that microvm needs
 * (tsc.h); V.accel last: the loop thread reads it as "probed". */
static void probe_accel(void)
{
    int accel = probe_kvm();
    if (accel == 1)
        V.tsc_khz = vm_host_tsc_khz(&V.tsc_why);
    V.accel = accel;
}

/* ---------------------------------------------------------------- helpers */

static char *read_image_etc(const char *rootfs, const char *name)
{
    int root = open(rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0)
        return NULL;
    int etc = openat(root, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(root);
    if (etc < 0)
        return NULL;
    int fd = openat(etc, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    close(etc);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (1 << 20)) {
        buf = xmalloc((size_t)st.st_size + 1);
        ssize_t n = read(fd, buf, (size_t)st.st_size);
        buf[n > 0 ? n : 0] = '\0';
    }
    close(fd);
    return buf;
}

static void put_report(orch_instance *inst); /* started / exited */

/* On a worker: each VOLUME source resolved as the containerd runtime does
 * (named ones under <data>/volumes/NAME, relative ones under the project),
 * made when missing, and a directory. */
static char *prepare_volumes(orch_instance *inst)
{
    const orch_service *svc = inst->svc;
    inst->vol_src = xcalloc(svc->n_volumes + 1, sizeof *inst->vol_src);
    for (size_t i = 0; i < svc->n_volumes; i++) {
        const orch_volume *v = &svc->volumes[i];
        const char *f = v->at.file ? v->at.file : "?";
        char *src = ctd_volume_source(v, inst->ctx.project_dir, inst->ctx.data_dir);
        inst->vol_src[i] = src;
        struct stat st;
        if (!src)
            return xasprintf("VOLUME %s:%s: no %s to put it under (%s:%d)", v->source,
                             v->destination, v->is_named ? "data directory" : "project directory",
                             f, v->at.line);
        if (v->destination[0] != '/' || !strcmp(v->destination, "/"))
            return xasprintf("VOLUME %s:%s: the destination must be an absolute path below / (%s:%d)",
                             v->source, v->destination, f, v->at.line);
        int m = stat(src, &st) == 0 ? 0 : errno == ENOENT ? orch_mkdir_p(src, 0755) : -errno;
        if (m == 0 && stat(src, &st) != 0)
            m = -errno;
        if (m < 0)
            return xasprintf("VOLUME %s:%s: cannot use %s: %s (%s:%d)", v->source, v->destination,
                             src, strerror(-m), f, v->at.line);
        if (!S_ISDIR(st.st_mode))
            return xasprintf("VOLUME %s:%s: the source %s is not a directory (%s:%d)", v->source,
                             v->destination, src, f, v->at.line);
    }
    return NULL;
}

/* ---------------------------------------------------------------- workers */

static void work_run(uv_work_t *w)
{
    orch_instance *inst = w->data;
    if (!V.accel)
        probe_accel();
    if (inst->phase == 1) {
        inst->err = prepare_volumes(inst);
        if (inst->err)
            return;
        char *cache = xasprintf("%s/vm/rootfs", inst->ctx.data_dir);
        if (vm_image_prepare(inst->svc->image, inst->ctx.project_dir, cache, &inst->img, &inst->err) == 0) {
            char *icache = xasprintf("%s/vm/initrd", inst->ctx.data_dir);
            char *shim = getenv("ORCH_VM_SHIM") ? xstrdup(getenv("ORCH_VM_SHIM")) : NULL;
            if (!shim) {
                char self[4096];
                ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
                self[n > 0 ? n : 0] = '\0';
                char *slash = strrchr(self, '/');
                if (slash)
                    *slash = '\0';
                /* next to orchd (a build tree), else where `make install`
                 * puts it with the modules: ../lib/orchd */
                shim = xasprintf("%s/orchd-vm-init", self);
                if (access(shim, R_OK) != 0) {
                    free(shim);
                    shim = xasprintf("%s/../lib/orchd/orchd-vm-init", self);
                }
            }
            vm_initrd_input in = {.rootfs = inst->img.rootfs, .image_hex = inst->img.digest_hex,
                                  .kernel_dir = V.kernel_dir, .shim = shim, .cache_dir = icache};
            char *why = NULL;
            if (access(shim, R_OK) != 0)
                inst->err = xasprintf("the guest /init %s is missing (it is built next to orchd)", shim);
            else if (vm_initrd_cached(&in, &inst->cached_initrd, &why) < 0) {
                inst->err = xasprintf("the guest initramfs: %s", why);
                free(why);
            }
            free(shim);
            free(icache);
        }
        free(cache);
    } else {
        int r = orch_mkdir_p(inst->run_dir, 0700);
        if (r < 0)
            inst->err = xasprintf("%s: %s", inst->run_dir, strerror(-r));
        else
            vm_initrd_for_start(inst->cached_initrd, inst->spec, inst->spec_len, inst->extras,
                                inst->initrd, &inst->err);
    }
}

/* what names the service already when it starts with "service NAME:". */
static void report_start_failure(orch_instance *inst, const char *what, bool named)
{
    orch_error *e = named ? orch_error_new(ORCH_E_INVALID, "%s", what)
                          : orch_error_new(ORCH_E_INVALID, "service %s: %s", inst->name, what);
    inst->started_reported = true;
    inst->cbs.started(inst->owner, 0, e);
    orch_error_free(e);
}

static void fail_start(orch_instance *inst, const char *what)
{
    report_start_failure(inst, what, false);
}

static char *build_spec(orch_instance *inst, char **err)
{
    const orch_service *svc = inst->svc;
    ctd_image_config ic;
    char *why = NULL;
    if (ctd_image_config_parse(inst->img.config_json, inst->img.config_len, &ic, &why) < 0) {
        *err = xasprintf("image %s: %s", svc->image, why);
        free(why);
        return NULL;
    }
    orch_kvlist env = {0};
    for (size_t i = 0; i < svc->env_files.n; i++) {
        const char *f = svc->env_files.v[i].s;
        char *path = f[0] == '/' ? xstrdup(f) : xasprintf("%s/%s", inst->ctx.project_dir, f);
        int r = orch_envfile_read(path, &env, &why);
        free(path);
        if (r < 0) {
            *err = xasprintf("ENV_FILE %s", why);
            free(why);
            orch_kvlist_free(&env);
            ctd_image_config_free(&ic);
            return NULL;
        }
    }
    char **envp = svc->env_files.n ? orch_kvlist_envp(&env) : NULL;
    char *passwd = read_image_etc(inst->img.rootfs, "passwd");
    char *group = read_image_etc(inst->img.rootfs, "group");
    orch_service nopub = *svc; /* PUBLISH is qemu's hostfwd here, any ports */
    nopub.publish = NULL;
    nopub.n_publish = 0;
    ctd_spec_input in = {.svc = &nopub, .image = &ic, .namespace_ = ns_of(&inst->ctx),
                         .project_dir = inst->ctx.project_dir, .data_dir = inst->ctx.data_dir,
                         .env_file_env = envp, .etc_passwd = passwd, .etc_group = group};
    char *json = NULL;
    if (ctd_spec_build(&in, &json, &why) < 0) {
        *err = why; /* already "service NAME: ..." */
        why = NULL;
    }
    free(passwd);
    free(group);
    orch_strv_free(envp);
    orch_kvlist_free(&env);
    ctd_image_config_free(&ic);
    return json;
}

static void spawn_qemu(orch_instance *inst);

/* /.orchd/vm.json (src/init/vm_guest.h): the 9p tags and their targets. */
static void gstr(yajl_gen g, const char *t)
{
    yajl_gen_string(g, (const unsigned char *)t, strlen(t));
}

static char *build_extras(orch_instance *inst)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    gstr(g, "net");
    yajl_gen_bool(g, 1);
    gstr(g, "volumes");
    yajl_gen_array_open(g);
    /* shallower targets first: /a is mounted before /a/b, never over it */
    size_t n = inst->svc->n_volumes, *depth = xcalloc(n + 1, sizeof *depth), most = 0;
    for (size_t i = 0; i < n; i++) {
        for (const char *c = inst->svc->volumes[i].destination; *c; c++)
            depth[i] += *c == '/' && c[1] && c[1] != '/';
        most = depth[i] > most ? depth[i] : most;
    }
    for (size_t level = 0; level <= most; level++)
        for (size_t i = 0; i < n; i++) {
            if (depth[i] != level)
                continue;
            char tag[32];
            snprintf(tag, sizeof tag, "orchd%zu", i);
            yajl_gen_map_open(g);
            gstr(g, "tag");
            gstr(g, tag);
            gstr(g, "target");
            gstr(g, inst->svc->volumes[i].destination);
            yajl_gen_map_close(g);
        }
    free(depth);
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    char *out = xasprintf("%.*s", (int)len, (const char *)buf);
    yajl_gen_free(g);
    return out;
}

static void work_done(uv_work_t *w, int status)
{
    orch_instance *inst = w->data;
    inst->work_busy = false;
    if (inst->cancelled) { /* released while we worked: finish the release */
        put_report(inst);
        return;
    }
    if (status != 0 || inst->err) {
        fail_start(inst, inst->err ? inst->err : "cancelled");
        return;
    }
    if (inst->phase == 1) {
        char *err = NULL;
        inst->spec = build_spec(inst, &err);
        if (!inst->spec) {
            /* the spec builder's messages name the service themselves */
            report_start_failure(inst, err, true);
            free(err);
            return;
        }
        inst->spec_len = strlen(inst->spec);
        inst->extras = build_extras(inst);
        inst->phase = 2;
        inst->work_busy = true;
        uv_queue_work(V.loop, &inst->work, work_run, work_done);
        return;
    }
    spawn_qemu(inst);
}

/* ---------------------------------------------------------------- qemu */

static void on_reaped(void *owner, pid_t pid, int st)
{
    orch_instance *inst = owner;
    (void)pid;
    inst->exited = true;
    inst->status = orch_vm_exit_decode(st);
    if (inst->started_reported && !inst->releasing)
        inst->cbs.exited(inst->owner, inst->status);
}

static void on_started(uv_timer_t *t)
{
    orch_instance *inst = t->data;
    inst->started_reported = true;
    inst->cbs.started(inst->owner, inst->pid, NULL);
    if (inst->exited && !inst->releasing)
        inst->cbs.exited(inst->owner, inst->status);
}

/* qemu's argv, grown one string (malloc'ed, taken) at a time. */
typedef struct argv_builder {
    char **v;
    size_t n, cap;
} argv_builder;

static void argv_add(argv_builder *b, char *s)
{
    if (b->n + 2 > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->v = xrealloc(b->v, b->cap * sizeof *b->v);
    }
    b->v[b->n++] = s;
    b->v[b->n] = NULL;
}

static char **argv_take(argv_builder *b)
{
    return b->v;
}

/* A value inside a qemu -option list: a comma is written twice. */
static char *qemu_opt_escape(const char *v)
{
    size_t n = 0;
    for (const char *c = v; *c; c++)
        n += *c == ',' ? 2 : 1;
    char *out = xmalloc(n + 1), *o = out;
    for (const char *c = v; *c; c++) {
        *o++ = *c;
        if (*c == ',')
            *o++ = ',';
    }
    *o = '\0';
    return out;
}

/* The machine type: microvm, or q35 under TCG when the host's TSC rate is
 * unknown (the guest kernel cannot keep time on microvm without it: tsc.h),
 * or what ORCH_VM_MACHINE says (q35, pc or microvm: bench/vm.sh compares
 * them). NULL for any other value. */
static const char *vm_machine(bool kvm)
{
    const char *m = getenv("ORCH_VM_MACHINE");
    if (!m || !*m)
        return kvm || V.tsc_khz ? "microvm" : "q35";
    if (!strcmp(m, "q35") || !strcmp(m, "pc") || !strcmp(m, "microvm"))
        return m;
    return NULL;
}

static void spawn_qemu(orch_instance *inst)
{
    const orch_service *svc = inst->svc;
    int out = open(inst->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (out < 0) {
        char *m = xasprintf("log %s: %s", inst->log, strerror(errno));
        fail_start(inst, m);
        free(m);
        return;
    }
    bool kvm = V.accel == 2;
    const char *machine = vm_machine(kvm);
    if (!machine) {
        close(out);
        fail_start(inst, "ORCH_VM_MACHINE must be q35, pc or microvm");
        return;
    }
    bool mmio = !strcmp(machine, "microvm");
    uint64_t mem = svc->memory ? svc->memory : DEFAULT_MEMORY;
    /* vCPUs: the CPU limit (the stricter of CPUS and CPU_QUOTA, as in every
     * runtime) rounded up; the guest gets no cgroup quota. */
    double cores = 1;
    orch_field from;
    if (!orch_service_cpu_limit(svc, &cores, &from) || !(cores > 0))
        cores = 1;
    unsigned cpus = cores >= 4096 ? 4096 : (unsigned)cores;
    if (cores > (double)cpus)
        cpus++;
    char m_arg[32], smp[16], kernel[4096], initrd[4096], qmp[4200];
    snprintf(m_arg, sizeof m_arg, "%lluM", (unsigned long long)((mem + (1 << 20) - 1) >> 20));
    snprintf(smp, sizeof smp, "%u", cpus);
    snprintf(kernel, sizeof kernel, "%s/vmlinuz", V.kernel_dir);
    snprintf(initrd, sizeof initrd, "%s", inst->initrd);
    snprintf(qmp, sizeof qmp, "unix:%s,server=on,wait=off", inst->qmp);
    const char *qemu = getenv("ORCH_VM_QEMU") ? getenv("ORCH_VM_QEMU") : "qemu-system-x86_64";
    /* microvm: no PCI, no firmware. Under TCG its guest kernel gets the
     * host's TSC rate (tsc.h: calibrating against the PIT fails under load
     * and the boot hangs). virtio devices: -pci on q35, -device (mmio) on
     * microvm. */
    const char *vdev = mmio ? "device" : "pci";
    char append[160];
    snprintf(append, sizeof append, "console=ttyS0 panic=-1 reboot=t rdinit=/init");
    if (mmio && !kvm && V.tsc_khz)
        snprintf(append + strlen(append), sizeof append - strlen(append), " tsc_early_khz=%lu",
                 V.tsc_khz);
    argv_builder a = {0};
    const char *fixed[] = {qemu, "-M", machine, "-accel", kvm ? "kvm" : "tcg",
                           "-cpu", kvm ? "host" : "max", "-m", m_arg, "-smp", smp, "-nodefaults",
                           "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel,
                           "-initrd", initrd, "-append", append,
                           "-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con",
                           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-qmp", qmp};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        argv_add(&a, xstrdup(fixed[i]));
    /* the agent channel (agent.h) */
    argv_add(&a, xstrdup("-device"));
    argv_add(&a, xasprintf("virtio-serial-%s,id=vser0", vdev));
    argv_add(&a, xstrdup("-chardev"));
    char *asock = qemu_opt_escape(inst->agent_sock);
    argv_add(&a, xasprintf("socket,id=agent,path=%s,server=on,wait=off", asock));
    free(asock);
    argv_add(&a, xstrdup("-device"));
    argv_add(&a, xstrdup("virtserialport,bus=vser0.0,chardev=agent,name=orchd.agent"));
    /* the network: slirp, with PUBLISH as hostfwd (checked loopback-only at
     * start); romfile= skips the PXE option ROM nobody boots from */
    char *net = xstrdup("user,id=net0");
    for (size_t i = 0; i < svc->n_publish; i++) {
        const orch_publish *p = &svc->publish[i];
        char *n = xasprintf("%s,hostfwd=tcp:%s:%u-:%u", net, p->address ? p->address : "127.0.0.1",
                            p->host, p->container);
        free(net);
        net = n;
    }
    argv_add(&a, xstrdup("-netdev"));
    argv_add(&a, net);
    argv_add(&a, xstrdup("-device"));
    argv_add(&a, xasprintf("virtio-net-%s,netdev=net0%s", vdev, mmio ? "" : ",romfile="));
    /* VOLUMEs: virtio-9p, qemu's own server; passthrough keeps the guest's
     * owners and modes on the host files, as a bind mount would */
    for (size_t i = 0; i < svc->n_volumes; i++) {
        char *src = qemu_opt_escape(inst->vol_src[i]);
        argv_add(&a, xstrdup("-fsdev"));
        argv_add(&a, xasprintf("local,id=fs%zu,path=%s,security_model=passthrough,"
                                    "multidevs=remap", i, src));
        argv_add(&a, xstrdup("-device"));
        argv_add(&a, xasprintf("virtio-9p-%s,fsdev=fs%zu,mount_tag=orchd%zu", vdev, i, i));
        free(src);
    }
    char **argv = argv_take(&a);
    const char *path = getenv("PATH");
    char *pathenv = xasprintf("PATH=%s", path ? path : "/usr/bin:/bin");
    const char *envp[] = {pathenv, NULL};
    char *warning = NULL;
    orch_cgroup_prepare(ns_of(&inst->ctx), inst->name, NULL, &inst->cg, &warning);
    free(warning);
    inst->have_cg = true;
    orch_spawn_opts o = {.argv = (const char *const *)argv, .envp = envp, .stdin_fd = -1, .stdout_fd = out,
                         .stderr_fd = out, .new_session = true};
    orch_cgroup_spawn_targets(&inst->cg, &o.cgroup_into, &o.cgroup_procs);
    const char *stage = NULL;
    dprintf(out, "orchd: vm %s: %s %s, %s memory, %u cpus (%s)\n", inst->name,
            machine, kvm ? "kvm" : "tcg", m_arg, cpus, V.accel_why);
    if (!kvm && !V.tsc_khz)
        dprintf(out, "orchd: vm %s: %s: %s; microvm needs it under TCG%s\n", inst->name,
                mmio ? "warning" : "q35, not microvm", V.tsc_why ? V.tsc_why : "no TSC rate",
                mmio ? " (the guest may hang calibrating its TSC)" : "");
    inst->pid = orch_spawn(&o, &stage);
    int e = errno;
    close(out);
    free(pathenv);
    orch_strv_free(argv);
    if (inst->pid < 0) {
        inst->pid = 0;
        char *m = xasprintf("cannot start %s (%s): %s", qemu, stage, strerror(e));
        fail_start(inst, m);
        free(m);
        return;
    }
    V.watch(inst->pid, on_reaped, inst);
    inst->agent = vm_agent_new(V.loop, inst->agent_sock);
    uv_timer_start(&inst->timer, on_started, 0, 0);
}

/* ---------------------------------------------------------------- ops */

static orch_instance *vm_start_inner(uv_loop_t *loop, const orch_service *svc,
                                     const orch_env_ctx *ctx, orch_instance_cbs cbs, void *owner,
                                     char **err)
{
    *err = NULL;
    if (!V.initialised) {
        *err = xasprintf("service %s: the vm runtime is shut down", svc->name);
        return NULL;
    }
    if (!svc->image) {
        *err = xasprintf("service %s: not a FROM service", svc->name);
        return NULL;
    }
    int is_archive;
    char *path = NULL, *why = NULL;
    if (vm_image_ref(svc->image, ctx->project_dir, &is_archive, &path, &why) < 0) {
        *err = xasprintf("service %s: %s (%s:%d)", svc->name, why,
                         svc->field_at[ORCH_F_FROM].file ? svc->field_at[ORCH_F_FROM].file : "?",
                         svc->field_at[ORCH_F_FROM].line);
        free(why);
        return NULL;
    }
    free(path);
    for (size_t i = 0; i < svc->n_publish; i++) {
        const orch_publish *p = &svc->publish[i];
        struct in_addr a;
        /* qemu's hostfwd listens on the host: only loopback, never a port
         * the whole network reaches by accident */
        if (p->address && (inet_pton(AF_INET, p->address, &a) != 1 ||
                           (ntohl(a.s_addr) >> 24) != 127)) {
            *err = xasprintf("service %s: PUBLISH %s:%u:%u: the vm runtime publishes on "
                             "loopback IPv4 addresses only (127.0.0.0/8) (%s:%d)",
                             svc->name, p->address, p->host, p->container,
                             p->at.file ? p->at.file : "?", p->at.line);
            return NULL;
        }
    }
    if (!V.kernel_dir) {
        *err = xasprintf("service %s: the vm runtime needs a kernel: give --vm-kernel DIR or "
                         "ORCH_VM_KERNEL (examples/inception/fetch-kernel.sh makes one)",
                         svc->name);
        return NULL;
    }
    orch_instance *inst = xcalloc(1, sizeof *inst);
    inst->name = xstrdup(svc->name);
    inst->svc = svc;
    inst->ctx.state_dir = xstrdup(ctx->state_dir);
    inst->ctx.data_dir = xstrdup(ctx->data_dir);
    inst->ctx.project_dir = xstrdup(ctx->project_dir);
    inst->ctx.namespace_ = xstrdup(ns_of(ctx));
    inst->cbs = cbs;
    inst->owner = owner;
    inst->run_dir = xasprintf("%s/vm/%s.%s", ctx->state_dir, ns_of(ctx), svc->name);
    inst->initrd = xasprintf("%s/initrd.cpio", inst->run_dir);
    inst->qmp = xasprintf("%s/qmp.sock", inst->run_dir);
    inst->agent_sock = xasprintf("%s/agent.sock", inst->run_dir);
    inst->log = svc->stdout_path ? xstrdup(svc->stdout_path)
                                 : orch_log_path_default(ctx->state_dir, ns_of(ctx), svc->name);
    orch_mkdir_parents(inst->log, 0755);
    uv_timer_init(loop, &inst->timer);
    inst->timer.data = inst;
    inst->timer_live = true;
    inst->work.data = inst;
    inst->phase = 1;
    inst->work_busy = true;
    uv_queue_work(loop, &inst->work, work_run, work_done);
    return inst;
}

/* A line of the runtime's own into the service's log (qemu writes the
 * guest's console into the same file). */
static void log_note(const char *log, const char *name, const char *text)
{
    int fd = open(log, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        dprintf(fd, "orchd: vm %s: %s\n", name, text);
        close(fd);
    }
}

static void log_line(orch_instance *inst, const char *text)
{
    log_note(inst->log, inst->name, text);
}

/* A failed stop request, into the service's log: the request may outlive
 * the instance, so it carries its own copy of the names. */
typedef struct stop_note {
    char *log, *name;
} stop_note;

static void stop_answered(void *arg, int ok, const char *why)
{
    stop_note *n = arg;
    if (!ok) {
        char *m = xasprintf("the stop request failed: %s", why ? why : "?");
        log_note(n->log, n->name, m);
        free(m);
    }
    free(n->log);
    free(n->name);
    free(n);
}

/* The keyboard way: ctrl-alt-del, which the guest kernel turns into
 * SIGINT for process 1 (q35's i8042; microvm has none). The note goes to
 * the log before the key: a note written on qemu's answer could land
 * inside the guest's reply to the key. */
static void send_ctrl_alt_delete(orch_instance *inst)
{
    stop_note *n = xcalloc(1, sizeof *n);
    n->log = xstrdup(inst->log);
    n->name = xstrdup(inst->name);
    log_line(inst, "stop requested (ctrl-alt-delete)");
    vm_qmp_command(V.loop, inst->qmp,
                   "{\"execute\":\"send-key\",\"arguments\":{\"keys\":["
                   "{\"type\":\"qcode\",\"data\":\"ctrl\"},{\"type\":\"qcode\",\"data\":\"alt\"},"
                   "{\"type\":\"qcode\",\"data\":\"delete\"}]}}",
                   QMP_TIMEOUT_MS, stop_answered, n);
}

/* The guest's answer to the agent's stop request; without one (its agent
 * not up yet, or gone), ctrl-alt-delete. Never called after release
 * (vm_release cancels the request). */
static void stop_taken(void *owner, const orch_exec_result *r)
{
    orch_instance *inst = owner;
    inst->stop_x = NULL;
    if (!r->err && !r->timed_out) {
        log_line(inst, "stop requested (agent)");
        return;
    }
    if (inst->exited)
        return; /* qemu is gone already: nothing to ask */
    char *m = xasprintf("the agent did not take the stop request (%s): trying ctrl-alt-delete",
                        r->timed_out ? "no answer in " STOP_AGENT_MS_TEXT : r->err);
    log_line(inst, m);
    free(m);
    send_ctrl_alt_delete(inst);
}

static int vm_signal(orch_instance *inst, int sig)
{
    if (!inst || inst->pid <= 0 || inst->exited)
        return -ESRCH;
    if (sig == SIGKILL)
        return kill(inst->pid, SIGKILL) == 0 ? 0 : -errno;
    if (sig == 0)
        return kill(inst->pid, 0) == 0 ? 0 : -errno;
    /* every other signal is a request to stop: first over the agent
     * channel (process 1 stops the service as on SIGINT), falling back to
     * ctrl-alt-delete when the agent does not answer; one at a time */
    if (inst->stop_x)
        return 0;
    if (inst->agent && !inst->releasing)
        inst->stop_x = vm_agent_stop(inst->agent, STOP_AGENT_MS, stop_taken, inst);
    else
        send_ctrl_alt_delete(inst);
    return 0;
}

static void free_inst(uv_handle_t *h)
{
    orch_instance *inst = h->data;
    void (*done)(void *) = inst->done;
    void *arg = inst->done_arg;
    if (inst->have_cg)
        orch_cgroup_free(&inst->cg);
    vm_image_free(&inst->img);
    free(inst->cached_initrd);
    free(inst->run_dir);
    free(inst->initrd);
    free(inst->qmp);
    free(inst->agent_sock);
    free(inst->extras);
    free(inst->nested);
    orch_strv_free(inst->vol_src);
    free(inst->log);
    free(inst->spec);
    free(inst->err);
    free((char *)inst->ctx.state_dir);
    free((char *)inst->ctx.data_dir);
    free((char *)inst->ctx.project_dir);
    free((char *)inst->ctx.namespace_);
    free(inst->name);
    free(inst);
    if (done)
        done(arg);
}

static void on_release_tick(uv_timer_t *t)
{
    orch_instance *inst = t->data;
    if (inst->pid > 0 && !inst->exited)
        kill(inst->pid, SIGKILL);
    int r = 0;
    if (inst->have_cg) {
        orch_cgroup_kill_all(&inst->cg, SIGKILL);
        r = orch_cgroup_remove(&inst->cg);
    }
    bool waiting = (inst->pid > 0 && !inst->exited) || r == -EBUSY;
    if (waiting && ++inst->release_tries < RELEASE_MAX_TRIES) {
        uv_timer_start(t, on_release_tick, RELEASE_RETRY_MS, 0);
        return;
    }
    if (inst->pid > 0 && !inst->exited)
        V.unwatch(inst->pid);
    orch_remove_tree(inst->run_dir);
    uv_close((uv_handle_t *)t, free_inst);
}

static void put_report(orch_instance *inst)
{
    uv_timer_stop(&inst->timer);
    uv_timer_start(&inst->timer, on_release_tick, 0, 0);
}

static void vm_release(orch_instance *inst, void (*done)(void *arg), void *arg)
{
    inst->releasing = true;
    if (inst->stop_x) {
        vm_agent_cancel(inst->stop_x);
        inst->stop_x = NULL;
    }
    if (inst->nested_x) {
        vm_agent_cancel(inst->nested_x);
        inst->nested_x = NULL;
    }
    if (inst->agent) {
        vm_agent_close(inst->agent);
        inst->agent = NULL;
    }
    inst->done = done;
    inst->done_arg = arg;
    if (inst->work_busy) {
        inst->cancelled = true; /* work_done finishes the release */
        return;
    }
    put_report(inst);
}

/* HEALTHCHECK, STOP and RELOAD commands: run by the guest's process 1
 * (agent.h), as the service runs, output on the console (the log). */
static orch_exec *vm_exec(orch_instance *inst, const orch_service *svc, const orch_env_ctx *ctx,
                          const char *command, uint64_t timeout_ms, orch_exec_cb cb, void *owner,
                          char **err)
{
    (void)ctx;
    if (!inst || !inst->agent || inst->exited) {
        *err = xasprintf("service %s: its VM is not running", svc->name);
        return NULL;
    }
    return vm_agent_exec(inst->agent, command, timeout_ms, cb, owner);
}

static void vm_exec_cancel(orch_exec *x)
{
    vm_agent_cancel(x);
}

/* The guest orchd's answer to `orchd survey --json` (the guest's: bounded
 * by the agent, kept only if it parses as a JSON array). */
static void nested_done(void *owner, const orch_exec_result *r, const char *output)
{
    orch_instance *inst = owner;
    inst->nested_x = NULL;
    if (r->err || r->timed_out)
        return; /* keep the last answer */
    free(inst->nested);
    inst->nested = NULL;
    if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 127) {
        inst->nested_off = true; /* no orchd in this guest */
        return;
    }
    if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0 || !output)
        return; /* no daemon (yet) in the guest */
    char eb[64];
    yajl_val v = yajl_tree_parse(output, eb, sizeof eb);
    if (v && YAJL_IS_ARRAY(v))
        inst->nested = xstrdup(output);
    yajl_tree_free(v);
}

static void vm_describe(const orch_service *svc, const orch_env_ctx *ctx, const orch_instance *inst,
                        orch_describe_put put, void *arg)
{
    (void)svc, (void)ctx;
    if (V.accel)
        put(arg, "accel", V.accel == 2 ? "kvm" : "tcg");
    const char *machine = V.accel ? vm_machine(V.accel == 2) : NULL;
    if (machine)
        put(arg, "machine", machine);
    if (inst && inst->img.digest_hex) {
        char d[80];
        snprintf(d, sizeof d, "sha256:%s", inst->img.digest_hex);
        put(arg, "image_digest", d);
    }
    /* Nested survey: the last answer of the guest's own orchd, and a new
     * question for the next survey (describe must not wait: it runs on the
     * loop, synchronously). The instance is ours to change. */
    orch_instance *live = (orch_instance *)inst;
    /* on unless ORCH_VM_NESTED_SURVEY=0: docs/RUNTIME-VM.md */
    const char *on = getenv("ORCH_VM_NESTED_SURVEY");
    if (!(on && !strcmp(on, "0")) && live && live->agent && !live->releasing && !live->exited &&
        !live->nested_off) {
        if (live->nested)
            put(arg, "json:nested", live->nested);
        /* stderr to /dev/null: a guest without orchd, or whose daemon is
         * not up yet, must not write the shell's complaint into the
         * service's console log, in the middle of the service's own lines */
        if (!live->nested_x)
            live->nested_x = vm_agent_capture(live->agent, "orchd survey --json 2>/dev/null",
                                              NESTED_TIMEOUT_MS, nested_done, live);
    }
}

static char *vm_log_path(const orch_service *svc, const orch_env_ctx *ctx)
{
    return orch_log_path_default(ctx->state_dir, ctx->namespace_, svc->name);
}

/* What the service asks for that cannot be (image, kernel, VOLUME): the
 * user's to fix, never worth a retry. */
static orch_instance *vm_start(uv_loop_t *loop, const orch_service *svc, const orch_env_ctx *ctx,
                               orch_instance_cbs cbs, void *owner, orch_error **err)
{
    char *msg = NULL;
    orch_instance *inst = vm_start_inner(loop, svc, ctx, cbs, owner, &msg);
    *err = inst ? NULL : orch_error_new(ORCH_E_INVALID, "%s", msg ? msg : "cannot start");
    free(msg);
    return inst;
}

static const orch_runtime_ops vm_ops = {
    .name = "vm",
    .start = vm_start,
    .signal = vm_signal,
    .release = vm_release,
    .exec = vm_exec,
    .exec_cancel = vm_exec_cancel,
    .describe = vm_describe,
    .log_path = vm_log_path,
    .images = NULL,
};

static const orch_runtime_ops *module_init(uv_loop_t *loop, const orch_module_config *cfg, char **err)
{
    *err = NULL;
    if (V.initialised)
        return &vm_ops;
    if (!cfg->reaper_watch || !cfg->reaper_unwatch) {
        *err = xstrdup("the vm runtime needs the daemon's reaper (module ABI 3)");
        return NULL;
    }
    const char *k = cfg->vm_kernel && *cfg->vm_kernel ? cfg->vm_kernel : getenv("ORCH_VM_KERNEL");
    if (k && *k) {
        char *vmlinuz = xasprintf("%s/vmlinuz", k);
        bool ok = access(vmlinuz, R_OK) == 0;
        free(vmlinuz);
        if (!ok) {
            *err = xasprintf("vm kernel directory %s has no vmlinuz "
                             "(examples/inception/fetch-kernel.sh DIR makes one)", k);
            return NULL;
        }
        V.kernel_dir = xstrdup(k);
    }
    V.loop = loop;
    V.ns = xstrdup(cfg->namespace_ && *cfg->namespace_ ? cfg->namespace_ : ORCH_DEFAULT_NAMESPACE);
    V.watch = cfg->reaper_watch;
    V.unwatch = cfg->reaper_unwatch;
    V.initialised = true;
    return &vm_ops;
}

static void module_shutdown(void (*done)(void *arg), void *arg)
{
    V.initialised = false; /* instances still held keep working until released */
    if (done)
        done(arg);
}

ORCH_MODULE_EXPORT const orch_module_desc orch_runtime_module = {
    .abi_version = ORCH_MODULE_ABI_VERSION,
    .service_size = sizeof(orch_service),
    .name = "vm",
    .init = module_init,
    .shutdown = module_shutdown,
};
