/* Cgroup per service: detect the hierarchy (v2 unified, else v1 per
 * controller), create <base>/orchd/<ns>/<service>, write limits. */
#include "daemon/cgroup.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/fileutil.h"
#include "xalloc.h"

#define CGROUP_MOUNT "/sys/fs/cgroup"
#define CPU_PERIOD_US 100000u
#define CPU_QUOTA_MIN_US 1000u /* the kernel rejects less */

static const char *const v1_controllers[ORCH_CGROUP_MAX] = {"memory", "cpu", "pids", "blkio"};
static const char *const v2_controllers[] = {"memory", "pids", "cpu", "io"};

/* ---- where: the hierarchies and orchd's own place in them ---- */

typedef struct hierarchy {
    char *base; /* the cgroup directory orchd runs in, in this hierarchy */
    bool v2;
} hierarchy;

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Whether word is one of the sep-separated tokens in list[0..len). */
static bool has_token(const char *list, size_t len, char sep, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list, *end = list + len; p < end;) {
        const char *s = memchr(p, sep, (size_t)(end - p));
        size_t tl = s ? (size_t)(s - p) : (size_t)(end - p);
        if (tl == wl && memcmp(p, word, wl) == 0)
            return true;
        p += tl + 1;
    }
    return false;
}

/* Our path in one hierarchy from /proc/self/cgroup ("ID:CONTROLLERS:PATH";
 * v2 is "0::PATH"); ctrl NULL asks for v2. NULL when not listed. */
static char *own_path(const char *ctrl)
{
    char *text;
    if (orch_read_file("/proc/self/cgroup", &text, NULL) < 0)
        return NULL;
    char *found = NULL;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        size_t len = (size_t)(c2 - c1 - 1);
        if (ctrl ? has_token(c1 + 1, len, ',', ctrl) : (len == 0 && strncmp(line, "0:", 2) == 0)) {
            found = xstrdup(c2 + 1);
            break;
        }
    }
    free(text);
    return found;
}

/* mount + our own path, or the mount itself when that directory is not
 * visible (a container that bind-mounted only its own subtree). */
static char *base_dir(const char *mount, const char *ctrl)
{
    char *own = own_path(ctrl);
    char *base = NULL;
    if (own && strcmp(own, "/") != 0) {
        base = xasprintf("%s%s", mount, own);
        if (!exists(base)) {
            free(base);
            base = NULL;
        }
    }
    free(own);
    return base ? base : xstrdup(mount);
}

/* Fills hs; returns how many hierarchies there are. */
static size_t detect(hierarchy hs[ORCH_CGROUP_MAX])
{
    if (exists(CGROUP_MOUNT "/cgroup.controllers")) {
        hs[0] = (hierarchy){base_dir(CGROUP_MOUNT, NULL), true};
        return 1;
    }
    size_t n = 0;
    for (size_t i = 0; i < ORCH_CGROUP_MAX; i++) {
        char *mount = xasprintf(CGROUP_MOUNT "/%s", v1_controllers[i]);
        char *procs = xasprintf("%s/cgroup.procs", mount);
        if (exists(procs))
            hs[n++] = (hierarchy){base_dir(mount, v1_controllers[i]), false};
        free(procs);
        free(mount);
    }
    return n;
}

/* ---- warnings ---- */

