#include "cli/settings.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "runtime/runtime.h"

enum {
    RC_LINE_MAX = 4096,    /* bytes per line, newline included */
    RC_FILE_MAX = 1 << 16, /* bytes read per file */
};

/* The keys a .orchrc may set: orchd's environment names, and the names
 * upstream orchd's users write (runtime=, namespace=, ...), which mean the
 * same. */
static const char *const rc_keys[][2] = {
    {"ORCH_ORCHFILE", "orchfile"},
    {"ORCH_OVERLAYS", "overlays"},
    {"ORCH_STATE_DIR", "state_dir"},
    {"ORCH_DATA", "data_dir"},
    {"ORCH_PROJECT", "project_dir"},
    {"ORCH_NAMESPACE", "namespace"},
    {"ORCH_RUNTIME", "runtime"},
    {"ORCH_VM_KERNEL", "vm_kernel"},
    {"ORCH_CONTAINERD_SOCKET", "containerd_socket"},
    {"ORCH_PORT_OFFSET", "port_offset"},
};
#define RC_KEYS (sizeof rc_keys / sizeof *rc_keys)

/* One value per known key (a file cannot hold more than that). */
typedef struct rcfile {
    char *values[RC_KEYS];
} rcfile;

/* The index of a .orchrc key in rc_keys, or -1 when it is not a setting. */
static int rc_index(const char *key)
{
    for (size_t i = 0; i < RC_KEYS; i++)
        if (strcmp(key, rc_keys[i][0]) == 0 || strcmp(key, rc_keys[i][1]) == 0)
            return (int)i;
    return -1;
}

static char *trim(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        p[--n] = '\0';
    return p;
}

static void rc_warn(const char *path, unsigned line, const char *what)
{
    fprintf(stderr, "orchd: warning: %s:%u: %s\n", path, line, what);
}

/* One KEY=value line (KEY = value: blanks around both are trimmed; a value
 * in matching double or single quotes loses them). */
static void rc_line(rcfile *rc, const char *path, unsigned lineno, char *line)
{
    char *p = trim(line);
    if (*p == '#' || *p == '\0')
        return;
    char *eq = strchr(p, '=');
    if (!eq) {
        rc_warn(path, lineno, "not KEY=value (ignored)");
        return;
    }
    *eq = '\0';
    char *key = trim(p), *value = trim(eq + 1);
    size_t n = strlen(value);
    if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0]) {
        value[n - 1] = '\0';
        value++;
    }
    int k = rc_index(key);
    if (k < 0) {
        char *msg = xasprintf("unknown key '%.64s' (ignored)", key);
        rc_warn(path, lineno, msg);
        free(msg);
        return;
    }
    /* Within a file the later line wins, whichever form it uses. */
    free(rc->values[k]);
    rc->values[k] = xstrdup(value);
}

/* .orchrc: KEY=value lines, '#' comments. Anything orchd does not use is
 * named in a warning rather than silently dropped. The file is the user's
 * own (or the trusted project's), but a FIFO or a huge file there must not
 * hang or flood the command: only a regular file, only RC_FILE_MAX bytes. */
static void rc_read(rcfile *rc, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "orchd: warning: %s: not a regular file (ignored)\n", path);
        close(fd);
        return;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return;
    }
    char line[RC_LINE_MAX];
    unsigned lineno = 0;
    size_t total = 0;
    bool skipping = false; /* the rest of an overlong line */
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        total += len;
        if (total > RC_FILE_MAX) {
            char msg[80];
            snprintf(msg, sizeof msg, "the file is longer than %d bytes; the rest is ignored",
                     RC_FILE_MAX);
            rc_warn(path, lineno + 1, msg);
            break;
        }
        bool complete = len > 0 && line[len - 1] == '\n';
        if (skipping) {
            skipping = !complete;
            continue;
        }
        lineno++;
        if (!complete && !feof(f)) {
            char msg[80];
            snprintf(msg, sizeof msg, "line longer than %d bytes (ignored)", RC_LINE_MAX - 1);
            rc_warn(path, lineno, msg);
            skipping = true;
            continue;
        }
        line[strcspn(line, "\r\n")] = '\0';
        rc_line(rc, path, lineno, line);
    }
    fclose(f);
}

