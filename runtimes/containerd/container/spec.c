/* The OCI runtime spec for one container service. The defaults (mounts,
 * masked and read-only paths, capabilities, devices, RLIMIT_NOFILE) are
 * containerd 1.6's populateDefaultUnixSpec plus the device rules of
 * WithDefaultUnixDevices (what `ctr run` uses) and the seccomp profile of
 * contrib/seccomp (seccomp_default.c); the service and its image
 * fill in the rest. docs/OCI-SPEC.md is the user-facing account. */
#include "containerd/container/spec.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "containerd/container/user.h"
#include "runtime/runtime.h"
#include "common/xalloc.h"

#define OCI_VERSION "1.0.2-dev"
#define CPU_QUOTA_MIN 1000 /* the kernel refuses a CFS quota below 1ms */

/* ---- errors ---------------------------------------------------------------- */

/* "service NAME: message (FILE:LINE)" */
static char *service_error(const orch_service *svc, orch_origin at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static char *service_error(const orch_service *svc, orch_origin at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    char *out;
    if (at.file && at.line > 0)
        out = xasprintf("service %s: %s (%s:%d)", svc->name, msg, at.file, at.line);
    else
        out = xasprintf("service %s: %s", svc->name, msg);
    free(msg);
    return out;
}

static orch_origin field_at(const orch_service *svc, orch_field f)
{
    return svc->field_at[f];
}

static orch_origin nowhere(void)
{
    orch_origin o = {0};
    return o;
}

/* ---- ENTRYPOINT / CMD ------------------------------------------------------- */

void ctd_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

typedef struct strbuf {
    char *s;
    size_t n, cap;
} strbuf;

static void sb_add(strbuf *b, char c)
{
    xgrow((void **)&b->s, &b->cap, b->n + 2, 1);
    b->s[b->n++] = c;
    b->s[b->n] = '\0';
}

/* An empty NULL-terminated argv. */
static char **argv_new(size_t *cap)
{
    char **v = xmalloc(sizeof *v);
    v[0] = NULL;
    *cap = 1;
    return v;
}

static void argv_push(char ***v, size_t *n, size_t *cap, char *s)
{
    xgrow((void **)v, cap, *n + 2, sizeof **v);
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int split_json(const char *value, char ***argv, size_t *n, char **err)
{
    char why[256] = "";
    yajl_val root = yajl_tree_parse(value, why, sizeof why);
    if (!root || !YAJL_IS_ARRAY(root)) {
        yajl_tree_free(root);
        *err = xstrdup("a value starting with '[' must be a JSON array of strings, "
                       "like [\"sh\", \"-c\", \"echo hi\"] (quote a literal '[')");
        return -1;
    }
    size_t cap, k = 0;
    char **v = argv_new(&cap);
    for (size_t i = 0; i < root->u.array.len; i++) {
        yajl_val e = root->u.array.values[i];
        if (!YAJL_IS_STRING(e)) {
            yajl_tree_free(root);
            ctd_argv_free(v);
            *err = xasprintf("element %zu of the JSON array is not a string", i + 1);
            return -1;
        }
        argv_push(&v, &k, &cap, xstrdup(e->u.string));
    }
    yajl_tree_free(root);
    *argv = v;
    *n = k;
    return 0;
}

int ctd_split_command(const char *value, char ***argv, size_t *n, char **err)
{
    *argv = NULL;
    *n = 0;
    *err = NULL;
    if (!value)
        value = "";
    const char *p = value;
    while (is_blank(*p))
        p++;
    if (*p == '[')
        return split_json(value, argv, n, err);

    size_t cap, k = 0;
    char **v = argv_new(&cap);
    strbuf tok = {0};
    bool in_token = false;
    for (; *p; p++) {
        char c = *p;
        if (is_blank(c)) {
            if (in_token) {
                argv_push(&v, &k, &cap, tok.s ? tok.s : xstrdup(""));
                tok = (strbuf){0};
                in_token = false;
            }
            continue;
        }
        in_token = true;
        if (c == '\'') {
            const char *end = strchr(p + 1, '\'');
            if (!end) {
                *err = xstrdup("unterminated single quote");
                goto fail;
            }
            for (const char *q = p + 1; q < end; q++)
                sb_add(&tok, *q);
            p = end;
        } else if (c == '"') {
            for (p++;; p++) {
                if (!*p) {
                    *err = xstrdup("unterminated double quote");
                    goto fail;
                }
                if (*p == '"')
                    break;
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                sb_add(&tok, *p);
            }
        } else {
            sb_add(&tok, c);
        }
    }
    if (in_token)
        argv_push(&v, &k, &cap, tok.s ? tok.s : xstrdup(""));
    *argv = v;
    *n = k;
    return 0;
fail:
    free(tok.s);
    ctd_argv_free(v);
    return -1;
}

/* ---- environment ------------------------------------------------------------ */

/* "KEY=value" strings, unique by key, in order of first appearance. */
typedef struct envlist {
    char **v;
    size_t n, cap;
} envlist;

static void env_set(envlist *e, const char *key, size_t klen, const char *value)
{
    char *kv = xasprintf("%.*s=%s", (int)klen, key, value);
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->v[i], key, klen) == 0 && e->v[i][klen] == '=') {
            free(e->v[i]);
            e->v[i] = kv;
            return;
        }
    }
    xgrow((void **)&e->v, &e->cap, e->n + 1, sizeof *e->v);
    e->v[e->n++] = kv;
}

