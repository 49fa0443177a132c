/* Resolving a service's process definition before fork. The environment is
 * clean and predictable, never the daemon's own (docs/RUNTIME-BARE.md):
 *   PATH, HOME, USER, LOGNAME, SHELL  (PATH default; the others from USER)
 *   ENV_FILE files in order, then ENV (later wins)
 *   ORCH_SERVICE=<name> */
#include "bare/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/envfile.h"
#include "common/fileutil.h"
#include "common/fsid.h"
#include "common/safeopen.h"
#include "common/xalloc.h"
#include "bare/simple_command.h"

static const char *envp_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (; *envp; envp++)
        if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

/* Execs command itself when the shell would only split it and exec the
 * result (bare/simple_command.h). The shell would also export PWD: when the
 * environment has none, it sets the physical working directory (getcwd),
 * which is realpath(workdir) here. Whenever the outcome could differ (no
 * WORKDIR known, PWD given, a PATH entry with dash's '%'), the shell runs. */
static void exec_directly_if_simple(const char *command, orch_bare_launch *l)
{
    const char *path = envp_get(l->envp, "PATH");
    if (!l->workdir || !path || strchr(path, '%') || envp_get(l->envp, "PWD"))
        return;
    char *storage;
    char **words = orch_simple_command_split(command, &storage);
    if (!words)
        return;
    char *real = realpath(l->workdir, NULL);
    if (!real) { /* chdir fails too: let the shell path report it, unchanged */
        free(words);
        free(storage);
        return;
    }
    size_t n = 0;
    while (l->envp[n])
        n++;
    l->envp = xrealloc(l->envp, (n + 2) * sizeof *l->envp);
    l->envp[n] = xasprintf("PWD=%s", real);
    l->envp[n + 1] = NULL;
    free(real);
    l->words = words;
    l->words_storage = storage;
}

/* path itself when absolute, else joined to the project directory. */
static char *project_path(const orch_env_ctx *ctx, const char *path)
{
    if (path[0] == '/' || !ctx->project_dir)
        return xstrdup(path);
    return xasprintf("%s/%s", ctx->project_dir, path);
}

/* Whether files the service names (ENV_FILE, STDOUT, STDERR) are opened
 * with its identity rather than orchd's: a root daemon running the service
 * as someone else must not read or write, on its behalf, what that user
 * could not open itself (docs/RUNTIME-BARE.md, "Files a service names"). */
static bool opens_as_user(const orch_service *svc, const orch_bare_user *u)
{
    return svc->user && geteuid() == 0 && u->uid != 0;
}

static int enter_user(const orch_service *svc, const orch_bare_user *u, orch_fsid_saved *saved,
                      orch_error **err)
{
    memset(saved, 0, sizeof *saved);
    if (!opens_as_user(svc, u))
        return 0;
    if (orch_fsid_enter(u->uid, u->gid, u->groups, u->n_groups, saved) == 0)
        return 0;
    orch_error_set(err, orch_error_errno(errno, "service %s: cannot take the identity of USER "
                                                "'%s' to open its files",
                                         svc->name, svc->user));
    return -1;
}

static int build_env(const orch_service *svc, const orch_env_ctx *ctx,
                     const orch_bare_user *u, char ***envp, orch_error **err)
{
    orch_kvlist env = {0};
    orch_kvlist_set(&env, "PATH", ORCH_BARE_DEFAULT_PATH);
    orch_kvlist_set(&env, "HOME", u->home);
    if (u->name) {
        orch_kvlist_set(&env, "USER", u->name);
        orch_kvlist_set(&env, "LOGNAME", u->name);
    }
    if (u->shell)
        orch_kvlist_set(&env, "SHELL", u->shell);
    for (size_t i = 0; i < svc->env_files.n; i++) {
        char *path = project_path(ctx, svc->env_files.v[i].s);
        char *why = NULL;
        orch_fsid_saved saved;
        int r = enter_user(svc, u, &saved, err);
        if (r == 0) {
            r = orch_envfile_read(path, &env, &why);
            orch_fsid_leave(&saved);
        }
        free(path);
        if (r < 0) {
            if (why)
                orch_error_set(err, orch_error_new(ORCH_E_INVALID, "service %s: ENV_FILE %s%s%s%s",
                                                   svc->name, why,
                                                   opens_as_user(svc, u) ? " (read as USER " : "",
                                                   opens_as_user(svc, u) ? svc->user : "",
                                                   opens_as_user(svc, u) ? ")" : ""));
            free(why);
            orch_kvlist_free(&env);
            return -1;
        }
    }
    for (size_t i = 0; i < svc->n_env; i++)
        orch_kvlist_set(&env, svc->env[i].key, svc->env[i].value);
    orch_kvlist_set(&env, "ORCH_SERVICE", svc->name);
    *envp = orch_kvlist_envp(&env);
    orch_kvlist_free(&env);
    return 0;
}