static const char *rc_get(const rcfile *rc, const char *key)
{
    int k = rc_index(key);
    return k < 0 ? NULL : rc->values[k];
}

static void rc_free(rcfile *rc)
{
    for (size_t i = 0; i < RC_KEYS; i++)
        free(rc->values[i]);
}

static char *absolute(const char *p)
{
    if (p[0] == '/')
        return xstrdup(p);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return xstrdup(p);
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    if (strcmp(p, ".") == 0 || p[0] == '\0')
        return xstrdup(cwd);
    return xasprintf("%s/%s", cwd, p);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

/* Data (named volumes) outlives a reboot, unlike the state dir (/run is a
 * tmpfs): /var/lib/orchd for root, the XDG data home otherwise. */
static char *default_data_dir(const char *state_dir)
{
    if (geteuid() == 0)
        return xstrdup("/var/lib/orchd");
    const char *v = getenv("XDG_DATA_HOME");
    if (v && v[0] == '/')
        return xasprintf("%s/orchd", v);
    v = getenv("HOME");
    if (v && v[0] == '/')
        return xasprintf("%s/.local/share/orchd", v);
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
        return xasprintf("%s/.local/share/orchd", pw->pw_dir);
    return xasprintf("%s/data", state_dir); /* no home at all: the old place */
}

char *orch_settings_old_data_dir(const orch_settings *s)
{
    return xasprintf("%s/data", s->state_dir);
}

typedef struct flags {
    const char *orchfile, *state, *data, *project, *ns, *runtime, *socket, *vm_kernel,
        *port_offset;
    const char *log_max_size, *log_keep;
} flags;

/* flag > env > project .orchrc > $HOME/.orchrc */
static const char *pick(const char *flag, const char *env, const rcfile *rc1,
                        const rcfile *rc2)
{
    const char *v;
    if (flag)
        return flag;
    if ((v = getenv(env)) && *v)
        return v;
    if ((v = rc_get(rc1, env)))
        return v;
    if ((v = rc_get(rc2, env)))
        return v;
    return NULL;
}

/* "1048576", "64K", "10M", "1G" (powers of 1024; a trailing "iB" or "B" is fine). */
static bool parse_size(const char *v, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!(*v >= '0' && *v <= '9'))
        return false;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno)
        return false;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (shift && strcmp(end, "iB") == 0)
        end += 2;
    else if (strcmp(end, "B") == 0)
        end += 1;
    if (*end || (shift && n > (~0ull >> shift)))
        return false;
    *out = n << shift;
    return true;
}

static int file_exists(const char *p)
{
    return access(p, F_OK) == 0;
}