/* Sets from a "KEY=value" string; one without '=' (or with an empty key) is
 * ignored. */
static void env_set_kv(envlist *e, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return;
    env_set(e, kv, (size_t)(eq - kv), eq + 1);
}

static bool env_has(const envlist *e, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], key, klen) == 0 && e->v[i][klen] == '=')
            return true;
    return false;
}

static void env_free(envlist *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
}

/* ---- mounts ----------------------------------------------------------------- */

typedef struct mount {
    const char *destination;
    const char *type;
    const char *source;
    const char *const *options;
    char *owned_source; /* freed with the list */
} mount;

static const char *const o_proc[] = {"nosuid", "noexec", "nodev", NULL};
static const char *const o_dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
static const char *const o_pts[] = {"nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                    "mode=0620", "gid=5", NULL};
static const char *const o_shm[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL};
static const char *const o_mqueue[] = {"nosuid", "noexec", "nodev", NULL};
static const char *const o_sys[] = {"nosuid", "noexec", "nodev", "ro", NULL};
static const char *const o_run[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
static const char *const o_bind_ro[] = {"rbind", "ro", NULL};
static const char *const o_bind_rw[] = {"rbind", "rw", NULL};

static const mount default_mounts[] = {
    {"/proc", "proc", "proc", o_proc, NULL},
    {"/dev", "tmpfs", "tmpfs", o_dev, NULL},
    {"/dev/pts", "devpts", "devpts", o_pts, NULL},
    {"/dev/shm", "tmpfs", "shm", o_shm, NULL},
    {"/dev/mqueue", "mqueue", "mqueue", o_mqueue, NULL},
    {"/sys", "sysfs", "sysfs", o_sys, NULL},
    {"/run", "tmpfs", "tmpfs", o_run, NULL},
};

static const char *const masked_paths[] = {
    "/proc/acpi",      "/proc/asound",      "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/sys/firmware",   "/proc/scsi",
};

static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static const char *const capabilities[] = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",  "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",     "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",   "CAP_AUDIT_WRITE",
};

static const char *const namespaces[] = {"pid", "ipc", "uts", "mount"};

/* containerd's WithDefaultUnixDevices: char devices allowed after deny-all.
 * minor -1: any. */
static const struct {
    int major, minor;
} allowed_devices[] = {
    {1, 3},    /* /dev/null */
    {1, 8},    /* /dev/random */
    {1, 7},    /* /dev/full */
    {5, 0},    /* /dev/tty */
    {1, 5},    /* /dev/zero */
    {1, 9},    /* /dev/urandom */
    {5, 1},    /* /dev/console */
    {136, -1}, /* /dev/pts/N */
    {5, 2},    /* /dev/ptmx */
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Path components, ignoring empty ones: "/" 0, "/a" 1, "/a/b/" 2. */
static unsigned path_depth(const char *p)
{
    unsigned d = 0;
    for (size_t i = 0; p[i]; i++)
        if (p[i] != '/' && (i == 0 || p[i - 1] == '/'))
            d++;
    return d;
}

/* a and b name the same directory, ignoring trailing slashes. */
static bool same_path(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    while (na > 1 && a[na - 1] == '/')
        na--;
    while (nb > 1 && b[nb - 1] == '/')
        nb--;
    return na == nb && memcmp(a, b, na) == 0;
}

typedef struct mountlist {
    mount *v;
    size_t n, cap;
} mountlist;

static void mounts_add(mountlist *l, mount m)
{
    xgrow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v);
    l->v[l->n++] = m;
}

static void mounts_free(mountlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].owned_source);
    free(l->v);
}