/* The service's own log under <state>/logs: orchd's directory (0750, no one
 * else writes there), so orchd opens it, refusing a symlink all the same.
 * A STDOUT/STDERR the Orchfile names is opened with the service's identity
 * (it creates the file and its directories, owned by it); without USER the
 * service is as privileged as orchd. /dev/console and other character
 * devices are fine; FIFOs, sockets and directories are not. */
static int open_log(const orch_service *svc, const orch_bare_user *u, const char *path,
                    bool own_log, char **why)
{
    *why = NULL;
    orch_fsid_saved saved = {0};
    if (!own_log && opens_as_user(svc, u) &&
        orch_fsid_enter(u->uid, u->gid, u->groups, u->n_groups, &saved) < 0) {
        int e = errno;
        *why = xasprintf("cannot take the identity of its USER: %s", strerror(e));
        return -e;
    }
    int flags = O_WRONLY | O_APPEND | O_CREAT;
    unsigned how = own_log ? ORCH_OPEN_NOFOLLOW : ORCH_OPEN_CHARDEV;
    int fd = orch_open_file(path, flags, 0640, how, why);
    if (fd < 0 && errno == ENOENT) {
        /* The directory is made only when it is missing: a mkdir of every
         * component on each start was a third of a restart's syscalls. */
        free(*why);
        *why = NULL;
        int r = orch_mkdir_parents(path, 0750);
        if (r < 0) {
            *why = xasprintf("cannot create its directory: %s", strerror(-r));
            errno = -r;
        } else {
            fd = orch_open_file(path, flags, 0640, how, why);
        }
    }
    if (fd < 0)
        fd = -errno; /* orch_open_file keeps open's errno */
    orch_fsid_leave(&saved);
    return fd;
}

/* STDOUT and STDERR, each defaulting to the service's log file; one file
 * named twice is opened once. */
static int open_logs(const orch_service *svc, const orch_env_ctx *ctx, bool strict,
                     const char *command, orch_bare_launch *l, orch_error **err)
{
    const orch_bare_user *u = &l->user;
    char *fallback = orch_log_path_default(ctx->state_dir, ctx->namespace_, svc->name);
    char *out = svc->stdout_path ? project_path(ctx, svc->stdout_path) : xstrdup(fallback);
    char *errp = svc->stderr_path ? project_path(ctx, svc->stderr_path) : xstrdup(fallback);
    const char *what[2] = {svc->stdout_path ? "STDOUT" : "log file",
                           svc->stderr_path ? "STDERR" : "log file"};
    const char *paths[2] = {out, errp};
    int *fds[2] = {&l->out_fd, &l->err_fd};
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        if (i == 1 && strcmp(out, errp) == 0) {
            l->err_fd = l->out_fd;
            break;
        }
        char *why = NULL;
        bool own = (i == 0 ? svc->stdout_path : svc->stderr_path) == NULL;
        int fd = open_log(svc, u, paths[i], own, &why);
        if (fd < 0) {
            int e = -fd;
            char *msg = xasprintf("service %s: cannot open %s '%s': %s%s%s%s", svc->name,
                                  what[i], paths[i], why, !own && opens_as_user(svc, u) ?
                                  " (opened as USER " : "",
                                  !own && opens_as_user(svc, u) ? svc->user : "",
                                  !own && opens_as_user(svc, u) ? ")" : "");
            free(why);
            if (strict) {
                /* the errno's code: EMFILE and the like are transient */
                orch_error *x = orch_error_new(orch_errc_from_errno(e), "%s", msg);
                x->sys_errno = e;
                orch_error_set(err, x);
                free(msg);
                rc = -1;
                break;
            }
            /* a helper command still runs, its output dropped; say so */
            fprintf(stderr, "orchd: %s; %s output goes to /dev/null\n", msg, command);
            free(msg);
        }
        *fds[i] = fd < 0 ? -1 : fd;
    }
    free(fallback);
    free(out);
    free(errp);
    return rc;
}

