/* Cgroup per service: detect the hierarchies (cgroup2, pure or hybrid, and
 * the v1 controllers), create the tracking <base>/orchd/<ns>/<service> in the
 * cheapest one and, for limits that live elsewhere, in those; write limits. */
#include "bare/cgroup.h"

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

#include "common/fileutil.h"
#include "common/xalloc.h"

#define CGROUP_MOUNT "/sys/fs/cgroup"
#define CPU_PERIOD_US 100000u
#define CPU_QUOTA_MIN_US 1000u /* the kernel rejects less */

#define N_CTRL 4
/* The limit controllers, v1 name and v2 name; v1 order is also the order in
 * which a tracking hierarchy is chosen when there is no cgroup2 (pids first:
 * the cheapest controller to be in). */
static const char *const v1_controllers[N_CTRL] = {"pids", "memory", "cpu", "blkio"};
static const char *const v2_controllers[N_CTRL] = {"pids", "memory", "cpu", "io"};

/* ---- where: the hierarchies and orchd's own place in them ---- */

typedef struct hierarchy {
    char *mount;
    char *base; /* the cgroup directory orchd runs in, in this hierarchy;
                   looked up (/proc/self/cgroup) only once needed */
    bool v2;
    int ctrl;   /* v1: index into v1_controllers; v2: -1 */
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

/* Fills hs in the order in which a tracking hierarchy is tried: cgroup2
 * first (pure v2 has nothing else), then the v1 controllers. Returns how
 * many there are. */
static size_t detect(hierarchy hs[ORCH_CGROUP_MAX])
{
    if (exists(CGROUP_MOUNT "/cgroup.controllers")) {
        hs[0] = (hierarchy){xstrdup(CGROUP_MOUNT), NULL, true, -1};
        return 1;
    }
    size_t n = 0;
    if (exists(CGROUP_MOUNT "/unified/cgroup.controllers")) /* hybrid */
        hs[n++] = (hierarchy){xstrdup(CGROUP_MOUNT "/unified"), NULL, true, -1};
    for (int i = 0; i < N_CTRL; i++) {
        char *mount = xasprintf(CGROUP_MOUNT "/%s", v1_controllers[i]);
        char *procs = xasprintf("%s/cgroup.procs", mount);
        if (exists(procs))
            hs[n++] = (hierarchy){mount, NULL, false, i};
        else
            free(mount);
        free(procs);
    }
    return n;
}

/* The hierarchies, detected once per process: every start used to repeat
 * the probes and the /proc/self/cgroup read (a dozen syscalls on each
 * restart). Mounts found are kept; none found is looked for again next
 * time (an init that mounts cgroups after the daemon started). */
static hierarchy known[ORCH_CGROUP_MAX];
static size_t n_known;

static hierarchy *hierarchies(size_t *n)
{
    if (n_known == 0)
        n_known = detect(known);
    *n = n_known;
    return known;
}

static const char *base_of(hierarchy *h)
{
    if (!h->base)
        h->base = base_dir(h->mount, h->v2 ? NULL : v1_controllers[h->ctrl]);
    return h->base;
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
        for (size_t i = 0; i < N_CTRL; i++) {
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

/* mkdir of the service's directory, and of its parents only when they are
 * missing (the first service, or after the last one's removal took them);
 * retried: a concurrent orch_cgroup_remove may rmdir an empty parent
 * between our mkdirs. *created: dir did not exist before. */
static int make_dir(const char *dir, bool *created)
{
    *created = false;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (mkdir(dir, 0755) == 0) {
            *created = true;
            return 0;
        }
        if (errno == EEXIST) {
            struct stat st;
            if (stat(dir, &st) < 0)
                return -errno;
            return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
        }
        if (errno != ENOENT)
            return -errno;
        char *parent = xstrndup(dir, (size_t)(strrchr(dir, '/') - dir));
        int r = orch_mkdir_p(parent, 0755);
        free(parent);
        if (r < 0 && r != -ENOENT)
            return r;
    }
    return -ENOENT;
}

/* enable: on v2, also enable the controllers for the service's directory. */
static int create_in(hierarchy *h, const char *ns, const char *service, bool enable,
                     char **dir_out, bool *created)
{
    char *top = xasprintf("%s/orchd", base_of(h));
    char *nsdir = xasprintf("%s/%s", top, ns);
    char *dir = xasprintf("%s/%s", nsdir, service);
    int r = make_dir(dir, created);
    if (r == 0 && h->v2 && enable) {
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

static bool file_exists_in(const orch_cgroup *cg, const char *name)
{
    char *path = orch_cgroup_file(cg, name);
    free(path);
    return path != NULL;
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

/* CPUS and CPU_QUOTA together: the stricter (orch_service_cpu_limit). */
static uint64_t cpu_quota_us(const orch_service *svc, orch_field *from)
{
    double cores = 0;
    if (!orch_service_cpu_limit(svc, &cores, from))
        return UINT64_MAX;
    uint64_t q = (uint64_t)(cores * CPU_PERIOD_US + 0.5);
    return q < CPU_QUOTA_MIN_US ? CPU_QUOTA_MIN_US : q;
}

/* Which file format applies is decided by the files the directories offer:
 * on hybrid systems a limit may live in cgroup2 or in v1. skip: limits
 * already reported as not applied. */
static void apply_limits(const orch_cgroup *cg, const orch_service *svc, uint64_t skip, char **w)
{
    char value[64];
    uint64_t set = svc->set & ~skip;
    if (set & ORCH_BIT(ORCH_F_MEMORY)) {
        static const char *const files[] = {"memory.max", "memory.limit_in_bytes", NULL};
        snprintf(value, sizeof value, "%" PRIu64, svc->memory);
        set_limit(cg, "MEMORY", files, value, w);
    }
    if (set & (ORCH_BIT(ORCH_F_CPUS) | ORCH_BIT(ORCH_F_CPU_QUOTA))) {
        orch_field from = ORCH_F_CPUS;
        uint64_t quota = cpu_quota_us(svc, &from);
        const char *directive = orch_field_keyword(from);
        bool v2 = file_exists_in(cg, "cpu.max")           ? true
                  : file_exists_in(cg, "cpu.cfs_quota_us") ? false
                                                                    : cg->v2;
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
    if (set & ORCH_BIT(ORCH_F_TASKS_MAX)) {
        static const char *const files[] = {"pids.max", NULL};
        snprintf(value, sizeof value, "%" PRIu64, svc->tasks_max);
        set_limit(cg, "TASKS_MAX", files, value, w);
    }
    if (set & ORCH_BIT(ORCH_F_IO_WEIGHT)) {
        if (file_exists_in(cg, "io.weight")) {
            static const char *const files[] = {"io.weight", NULL};
            snprintf(value, sizeof value, "default %u", svc->io_weight);
            set_limit(cg, "IO_WEIGHT", files, value, w);
        } else { /* BFQ's own knob when io.weight is absent; v1's */
            static const char *const files[] = {"io.bfq.weight", "blkio.weight",
                                                "blkio.bfq.weight", NULL};
            snprintf(value, sizeof value, "%u", svc->io_weight);
            set_limit(cg, "IO_WEIGHT", files, value, w);
        }
    }
}

static const uint64_t limit_bits = ORCH_BIT(ORCH_F_MEMORY) | ORCH_BIT(ORCH_F_CPUS) |
                                   ORCH_BIT(ORCH_F_CPU_QUOTA) | ORCH_BIT(ORCH_F_TASKS_MAX) |
                                   ORCH_BIT(ORCH_F_IO_WEIGHT);

/* The limits that live in each of v1_controllers' hierarchies. */
static const uint64_t ctrl_bits[N_CTRL] = {
    ORCH_BIT(ORCH_F_TASKS_MAX),
    ORCH_BIT(ORCH_F_MEMORY),
    ORCH_BIT(ORCH_F_CPUS) | ORCH_BIT(ORCH_F_CPU_QUOTA),
    ORCH_BIT(ORCH_F_IO_WEIGHT),
};

static const char *directive_of(const orch_service *svc, int ctrl)
{
    static const char *const names[N_CTRL] = {"TASKS_MAX", "MEMORY", "CPUS", "IO_WEIGHT"};
    if (ctrl == 2 && !(svc->set & ORCH_BIT(ORCH_F_CPUS)))
        return "CPU_QUOTA";
    return names[ctrl];
}

/* Whether cgroup2 directory dir has controller ctrl (its parent enabled it). */
static bool v2_offers(const char *dir, const char *ctrl)
{
    char *path = xasprintf("%s/cgroup.controllers", dir);
    char *avail = NULL;
    bool yes = orch_read_file(path, &avail, NULL) == 0 &&
               has_token(avail, strcspn(avail, "\n"), ' ', ctrl);
    free(avail);
    free(path);
    return yes;
}

static void add_dir(orch_cgroup *cg, char *dir)
{
    cg->dir[cg->n] = dir;
    cg->procs[cg->n] = xasprintf("%s/cgroup.procs", dir);
    cg->n++;
}

int orch_cgroup_prepare(const char *ns, const char *service, const orch_service *svc,
                        orch_cgroup *out, char **warning)
{
    memset(out, 0, sizeof *out);
    *warning = NULL;
    uint64_t want = svc ? svc->set & limit_bits : 0;

    size_t nh;
    hierarchy *hs = hierarchies(&nh);
    int first_err = nh ? 0 : -ENOENT;
    const char *failed_base = NULL;

    /* The tracking cgroup: the first hierarchy that takes it. */
    size_t track = nh;
    for (size_t i = 0; i < nh && track == nh; i++) {
        char *dir;
        bool created;
        int r = create_in(&hs[i], ns, service, want != 0, &dir, &created);
        if (r < 0) {
            if (!first_err) {
                first_err = r;
                failed_base = hs[i].base;
            }
            continue;
        }
        add_dir(out, dir);
        out->v2 = hs[i].v2;
        out->fresh = created;
        track = i;
    }

    if (want && out->n == 0) {
        if (nh == 0)
            warn(warning, "resource limits not applied: no cgroup hierarchy is mounted under "
                          CGROUP_MOUNT);
        else
            warn(warning, "resource limits not applied: cannot create a cgroup under %s: %s",
                 failed_base, strerror(-first_err));
    } else if (want) {
        /* Limits the tracking hierarchy does not carry: the v1 hierarchy of
         * their controller. None mounted: apply_limits reports the file no
         * directory offers. */
        uint64_t skip = 0;
        for (int c = 0; c < N_CTRL; c++) {
            if (!(want & ctrl_bits[c]))
                continue;
            if (hs[track].v2 ? v2_offers(out->dir[0], v2_controllers[c]) : hs[track].ctrl == c)
                continue;
            size_t h = 0;
            while (h < nh && (hs[h].v2 || hs[h].ctrl != c))
                h++;
            if (h == nh)
                continue;
            char *dir;
            bool created;
            int r = create_in(&hs[h], ns, service, false, &dir, &created);
            if (r < 0) {
                warn(warning, "%s not applied: cannot create a cgroup under %s: %s",
                     directive_of(svc, c), hs[h].base, strerror(-r));
                skip |= ctrl_bits[c];
                continue;
            }
            add_dir(out, dir);
        }
        apply_limits(out, svc, skip, warning);
    }
    return out->n ? 0 : first_err;
}

void orch_cgroup_spawn_targets(const orch_cgroup *cg, const char **into,
                               const char *const **procs)
{
    *into = cg->n && cg->v2 ? cg->dir[0] : NULL;
    const char *const *join = (const char *const *)cg->procs + (*into ? 1 : 0);
    *procs = cg->n && *join ? join : NULL;
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

bool orch_cgroup_has_pid(const orch_cgroup *cg, pid_t pid)
{
    char *text;
    if (cg->n == 0 || orch_read_file(cg->procs[0], &text, NULL) < 0)
        return false;
    bool found = false;
    for (char *p = text, *end; *p && !found; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        found = v == pid;
    }
    free(text);
    return found;
}

/* rmdir that treats "already gone" as done. */
static int remove_dir(const char *dir)
{
    return rmdir(dir) == 0 || errno == ENOENT ? 0 : -errno;
}

/* Whether cgroup2 directory dir still has live child cgroups, from the
 * counter in its cgroup.stat. The kernel answers an rmdir of a parent that
 * still has children with EBUSY only after walking its list of children,
 * the removed-but-not-yet-freed ones included: trying it after each of N
 * service removals costs O(N^2) (a fell of 10,000 spent a third of its time
 * there). v1 has no cgroup.stat: false, and rmdir decides. */
static bool has_live_children(const char *dir)
{
    char *path = xasprintf("%s/cgroup.stat", dir);
    char *text = NULL;
    bool busy = false;
    if (orch_read_file(path, &text, NULL) == 0) {
        const char *p = strstr(text, "nr_descendants ");
        busy = p && (p == text || p[-1] == '\n') && strtoul(p + 15, NULL, 10) > 0;
    }
    free(text);
    free(path);
    return busy;
}

static int remove_from(const orch_cgroup *cg, size_t first)
{
    int err = 0;
    for (size_t i = first; i < cg->n; i++) {
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
            if (has_live_children(parent) || rmdir(parent) < 0)
                break;
        }
        free(parent);
    }
    return err;
}

int orch_cgroup_remove(const orch_cgroup *cg)
{
    return remove_from(cg, 0);
}

int orch_cgroup_remove_limit_dirs(const orch_cgroup *cg)
{
    return remove_from(cg, 1);
}

void orch_cgroup_free(orch_cgroup *cg)
{
    for (size_t i = 0; i < cg->n; i++) {
        free(cg->dir[i]);
        free(cg->procs[i]);
    }
    memset(cg, 0, sizeof *cg);
}