/* b lies strictly inside directory a ("/data/sub" inside "/data/"). */
static bool path_under(const char *b, const char *a)
{
    size_t na = strlen(a);
    while (na > 0 && a[na - 1] == '/')
        na--;
    return strncmp(b, a, na) == 0 && b[na] == '/' && path_depth(b + na) > 0;
}

/* Parents before what lies inside them, otherwise the order given: each
 * mount moves to just before the first earlier mount inside it. (Every mount
 * stays after its own parents: by induction, they were already placed before
 * all of their descendants.) */
static void mounts_order(mountlist *l)
{
    for (size_t i = 1; i < l->n; i++) {
        size_t j = 0;
        while (j < i && !path_under(l->v[j].destination, l->v[i].destination))
            j++;
        if (j == i)
            continue;
        mount m = l->v[i];
        memmove(l->v + j + 1, l->v + j, (i - j) * sizeof *l->v);
        l->v[j] = m;
    }
}

char *ctd_volume_source(const orch_volume *v, const char *project_dir, const char *data_dir)
{
    if (v->is_named)
        return data_dir ? xasprintf("%s/volumes/%s", data_dir, v->source) : NULL;
    if (v->source[0] == '/')
        return xstrdup(v->source);
    if (!project_dir)
        return NULL;
    const char *s = v->source;
    while (s[0] == '.' && s[1] == '/')
        s += 2;
    size_t pl = strlen(project_dir);
    while (pl > 1 && project_dir[pl - 1] == '/')
        pl--;
    return xasprintf("%.*s/%s", (int)pl, project_dir, s);
}

char *ctd_default_cgroups_path(const char *namespace_, const char *service)
{
    return xasprintf("/orchd/%s/%s", namespace_ && *namespace_ ? namespace_ : ORCH_DEFAULT_NAMESPACE, service);
}

/* ---- JSON output ------------------------------------------------------------ */

typedef struct gen {
    yajl_gen g;
    const char *section; /* what is being written, for a UTF-8 error */
    const char *bad;     /* the first section with a string yajl refused */
} gen;

static void g_str(gen *g, const char *s)
{
    if (yajl_gen_string(g->g, (const unsigned char *)s, strlen(s)) != yajl_gen_status_ok &&
        !g->bad)
        g->bad = g->section;
}

static void g_int(gen *g, long long v)
{
    yajl_gen_integer(g->g, v);
}

static void g_u64(gen *g, uint64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    yajl_gen_number(g->g, buf, (size_t)n);
}

static void g_bool(gen *g, bool v)
{
    yajl_gen_bool(g->g, v);
}

static void g_open(gen *g)
{
    yajl_gen_map_open(g->g);
}