static void warn(char **w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(char **w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (!msg)
        return;
    if (*w) {
        char *joined = xasprintf("%s; %s", *w, msg);
        free(*w);
        free(msg);
        msg = joined;
    }
    *w = msg;
}

/* ---- create ---- */

/* v2 only offers a controller's files in a child when every ancestor below
 * the root enabled it in cgroup.subtree_control. Failures are tolerated: a
 * missing controller shows up later as a limit that cannot be written. */
static void enable_controllers(const char *dir)
{
    char *path = xasprintf("%s/cgroup.controllers", dir);
    char *avail = NULL;
    if (orch_read_file(path, &avail, NULL) == 0) {
        free(path);
        path = xasprintf("%s/cgroup.subtree_control", dir);
        for (size_t i = 0; i < sizeof v2_controllers / sizeof *v2_controllers; i++) {
            if (!has_token(avail, strcspn(avail, "\n"), ' ', v2_controllers[i]))
                continue;
            char *cmd = xasprintf("+%s", v2_controllers[i]);
            orch_write_file(path, cmd);
            free(cmd);
        }
    }
    free(avail);
    free(path);
}

/* mkdir -p, retried: a concurrent orch_cgroup_remove may rmdir an empty
 * parent between our mkdirs. */
static int make_dir(const char *dir)
{
    int r = 0;
    for (int attempt = 0; attempt < 3; attempt++)
        if ((r = orch_mkdir_p(dir, 0755)) != -ENOENT)
            break;
    return r;
}

static int create_in(const hierarchy *h, const char *ns, const char *service, char **dir_out)
{
    char *top = xasprintf("%s/orchd", h->base);
    char *nsdir = xasprintf("%s/%s", top, ns);
    char *dir = xasprintf("%s/%s", nsdir, service);
    int r = make_dir(dir);
    if (r == 0 && h->v2) {
        enable_controllers(h->base);
        enable_controllers(top);
        enable_controllers(nsdir);
    }
    free(top);
    free(nsdir);
    if (r < 0) {
        free(dir);
        return r;
    }
    *dir_out = dir;
    return 0;
}

/* ---- limits ---- */

char *orch_cgroup_file(const orch_cgroup *cg, const char *name)
{
    for (size_t i = 0; i < cg->n; i++) {
        char *path = xasprintf("%s/%s", cg->dir[i], name);
        if (exists(path))
            return path;
        free(path);
    }
    return NULL;
}

/* Writes value to the first of the files that exists. */
static void set_limit(const orch_cgroup *cg, const char *directive, const char *const files[],
                      const char *value, char **w)
{
    for (const char *const *f = files; *f; f++) {
        char *path = orch_cgroup_file(cg, *f);
        if (!path)
            continue;
        int r = orch_write_file(path, value);
        if (r < 0)
            warn(w, "%s not applied: cannot write '%s' to %s: %s", directive, value, path,
                 strerror(-r));
        free(path);
        return;
    }
    warn(w, "%s not applied: no cgroup offers %s", directive, files[0]);
}

static uint64_t cpu_quota_us(const orch_service *svc)
{
    uint64_t q = UINT64_MAX;
    if (svc->set & ORCH_BIT(ORCH_F_CPUS))
        q = (uint64_t)(svc->cpus * CPU_PERIOD_US + 0.5);
    if (svc->set & ORCH_BIT(ORCH_F_CPU_QUOTA)) {
        uint64_t pq = (uint64_t)svc->cpu_quota * (CPU_PERIOD_US / 100);
        if (pq < q)
            q = pq; /* both given: the stricter one */
    }
    return q < CPU_QUOTA_MIN_US ? CPU_QUOTA_MIN_US : q;
}

static void apply_limits(const orch_cgroup *cg, bool v2, const orch_service *svc, char **w)
{
    char value[64];
    if (svc->set & ORCH_BIT(ORCH_F_MEMORY)) {
        static const char *const files[] = {"memory.max", "memory.limit_in_bytes", NULL};
        snprintf(value, sizeof value, "%" PRIu64, svc->memory);
        set_limit(cg, "MEMORY", files, value, w);
    }
    if (svc->set & (ORCH_BIT(ORCH_F_CPUS) | ORCH_BIT(ORCH_F_CPU_QUOTA))) {
        const char *directive = svc->set & ORCH_BIT(ORCH_F_CPUS) ? "CPUS" : "CPU_QUOTA";
        uint64_t quota = cpu_quota_us(svc);
        if (v2) {
            static const char *const files[] = {"cpu.max", NULL};
            snprintf(value, sizeof value, "%" PRIu64 " %u", quota, CPU_PERIOD_US);
            set_limit(cg, directive, files, value, w);
        } else {
            static const char *const period[] = {"cpu.cfs_period_us", NULL};
            static const char *const files[] = {"cpu.cfs_quota_us", NULL};
            snprintf(value, sizeof value, "%u", CPU_PERIOD_US);
            set_limit(cg, directive, period, value, w);
            snprintf(value, sizeof value, "%" PRIu64, quota);
            set_limit(cg, directive, files, value, w);
        }
    }
    if (svc->set & ORCH_BIT(ORCH_F_TASKS_MAX)) {
        static const char *const files[] = {"pids.max", NULL};
        snprintf(value, sizeof value, "%" PRIu64, svc->tasks_max);
        set_limit(cg, "TASKS_MAX", files, value, w);
    }
    if (svc->set & ORCH_BIT(ORCH_F_IO_WEIGHT)) {
        char *io_weight = v2 ? orch_cgroup_file(cg, "io.weight") : NULL;
        if (io_weight) {
            static const char *const files[] = {"io.weight", NULL};
            snprintf(value, sizeof value, "default %u", svc->io_weight);
            set_limit(cg, "IO_WEIGHT", files, value, w);
            free(io_weight);
        } else if (v2) { /* BFQ's own knob, when io.weight is absent */
            static const char *const files[] = {"io.bfq.weight", NULL};
            snprintf(value, sizeof value, "%u", svc->io_weight);
            set_limit(cg, "IO_WEIGHT", files, value, w);
        } else {
            static const char *const files[] = {"blkio.weight", "blkio.bfq.weight", NULL};
            snprintf(value, sizeof value, "%u", svc->io_weight);
            set_limit(cg, "IO_WEIGHT", files, value, w);
        }
    }
}

static const uint64_t limit_bits = ORCH_BIT(ORCH_F_MEMORY) | ORCH_BIT(ORCH_F_CPUS) |
                                   ORCH_BIT(ORCH_F_CPU_QUOTA) | ORCH_BIT(ORCH_F_TASKS_MAX) |
                                   ORCH_BIT(ORCH_F_IO_WEIGHT);

int orch_cgroup_prepare(const char *ns, const char *service, const orch_service *svc,
                        orch_cgroup *out, char **warning)
{
    memset(out, 0, sizeof *out);
    *warning = NULL;
    bool wants_limits = svc && (svc->set & limit_bits);

    hierarchy hs[ORCH_CGROUP_MAX];
    size_t nh = detect(hs);
    int first_err = nh ? 0 : -ENOENT;
    const char *failed_base = NULL;
    bool v2 = nh && hs[0].v2;
    for (size_t i = 0; i < nh; i++) {
        char *dir;
        int r = create_in(&hs[i], ns, service, &dir);
        if (r < 0) {
            if (!first_err) {
                first_err = r;
                failed_base = hs[i].base;
            }
            continue;
        }
        out->dir[out->n] = dir;
        out->procs[out->n] = xasprintf("%s/cgroup.procs", dir);
        out->n++;
    }

    if (wants_limits && out->n == 0) {
        if (nh == 0)
            warn(warning, "resource limits not applied: no cgroup hierarchy is mounted under "
                          CGROUP_MOUNT);
        else
            warn(warning, "resource limits not applied: cannot create a cgroup under %s: %s",
                 failed_base, strerror(-first_err));
    } else if (wants_limits) {
        apply_limits(out, v2, svc, warning);
    }
    for (size_t i = 0; i < nh; i++)
        free(hs[i].base);
    return out->n ? 0 : first_err;
}

/* ---- kill, remove ---- */

int orch_cgroup_kill_all(const orch_cgroup *cg, int sig)
{
    int signalled = 0, readable = 0, err = -ENOENT;
    for (size_t i = 0; i < cg->n; i++) {
        char *text;
        int r = orch_read_file(cg->procs[i], &text, NULL);
        if (r < 0) {
            err = r;
            continue;
        }
        readable++;
        for (char *p = text, *end; *p; p = end) {
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            if (pid > 0 && kill((pid_t)pid, sig) == 0)
                signalled++;
        }
        free(text);
    }
    return readable || cg->n == 0 ? signalled : err;
}

/* rmdir that treats "already gone" as done. */
static int remove_dir(const char *dir)
{
    return rmdir(dir) == 0 || errno == ENOENT ? 0 : -errno;
}

int orch_cgroup_remove(const orch_cgroup *cg)
{
    int err = 0;
    for (size_t i = 0; i < cg->n; i++) {
        int r = remove_dir(cg->dir[i]);
        if (r < 0) {
            err = r;
            continue;
        }
        /* The namespace and orchd parents, when nothing else uses them. */
        char *parent = xstrdup(cg->dir[i]);
        for (int up = 0; up < 2; up++) {
            char *slash = strrchr(parent, '/');
            if (!slash)
                break;
            *slash = '\0';
            if (rmdir(parent) < 0)
                break;
        }
        free(parent);
    }
    return err;
}

void orch_cgroup_free(orch_cgroup *cg)
{
    for (size_t i = 0; i < cg->n; i++) {
        free(cg->dir[i]);
        free(cg->procs[i]);
    }
    memset(cg, 0, sizeof *cg);
}