static void usage(FILE *f, const char *verb, const char *accepted)
{
    fprintf(f, "usage: orchd %s [options] [SERVICE...]\n"
               "  -f, --orchfile FILE   the Orchfile (default ./Orchfile or ./Orchfile.yaml)\n"
               "  --overlay FILE        an overlay merged over it (repeatable)\n"
               "  --state-dir DIR       runtime state, socket and logs (ORCH_STATE_DIR)\n"
               "  --data-dir DIR        persistent data and volumes (ORCH_DATA)\n"
               "  --project-dir DIR     base of relative paths (ORCH_PROJECT)\n"
               "  --namespace NAME      names of cgroups and containers (ORCH_NAMESPACE)\n"
               "  --runtime NAME        runtime for FROM services: containerd or vm (ORCH_RUNTIME)\n"
               "  --port-offset N       the value of ${PORT_OFFSET} (ORCH_PORT_OFFSET, default 0)\n"
               "  --vm-kernel DIR       vm: kernel and modules (ORCH_VM_KERNEL)\n"
               "  --containerd-socket P containerd's socket (ORCH_CONTAINERD_SOCKET)\n"
               "  --log-max-size SIZE   rotate a service's log past SIZE, e.g. 10M; 0: never\n"
               "                        (ORCH_LOG_MAX_SIZE, default 10M)\n"
               "  --log-keep N          old log files kept (ORCH_LOG_KEEP, default 5)\n"
               "  --arg NAME=VALUE      override an ARG (repeatable)\n", verb);
    if (strstr(accepted, "json"))
        fputs("  --json                machine-readable output\n", f);
    if (strstr(accepted, "follow"))
        fputs("  -f, --follow          keep printing new output\n", f);
    if (strstr(accepted, "lines"))
        fputs("  -n, --lines N         the last N lines (default 100)\n", f);
    if (strstr(accepted, "timestamps"))
        fputs("  -t, --timestamps      show the time each line was logged (UTC)\n", f);
    if (strstr(accepted, "since"))
        fputs("  --since WHEN          lines from WHEN on: 30s, 10m, 2h, 1d ago, or\n"
              "                        2025-05-01T12:00:00Z (UTC)\n", f);
    if (strstr(accepted, "no-prefix"))
        fputs("  --no-prefix           no service name before each line\n", f);
    if (strstr(accepted, "watch"))
        fputs("  -w, --watch           refresh every 2 s, like top (CPU % over that interval)\n", f);
    if (strstr(accepted, "keep-data"))
        fputs("  --keep-data           keep named volumes and data\n", f);
    if (strstr(accepted, "poweroff"))
        fputs("  --poweroff            (PID 1) power the machine off afterwards\n", f);
    if (strstr(accepted, "pull"))
        fputs("  --pull POLICY         always|missing|never\n", f);
    if (strstr(accepted, "rerun"))
        fputs("  --rerun NAME          run the ONESHOT NAME again, even if it succeeded\n", f);
}

static int flag_is(const char *a, const char *longname, const char *shortname)
{
    return strcmp(a, longname) == 0 || (shortname && strcmp(a, shortname) == 0);
}