static void g_close(gen *g)
{
    yajl_gen_map_close(g->g);
}

static void g_aopen(gen *g)
{
    yajl_gen_array_open(g->g);
}

static void g_aclose(gen *g)
{
    yajl_gen_array_close(g->g);
}

static void g_strs(gen *g, const char *const *v, size_t n)
{
    g_aopen(g);
    for (size_t i = 0; i < n; i++)
        g_str(g, v[i]);
    g_aclose(g);
}

static void g_rlimit(gen *g, const char *type, uint64_t value)
{
    g_open(g);
    g_str(g, "type");
    g_str(g, type);
    g_str(g, "hard");
    g_u64(g, value);
    g_str(g, "soft");
    g_u64(g, value);
    g_close(g);
}

/* ---- the spec --------------------------------------------------------------- */

typedef struct built {
    char **owned_argv[2]; /* split ENTRYPOINT / CMD */
    const char **argv;
    size_t argc;
    envlist env;
    const char *cwd;
    uint32_t uid, gid;
    uint32_t *gids;
    size_t n_gids;
    mountlist mounts;
    char *cgroups_path;
    uint64_t nofile;
    bool has_nproc;
    uint64_t nproc;
    long long cpu_quota; /* 0: none */
} built;

static void built_free(built *b)
{
    ctd_argv_free(b->owned_argv[0]);
    ctd_argv_free(b->owned_argv[1]);
    free(b->argv);
    env_free(&b->env);
    free(b->gids);
    mounts_free(&b->mounts);
    free(b->cgroups_path);
}

static bool has(const orch_service *svc, orch_field f)
{
    return (svc->set & ORCH_BIT(f)) != 0;
}

static int build_argv(const ctd_spec_input *in, built *b, char **err)
{
    const orch_service *svc = in->svc;
    const ctd_image_config *img = in->image;
    const char *const *ep = img ? (const char *const *)img->entrypoint.v : NULL;
    size_t nep = img ? img->entrypoint.n : 0;
    const char *const *cmd = img ? (const char *const *)img->cmd.v : NULL;
    size_t ncmd = img ? img->cmd.n : 0;

    const char *which[2] = {svc->entrypoint, svc->cmd};
    const orch_field fields[2] = {ORCH_F_ENTRYPOINT, ORCH_F_CMD};
    size_t counts[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        if (!which[i])
            continue;
        char *why = NULL;
        if (ctd_split_command(which[i], &b->owned_argv[i], &counts[i], &why) < 0) {
            *err = service_error(svc, field_at(svc, fields[i]), "%s: %s",
                                 orch_field_keyword(fields[i]), why);
            free(why);
            return -1;
        }
    }
    if (svc->entrypoint) { /* Docker: a new entrypoint drops the image's Cmd */
        ep = (const char *const *)b->owned_argv[0];
        nep = counts[0];
        cmd = NULL;
        ncmd = 0;
    }
    if (svc->cmd) {
        cmd = (const char *const *)b->owned_argv[1];
        ncmd = counts[1];
    }
    b->argc = nep + ncmd;
    if (b->argc == 0) {
        *err = service_error(svc, field_at(svc, ORCH_F_FROM),
                             "image has no entrypoint or cmd and the service gives none");
        return -1;
    }
    b->argv = xcalloc(b->argc, sizeof *b->argv);
    for (size_t i = 0; i < nep; i++)
        b->argv[i] = ep[i];
    for (size_t i = 0; i < ncmd; i++)
        b->argv[nep + i] = cmd[i];
    if (!b->argv[0][0]) {
        *err = service_error(svc,
                             field_at(svc, svc->entrypoint ? ORCH_F_ENTRYPOINT : ORCH_F_CMD),
                             "the program to run (the first argument) is empty");
        return -1;
    }
    return 0;
}