int orch_bare_launch_prepare(const orch_service *svc, const orch_env_ctx *ctx,
                             const char *command, bool strict_logs, orch_bare_launch *l,
                             orch_error **err)
{
    if (orch_bare_launch_env(svc, ctx, l, err) < 0)
        return -1;
    if (open_logs(svc, ctx, strict_logs, strict_logs ? "its" : "the command's", l, err) < 0) {
        orch_bare_launch_free(l);
        return -1;
    }
    if (svc->workdir)
        l->workdir = project_path(ctx, svc->workdir);
    else if (ctx->project_dir)
        l->workdir = xstrdup(ctx->project_dir);

    l->argv[0] = "/bin/sh";
    l->argv[1] = "-c";
    l->argv[2] = command;
    l->argv[3] = NULL;
    exec_directly_if_simple(command, l);

    orch_spawn_opts *o = &l->opts;
    o->argv = l->argv;
    if (l->words) {
        o->argv = (const char *const *)l->words;
        o->fallback_argv = l->argv;
    }
    o->envp = (const char *const *)l->envp;
    o->workdir = l->workdir;
    /* Switching ids needs privilege; when USER is already who we are there
     * is nothing to switch (and setgroups would fail unprivileged). */
    o->set_ids = svc->user && (geteuid() == 0 || l->user.uid != geteuid() ||
                               l->user.gid != getegid());
    o->uid = l->user.uid;
    o->gid = l->user.gid;
    o->groups = l->user.groups;
    o->n_groups = l->user.n_groups;
    o->limit_nofile = svc->set & ORCH_BIT(ORCH_F_LIMIT_NOFILE) ? svc->limit_nofile : 0;
    o->limit_nproc = svc->set & ORCH_BIT(ORCH_F_LIMIT_NPROC) ? svc->limit_nproc : 0;
    o->stdin_fd = -1;
    o->stdout_fd = l->out_fd;
    o->stderr_fd = l->err_fd;
    o->new_session = true;
    return 0;
}

int orch_bare_launch_env(const orch_service *svc, const orch_env_ctx *ctx, orch_bare_launch *l,
                         orch_error **err)
{
    memset(l, 0, sizeof *l);
    l->out_fd = l->err_fd = -1;
    *err = NULL;
    char *why = NULL;
    if (orch_bare_user_resolve(svc->user, &l->user, &why) < 0) {
        orch_error_set(err, orch_error_new(ORCH_E_INVALID, "service %s: %s", svc->name, why));
        free(why);
        return -1;
    }
    if (build_env(svc, ctx, &l->user, &l->envp, err) < 0) {
        orch_bare_launch_free(l);
        return -1;
    }
    return 0;
}

void orch_bare_launch_free(orch_bare_launch *l)
{
    if (l->err_fd >= 0 && l->err_fd != l->out_fd)
        close(l->err_fd);
    if (l->out_fd >= 0)
        close(l->out_fd);
    orch_strv_free(l->envp);
    free(l->words);
    free(l->words_storage);
    free(l->workdir);
    orch_bare_user_free(&l->user);
    memset(l, 0, sizeof *l);
    l->out_fd = l->err_fd = -1;
}

bool orch_bare_launch_writes_own_log(const orch_bare_launch *l, const orch_service *svc)
{
    bool own_out = !svc->stdout_path, own_err = !svc->stderr_path;
    bool shared = l->out_fd == l->err_fd;
    /* shared with a named file: that file is the service's, not the own log */
    return (own_out || own_err) && !(shared && !(own_out && own_err));
}