static int accepts(const char *accepted, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = accepted; (p = strstr(p, flag)); p += n)
        if ((p == accepted || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

static bool valid_namespace(const char *ns)
{
    size_t n = strlen(ns);
    if (n == 0 || n > 32)
        return false;
    return strspn(ns, "abcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

/* Canonical decimal 0-65535, so ${PORT_OFFSET} expands to plain digits. */
static bool valid_port_offset(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 5 || strspn(v, "0123456789") != n || (n > 1 && v[0] == '0'))
        return false;
    return strtoul(v, NULL, 10) <= 65535;
}

/* A flag that takes a value, given last: name it, not "unknown option". */
static bool missing_value(const char *verb, const char *accepted, const char *a, const char *next)
{
    static const char *const takes[][2] = {
        {"--overlay", NULL}, {"--arg", NULL},       {"--pull", "pull"}, {"--rerun", "rerun"},
        {"-n", "lines"},     {"--lines", "lines"},  {"--since", "since"},
    };
    if (next)
        return false;
    for (size_t i = 0; i < sizeof takes / sizeof *takes; i++) {
        if (strcmp(a, takes[i][0]) == 0 && (!takes[i][1] || accepts(accepted, takes[i][1]))) {
            fprintf(stderr, "orchd %s: %s needs a value\n", verb, a);
            return true;
        }
    }
    return false;
}

int orch_settings_parse(orch_settings *s, const char *verb, const char *accepted, int argc,
                        char **argv)
{
    memset(s, 0, sizeof *s);
    s->lines = 100;
    flags fl = {0};
    const char **overlays = xcalloc((size_t)argc + 1, sizeof *overlays);
    size_t n_overlays = 0;
    s->args = xcalloc((size_t)argc + 1, sizeof *s->args);
    s->names = xcalloc((size_t)argc + 1, sizeof *s->names);
    int rc = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define VALUE_FLAG(longname, shortname, dst)                                                   \
    if (flag_is(a, longname, shortname)) {                                                     \
        if (!next) {                                                                           \
            fprintf(stderr, "orchd %s: %s needs a value\n", verb, a);                          \
            goto out;                                                                          \
        }                                                                                      \
        dst = next;                                                                            \
        i++;                                                                                   \
        continue;                                                                              \
    }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout, verb, accepted);
            rc = 1;
            goto out;
        }
        if (accepts(accepted, "follow") && (strcmp(a, "-f") == 0 || strcmp(a, "--follow") == 0)) {
            s->follow = 1;
            continue;
        }
        VALUE_FLAG("--orchfile", "-f", fl.orchfile)
        VALUE_FLAG("--state-dir", NULL, fl.state)
        VALUE_FLAG("--data-dir", NULL, fl.data)
        VALUE_FLAG("--project-dir", NULL, fl.project)
        VALUE_FLAG("--namespace", NULL, fl.ns)
        VALUE_FLAG("--runtime", NULL, fl.runtime)
        VALUE_FLAG("--vm-kernel", NULL, fl.vm_kernel)
        VALUE_FLAG("--containerd-socket", NULL, fl.socket)
        VALUE_FLAG("--port-offset", NULL, fl.port_offset)
        VALUE_FLAG("--log-max-size", NULL, fl.log_max_size)
        VALUE_FLAG("--log-keep", NULL, fl.log_keep)
        if (missing_value(verb, accepted, a, next))
            goto out;
        if (strcmp(a, "--overlay") == 0 && next) {
            overlays[n_overlays++] = next;
            i++;
            continue;
        }
        if (strcmp(a, "--arg") == 0 && next) {
            const char *eq = strchr(next, '=');
            if (!eq || eq == next) {
                fprintf(stderr, "orchd %s: --arg '%s': expected NAME=VALUE\n", verb, next);
                goto out;
            }
            s->args[s->n_args].name = xstrndup(next, (size_t)(eq - next));
            s->args[s->n_args++].value = xstrdup(eq + 1);
            i++;
            continue;
        }
        if (accepts(accepted, "timestamps") &&
            (strcmp(a, "-t") == 0 || strcmp(a, "--timestamps") == 0)) {
            s->timestamps = 1;
            continue;
        }
        if (accepts(accepted, "no-prefix") && strcmp(a, "--no-prefix") == 0) {
            s->no_prefix = 1;
            continue;
        }
        if (accepts(accepted, "watch") && (strcmp(a, "--watch") == 0 || strcmp(a, "-w") == 0)) {
            s->watch = 1;
            continue;
        }
        if (accepts(accepted, "since") && strcmp(a, "--since") == 0 && next) {
            free(s->since);
            s->since = xstrdup(next);
            i++;
            continue;
        }
        if (accepts(accepted, "json") && strcmp(a, "--json") == 0) {
            s->json = 1;
            continue;
        }
        if (accepts(accepted, "keep-data") && strcmp(a, "--keep-data") == 0) {
            s->keep_data = 1;
            continue;
        }
        if (accepts(accepted, "poweroff") && strcmp(a, "--poweroff") == 0) {
            s->poweroff = 1;
            continue;
        }
        if (accepts(accepted, "rerun") && strcmp(a, "--rerun") == 0 && next) {
            s->rerun = xrealloc(s->rerun, (s->n_rerun + 1) * sizeof *s->rerun);
            s->rerun[s->n_rerun++] = xstrdup(next);
            i++;
            continue;
        }
        if (accepts(accepted, "pull") && strcmp(a, "--pull") == 0 && next) {
            if (strcmp(next, "always") && strcmp(next, "missing") && strcmp(next, "never")) {
                fprintf(stderr, "orchd %s: --pull takes always, missing or never\n", verb);
                goto out;
            }
            s->pull = xstrdup(next);
            i++;
            continue;
        }
        if (accepts(accepted, "lines") && (strcmp(a, "-n") == 0 || strcmp(a, "--lines") == 0) &&
            next) {
            char *end;
            errno = 0;
            s->lines = strtol(next, &end, 10);
            if (errno || *end || s->lines < 0) {
                fprintf(stderr, "orchd %s: %s '%s': expected a number\n", verb, a, next);
                goto out;
            }
            i++;
            continue;
        }
        if (a[0] == '-') {
            fprintf(stderr, "orchd %s: unknown option '%s'\n", verb, a);
            usage(stderr, verb, accepted);
            goto out;
        }
        s->names[s->n_names++] = xstrdup(a);
#undef VALUE_FLAG
    }

    /* The project dir candidate decides which .orchrc is read. */
    const char *proj_hint = fl.project ? fl.project : getenv("ORCH_PROJECT");
    const char *file_hint = fl.orchfile ? fl.orchfile : getenv("ORCH_ORCHFILE");
    char *hint_dir;
    if (proj_hint && *proj_hint) {
        hint_dir = absolute(proj_hint);
    } else if (file_hint && *file_hint) {
        char *file_abs = absolute(file_hint); /* warnings name absolute paths */
        hint_dir = dir_of(file_abs);
        free(file_abs);
    } else {
        hint_dir = absolute(".");
    }
    rcfile rc_proj = {0}, rc_home = {0};
    char *rc_path = xasprintf("%s/.orchrc", hint_dir);
    rc_read(&rc_proj, rc_path);
    free(rc_path);
    const char *home = getenv("HOME");
    if (home && *home) {
        char *home_path = xasprintf("%s/.orchrc", home);
        char *proj_path = xasprintf("%s/.orchrc", hint_dir);
        if (strcmp(home_path, proj_path) != 0) /* read (and warn about) it once */
            rc_read(&rc_home, home_path);
        free(home_path);
        free(proj_path);
    }

    const char *v = pick(fl.orchfile, "ORCH_ORCHFILE", &rc_proj, &rc_home);
    if (v) {
        s->orchfile = absolute(v);
    } else {
        char *plain = xasprintf("%s/Orchfile", hint_dir);
        char *yaml = xasprintf("%s/Orchfile.yaml", hint_dir);
        s->orchfile = !file_exists(plain) && file_exists(yaml) ? xstrdup(yaml) : xstrdup(plain);
        free(plain);
        free(yaml);
    }
    s->overlays = xcalloc(n_overlays + 1, sizeof *s->overlays);
    for (size_t i = 0; i < n_overlays; i++)
        s->overlays[s->n_overlays++] = absolute(overlays[i]);
    if (n_overlays == 0 && (v = pick(NULL, "ORCH_OVERLAYS", &rc_proj, &rc_home))) {
        /* ORCH_OVERLAYS: a colon-separated list, like PATH. */
        char *copy = xstrdup(v), *save = NULL;
        size_t cap = 1;
        for (const char *p = v; *p; p++)
            cap += *p == ':';
        s->overlays = xrealloc(s->overlays, (cap + 1) * sizeof *s->overlays);
        for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
            s->overlays[s->n_overlays++] = absolute(t);
        free(copy);
    }

    if ((v = pick(fl.state, "ORCH_STATE_DIR", &rc_proj, &rc_home)))
        s->state_dir = absolute(v);
    else if (geteuid() == 0)
        s->state_dir = xstrdup("/run/orchd");
    else if ((v = getenv("XDG_RUNTIME_DIR")) && *v)
        s->state_dir = xasprintf("%s/orchd", v);
    else
        s->state_dir = xasprintf("/tmp/orchd-%u", (unsigned)geteuid());
    v = pick(fl.data, "ORCH_DATA", &rc_proj, &rc_home);
    s->data_dir = v ? absolute(v) : default_data_dir(s->state_dir);
    v = pick(fl.project, "ORCH_PROJECT", &rc_proj, &rc_home);
    s->project_dir = v ? absolute(v) : dir_of(s->orchfile);
    v = pick(fl.ns, "ORCH_NAMESPACE", &rc_proj, &rc_home);
    s->namespace_ = xstrdup(v ? v : ORCH_DEFAULT_NAMESPACE);
    v = pick(fl.runtime, "ORCH_RUNTIME", &rc_proj, &rc_home);
    s->runtime = xstrdup(v ? v : "containerd");
    v = pick(fl.socket, "ORCH_CONTAINERD_SOCKET", &rc_proj, &rc_home);
    s->containerd_socket = xstrdup(v ? v : "/run/containerd/containerd.sock");
    v = pick(fl.vm_kernel, "ORCH_VM_KERNEL", &rc_proj, &rc_home);
    s->vm_kernel = v && *v ? absolute(v) : xstrdup("");
    v = pick(fl.port_offset, "ORCH_PORT_OFFSET", &rc_proj, &rc_home);
    s->port_offset = xstrdup(v ? v : "0");
    bool sizes_ok = true;
    v = pick(fl.log_max_size, "ORCH_LOG_MAX_SIZE", &rc_proj, &rc_home);
    s->log_max_size = 10ull << 20;
    if (v && !parse_size(v, &s->log_max_size)) {
        fprintf(stderr, "orchd %s: log max size '%s': expected bytes, or a number with K, M "
                        "or G (KiB, MiB, GiB)\n", verb, v);
        sizes_ok = false;
    }
    v = pick(fl.log_keep, "ORCH_LOG_KEEP", &rc_proj, &rc_home);
    unsigned long long keep = 5;
    if (v && (!parse_size(v, &keep) || keep > 1000 || strpbrk(v, "kKmMgG"))) {
        fprintf(stderr, "orchd %s: log keep '%s': expected a number from 0 to 1000\n", verb, v);
        sizes_ok = false;
    }
    s->log_keep = (unsigned)keep;
    rc_free(&rc_proj);
    rc_free(&rc_home);
    free(hint_dir);

    rc = valid_namespace(s->namespace_) && sizes_ok ? 0 : -1;
    if (rc < 0)
        fprintf(stderr, "orchd %s: namespace '%s': use 1-32 of a-z, 0-9, '-' and '_'\n", verb,
                s->namespace_);
    /* bare runs RUN services only; the runtime setting is for FROM ones. */
    if (strcmp(s->runtime, "containerd") != 0 && strcmp(s->runtime, "vm") != 0) {
        fprintf(stderr,
                "orchd %s: runtime '%s' cannot run FROM services: use containerd or vm "
                "(RUN services always run on the host)\n",
                verb, s->runtime);
        rc = -1;
    }
    if (!valid_port_offset(s->port_offset)) {
        fprintf(stderr, "orchd %s: port offset '%s': expected a whole number from 0 to 65535\n",
                verb, s->port_offset);
        rc = -1;
    }
out:
    free(overlays);
    return rc;
}

void orch_settings_free(orch_settings *s)
{
    free(s->orchfile);
    for (size_t i = 0; i < s->n_overlays; i++)
        free(s->overlays[i]);
    free(s->overlays);
    free(s->state_dir);
    free(s->data_dir);
    free(s->project_dir);
    free(s->namespace_);
    free(s->runtime);
    free(s->containerd_socket);
    free(s->vm_kernel);
    free(s->port_offset);
    for (size_t i = 0; i < s->n_args; i++) {
        free(s->args[i].name);
        free(s->args[i].value);
    }
    free(s->args);
    for (size_t i = 0; i < s->n_names; i++)
        free(s->names[i]);
    free(s->names);
    free(s->pull);
    free(s->since);
    for (size_t i = 0; i < s->n_rerun; i++)
        free(s->rerun[i]);
    free(s->rerun);
    memset(s, 0, sizeof *s);
}

size_t orch_settings_files(const orch_settings *s, const char ***files)
{
    *files = xcalloc(s->n_overlays + 2, sizeof **files);
    (*files)[0] = s->orchfile;
    for (size_t i = 0; i < s->n_overlays; i++)
        (*files)[i + 1] = s->overlays[i];
    return s->n_overlays + 1;
}