static void build_env(const ctd_spec_input *in, built *b)
{
    const orch_service *svc = in->svc;
    if (in->image)
        for (size_t i = 0; i < in->image->env.n; i++)
            env_set_kv(&b->env, in->image->env.v[i]);
    for (char *const *p = in->env_file_env; p && *p; p++)
        env_set_kv(&b->env, *p);
    for (size_t i = 0; i < svc->n_env; i++)
        env_set(&b->env, svc->env[i].key, strlen(svc->env[i].key),
                svc->env[i].value ? svc->env[i].value : "");
    if (!env_has(&b->env, "PATH")) { /* first, as containerd's default env */
        env_set(&b->env, "PATH", 4, CTD_DEFAULT_PATH);
        char *path = b->env.v[b->env.n - 1];
        memmove(b->env.v + 1, b->env.v, (b->env.n - 1) * sizeof *b->env.v);
        b->env.v[0] = path;
    }
    env_set(&b->env, "ORCH_SERVICE", strlen("ORCH_SERVICE"), svc->name);
}

static int build_cwd(const ctd_spec_input *in, built *b, char **err)
{
    const orch_service *svc = in->svc;
    if (svc->workdir) {
        if (svc->workdir[0] != '/') {
            *err = service_error(svc, field_at(svc, ORCH_F_WORKDIR),
                                 "WORKDIR '%s' must be an absolute path inside the container",
                                 svc->workdir);
            return -1;
        }
        b->cwd = svc->workdir;
    } else if (in->image && in->image->working_dir) {
        if (in->image->working_dir[0] != '/') {
            *err = service_error(svc, nowhere(),
                                 "the image's WorkingDir '%s' is not an absolute path; "
                                 "give WORKDIR",
                                 in->image->working_dir);
            return -1;
        }
        b->cwd = in->image->working_dir;
    } else {
        b->cwd = "/";
    }
    return 0;
}

static int build_user(const ctd_spec_input *in, built *b, char **err)
{
    const char *spec = in->image ? in->image->user : NULL;
    char *why = NULL;
    if (ctd_resolve_user(in->etc_passwd, in->etc_group, spec, &b->uid, &b->gid, &b->gids,
                         &b->n_gids, &why) < 0) {
        *err = service_error(in->svc, nowhere(), "the image's user '%s': %s", spec ? spec : "",
                             why);
        free(why);
        return -1;
    }
    return 0;
}

static int check_publish(const orch_service *svc, char **err)
{
    for (size_t i = 0; i < svc->n_publish; i++) {
        const orch_publish *p = &svc->publish[i];
        char *why = orch_publish_remap_problem(p);
        if (!why)
            continue;
        *err = service_error(svc, p->at, "%s", why);
        free(why);
        return -1;
    }
    return 0;
}

static int build_mounts(const ctd_spec_input *in, built *b, char **err)
{
    const orch_service *svc = in->svc;
    /* Defaults first, unless a VOLUME takes their place. */
    for (size_t i = 0; i < COUNT(default_mounts); i++) {
        bool replaced = false;
        for (size_t k = 0; k < svc->n_volumes && !replaced; k++)
            replaced = same_path(svc->volumes[k].destination, default_mounts[i].destination);
        if (!replaced)
            mounts_add(&b->mounts, default_mounts[i]);
    }
    const struct {
        const char *source, *destination;
    } host_files[] = {{in->hosts_file, "/etc/hosts"}, {in->resolv_conf, "/etc/resolv.conf"}};
    for (size_t i = 0; i < COUNT(host_files); i++) {
        if (!host_files[i].source)
            continue;
        bool replaced = false;
        for (size_t k = 0; k < svc->n_volumes && !replaced; k++)
            replaced = same_path(svc->volumes[k].destination, host_files[i].destination);
        if (!replaced)
            mounts_add(&b->mounts, (mount){host_files[i].destination, "bind",
                                           host_files[i].source, o_bind_ro, NULL});
    }
    for (size_t k = 0; k < svc->n_volumes; k++) {
        const orch_volume *v = &svc->volumes[k];
        if (path_depth(v->destination) == 0) {
            *err = service_error(svc, v->at, "VOLUME %s:%s: cannot mount over the root", v->source,
                                 v->destination);
            return -1;
        }
        char *src = ctd_volume_source(v, in->project_dir, in->data_dir);
        if (!src) {
            *err = service_error(svc, v->at, "VOLUME %s:%s: %s", v->source, v->destination,
                                 v->is_named ? "a named volume needs the data directory"
                                             : "a relative source needs the project directory");
            return -1;
        }
        mounts_add(&b->mounts, (mount){v->destination, "bind", src, o_bind_rw, src});
    }
    mounts_order(&b->mounts);
    return 0;
}