void orch_bare_launch_use_log_pipe(orch_bare_launch *l, const orch_service *svc, int fd)
{
    bool own_out = !svc->stdout_path, own_err = !svc->stderr_path;
    bool shared = l->out_fd == l->err_fd;
    if (own_out && l->out_fd >= 0)
        close(l->out_fd);
    if (own_err && l->err_fd >= 0 && !shared)
        close(l->err_fd);
    if (own_out)
        l->out_fd = fd;
    if (own_err)
        l->err_fd = fd;
    l->opts.stdout_fd = l->out_fd;
    l->opts.stderr_fd = l->err_fd;
}

/* Which LIMIT_* asked for more than the hard limit, for an EPERM. */
static char *rlimit_error(const orch_bare_spawn_what *w, int err)
{
    static const struct {
        int resource;
        const char *name;
    } limits[] = {{RLIMIT_NOFILE, "LIMIT_NOFILE"}, {RLIMIT_NPROC, "LIMIT_NPROC"}};
    uint64_t values[] = {w->limit_nofile, w->limit_nproc};
    for (size_t i = 0; i < 2; i++) {
        struct rlimit rl;
        if (values[i] && getrlimit(limits[i].resource, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
            values[i] > rl.rlim_max)
            return xasprintf("service %s: %s %llu is above the hard limit %llu, which orchd "
                             "cannot raise here (%s; raising needs CAP_SYS_RESOURCE)",
                             w->name, limits[i].name, (unsigned long long)values[i],
                             (unsigned long long)rl.rlim_max, strerror(err));
    }
    return xasprintf("service %s: cannot set LIMIT_NOFILE/LIMIT_NPROC: %s", w->name,
                     strerror(err));
}

static char *spawn_error(const orch_bare_spawn_what *w, const char *stage, int err)
{
    if (strcmp(stage, "chdir") == 0)
        return xasprintf("service %s: WORKDIR '%s': %s", w->name, w->workdir, strerror(err));
    if (strcmp(stage, "rlimit") == 0)
        return rlimit_error(w, err);
    if (strcmp(stage, "setgroups") == 0 || strcmp(stage, "setgid") == 0 ||
        strcmp(stage, "setuid") == 0)
        return xasprintf("service %s: cannot switch to USER '%s' (%s): %s", w->name,
                         w->user, stage, strerror(err));
    if (strcmp(stage, "exec") == 0)
        return xasprintf("service %s: cannot execute %s: %s", w->name, w->argv0,
                         strerror(err));
    if (strcmp(stage, "cgroup") == 0)
        return xasprintf("service %s: cannot join its cgroup: %s", w->name, strerror(err));
    return xasprintf("service %s: cannot start (%s): %s", w->name, stage, strerror(err));
}

orch_error *orch_bare_spawn_what_error(const orch_bare_spawn_what *w, const char *stage, int err)
{
    char *msg = spawn_error(w, stage, err);
    orch_error *e = orch_error_new(orch_errc_from_errno(err), "%s", msg);
    e->sys_errno = err;
    free(msg);
    return e;
}

orch_error *orch_bare_spawn_error(const orch_service *svc, const orch_bare_launch *l,
                                  const char *stage, int err)
{
    orch_bare_spawn_what w = {
        .name = svc->name, .user = svc->user, .workdir = l->workdir, .argv0 = l->argv[0],
        .limit_nofile = l->opts.limit_nofile, .limit_nproc = l->opts.limit_nproc,
    };
    return orch_bare_spawn_what_error(&w, stage, err);
}

void orch_bare_spawn_what_save(orch_bare_spawn_what *w, const orch_service *svc,
                               const orch_bare_launch *l)
{
    *w = (orch_bare_spawn_what){
        .name = xstrdup(svc->name),
        .user = svc->user ? xstrdup(svc->user) : NULL,
        .workdir = l->workdir ? xstrdup(l->workdir) : NULL,
        .argv0 = l->argv[0], /* a literal: "/bin/sh" */
        .limit_nofile = l->opts.limit_nofile,
        .limit_nproc = l->opts.limit_nproc,
    };
}

void orch_bare_spawn_what_free(orch_bare_spawn_what *w)
{
    free((char *)w->name);
    free((char *)w->user);
    free((char *)w->workdir);
    memset(w, 0, sizeof *w);
}