/* The hard limit a process may ask for: 0 when there is no ceiling. */
static uint64_t ceiling(uint64_t host)
{
    if (host == CTD_HOST_LIMIT_UNKNOWN || host == UINT64_MAX)
        return 0;
    return host;
}

static int build_limits(const ctd_spec_input *in, built *b, char **err)
{
    const orch_service *svc = in->svc;
    uint64_t nofile_max = ceiling(in->host_nofile_hard);
    uint64_t nproc_max = ceiling(in->host_nproc_hard);
    if (has(svc, ORCH_F_LIMIT_NOFILE)) {
        if (nofile_max && svc->limit_nofile > nofile_max) {
            *err = service_error(svc, field_at(svc, ORCH_F_LIMIT_NOFILE),
                                 "LIMIT_NOFILE %llu exceeds this host's hard limit %llu (orchd "
                                 "cannot raise it without CAP_SYS_RESOURCE)",
                                 (unsigned long long)svc->limit_nofile,
                                 (unsigned long long)nofile_max);
            return -1;
        }
        b->nofile = svc->limit_nofile;
    } else {
        b->nofile = CTD_DEFAULT_NOFILE;
        if (nofile_max && b->nofile > nofile_max)
            b->nofile = nofile_max;
    }
    if (has(svc, ORCH_F_LIMIT_NPROC)) {
        if (nproc_max && svc->limit_nproc > nproc_max) {
            *err = service_error(svc, field_at(svc, ORCH_F_LIMIT_NPROC),
                                 "LIMIT_NPROC %llu exceeds this host's hard limit %llu (orchd "
                                 "cannot raise it without CAP_SYS_RESOURCE)",
                                 (unsigned long long)svc->limit_nproc,
                                 (unsigned long long)nproc_max);
            return -1;
        }
        b->has_nproc = true;
        b->nproc = svc->limit_nproc;
    }

    if (has(svc, ORCH_F_MEMORY) && svc->memory > (uint64_t)INT64_MAX) {
        *err = service_error(svc, field_at(svc, ORCH_F_MEMORY), "MEMORY is too large");
        return -1;
    }
    if (has(svc, ORCH_F_TASKS_MAX) && svc->tasks_max > (uint64_t)INT64_MAX) {
        *err = service_error(svc, field_at(svc, ORCH_F_TASKS_MAX), "TASKS_MAX is too large");
        return -1;
    }
    if (has(svc, ORCH_F_IO_WEIGHT) && (svc->io_weight < 10 || svc->io_weight > 1000)) {
        *err = service_error(svc, field_at(svc, ORCH_F_IO_WEIGHT),
                             "IO_WEIGHT %u is outside 10-1000", svc->io_weight);
        return -1;
    }
    /* CPUS and CPU_QUOTA together: the stricter, as in every runtime
     * (orch_service_cpu_limit). */
    double cores = 0;
    orch_field from = ORCH_F_CPUS;
    if (orch_service_cpu_limit(svc, &cores, &from)) {
        double q = cores * CTD_CPU_PERIOD;
        if (!(q + 0.5 >= CPU_QUOTA_MIN) || q > 1e15) {
            if (from == ORCH_F_CPU_QUOTA)
                *err = service_error(svc, field_at(svc, from),
                                     "CPU_QUOTA %u%% is below the kernel's minimum of 1%%",
                                     svc->cpu_quota);
            else
                *err = service_error(svc, field_at(svc, from), "CPUS %g is %s", svc->cpus,
                                     q > 1e15 ? "too large"
                                              : "below the kernel's minimum of 0.01 CPU");
            return -1;
        }
        b->cpu_quota = (long long)(q + 0.5);
    }
    return 0;
}

static void emit_process(gen *g, const built *b)
{
    g->section = "the process";
    g_str(g, "process");
    g_open(g);
    g_str(g, "terminal");
    g_bool(g, false);
    g_str(g, "user");
    g_open(g);
    g_str(g, "uid");
    g_int(g, b->uid);
    g_str(g, "gid");
    g_int(g, b->gid);
    if (b->n_gids) {
        g_str(g, "additionalGids");
        g_aopen(g);
        for (size_t i = 0; i < b->n_gids; i++)
            g_int(g, b->gids[i]);
        g_aclose(g);
    }
    g_close(g);
    g->section = "ENTRYPOINT/CMD";
    g_str(g, "args");
    g_strs(g, b->argv, b->argc);
    g->section = "the environment (image Env, ENV_FILE or ENV)";
    g_str(g, "env");
    g_strs(g, (const char *const *)b->env.v, b->env.n);
    g->section = "the working directory";
    g_str(g, "cwd");
    g_str(g, b->cwd);
    g->section = "the process";
    g_str(g, "capabilities");
    g_open(g);
    const char *sets[] = {"bounding", "effective", "permitted"};
    for (size_t i = 0; i < COUNT(sets); i++) {
        g_str(g, sets[i]);
        g_strs(g, capabilities, COUNT(capabilities));
    }
    g_close(g);
    g_str(g, "rlimits");
    g_aopen(g);
    g_rlimit(g, "RLIMIT_NOFILE", b->nofile);
    if (b->has_nproc)
        g_rlimit(g, "RLIMIT_NPROC", b->nproc);
    g_aclose(g);
    g_str(g, "noNewPrivileges");
    g_bool(g, true);
    g_close(g);
}

static void emit_mounts(gen *g, const built *b)
{
    g->section = "VOLUME";
    g_str(g, "mounts");
    g_aopen(g);
    for (size_t i = 0; i < b->mounts.n; i++) {
        const mount *m = &b->mounts.v[i];
        g_open(g);
        g_str(g, "destination");
        g_str(g, m->destination);
        g_str(g, "type");
        g_str(g, m->type);
        g_str(g, "source");
        g_str(g, m->source);
        g_str(g, "options");
        g_aopen(g);
        for (const char *const *o = m->options; *o; o++)
            g_str(g, *o);
        g_aclose(g);
        g_close(g);
    }
    g_aclose(g);
}

static void emit_resources(gen *g, const orch_service *svc, const built *b)
{
    g_str(g, "resources");
    g_open(g);
    g_str(g, "devices");
    g_aopen(g);
    g_open(g);
    g_str(g, "allow");
    g_bool(g, false);
    g_str(g, "access");
    g_str(g, "rwm");
    g_close(g);
    for (size_t i = 0; i < COUNT(allowed_devices); i++) {
        g_open(g);
        g_str(g, "allow");
        g_bool(g, true);
        g_str(g, "type");
        g_str(g, "c");
        g_str(g, "major");
        g_int(g, allowed_devices[i].major);
        if (allowed_devices[i].minor >= 0) {
            g_str(g, "minor");
            g_int(g, allowed_devices[i].minor);
        }
        g_str(g, "access");
        g_str(g, "rwm");
        g_close(g);
    }
    g_aclose(g);
    if (has(svc, ORCH_F_MEMORY)) {
        g_str(g, "memory");
        g_open(g);
        g_str(g, "limit");
        g_int(g, (long long)svc->memory);
        g_close(g);
    }
    if (b->cpu_quota) {
        g_str(g, "cpu");
        g_open(g);
        g_str(g, "quota");
        g_int(g, b->cpu_quota);
        g_str(g, "period");
        g_int(g, CTD_CPU_PERIOD);
        g_close(g);
    }
    if (has(svc, ORCH_F_TASKS_MAX)) {
        g_str(g, "pids");
        g_open(g);
        g_str(g, "limit");
        g_int(g, (long long)svc->tasks_max);
        g_close(g);
    }
    if (has(svc, ORCH_F_IO_WEIGHT)) {
        g_str(g, "blockIO");
        g_open(g);
        g_str(g, "weight");
        g_int(g, svc->io_weight);
        g_close(g);
    }
    g_close(g);
}

static void emit_linux(gen *g, const ctd_spec_input *in, const built *b)
{
    g->section = "the cgroups path";
    g_str(g, "linux");
    g_open(g);
    emit_resources(g, in->svc, b);
    g_str(g, "cgroupsPath");
    g_str(g, b->cgroups_path);
    g_str(g, "namespaces");
    g_aopen(g);
    for (size_t i = 0; i < COUNT(namespaces); i++) {
        g_open(g);
        g_str(g, "type");
        g_str(g, namespaces[i]);
        g_close(g);
    }
    g_aclose(g);
    g_str(g, "maskedPaths");
    g_strs(g, masked_paths, COUNT(masked_paths));
    g_str(g, "readonlyPaths");
    g_strs(g, readonly_paths, COUNT(readonly_paths));
    if (in->seccomp == CTD_SECCOMP_DEFAULT) {
        /* the profile follows the capabilities granted (the bounding set) */
        g_str(g, "seccomp");
        ctd_seccomp_emit(g->g, capabilities, COUNT(capabilities), in->kernel_release);
    }
    g_close(g);
}

int ctd_spec_build(const ctd_spec_input *in, char **json_out, char **err)
{
    *json_out = NULL;
    *err = NULL;
    const orch_service *svc = in->svc;
    if (!svc->image) {
        *err = service_error(svc, svc->at, "not a container service (no FROM)");
        return -1;
    }
    built b = {0};
    int rc = -1;
    if (build_argv(in, &b, err) < 0 || build_cwd(in, &b, err) < 0 || build_user(in, &b, err) < 0 ||
        check_publish(svc, err) < 0 || build_mounts(in, &b, err) < 0 ||
        build_limits(in, &b, err) < 0)
        goto out;
    build_env(in, &b);
    b.cgroups_path = in->cgroups_path ? xstrdup(in->cgroups_path)
                                      : ctd_default_cgroups_path(in->namespace_, svc->name);

    gen g = {.g = yajl_gen_alloc(NULL)};
    if (!g.g) {
        *err = service_error(svc, nowhere(), "out of memory");
        goto out;
    }
    yajl_gen_config(g.g, yajl_gen_validate_utf8, 1);
    g_open(&g);
    g_str(&g, "ociVersion");
    g_str(&g, OCI_VERSION);
    emit_process(&g, &b);
    g.section = "the rootfs path";
    g_str(&g, "root");
    g_open(&g);
    g_str(&g, "path");
    g_str(&g, in->rootfs ? in->rootfs : "rootfs");
    g_str(&g, "readonly");
    g_bool(&g, false);
    g_close(&g);
    g.section = "the hostname";
    g_str(&g, "hostname");
    g_str(&g, svc->name);
    emit_mounts(&g, &b);
    emit_linux(&g, in, &b);
    g_close(&g);
    if (g.bad) {
        *err = service_error(svc, nowhere(), "%s is not valid UTF-8", g.bad);
    } else {
        const unsigned char *buf;
        size_t len;
        yajl_gen_get_buf(g.g, &buf, &len);
        *json_out = xstrndup((const char *)buf, len);
        rc = 0;
    }
    yajl_gen_free(g.g);
out:
    built_free(&b);
    return rc;
}
