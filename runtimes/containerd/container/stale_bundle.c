/* A shim bundle containerd forgot: see stale_bundle.h.
 *
 * How containerd 1.6 leaves one (runtime/v2/manager.go, bundle.go): Tasks
 * .Create makes the bundle (address, config.json, the log fifo, an empty
 * rootfs/, work -> <root>/io.containerd.runtime.v2.task/<ns>/<id>), runs
 * `shim start` and writes shim-binary-path once that succeeded. When the
 * caller's Create is cancelled now (the daemon died), the shim's Delete can
 * fail with an error that makes TaskManager.Create skip bundle.Delete(), and
 * a busy shim ignores Shutdown: containerd drops the task, the shim and the
 * bundle stay. The shim never got to create the container then: there is no
 * `runtime` file (written by the shim's Create, before any mount or runc).
 *
 * What is removed, and only when all of it holds:
 *  - the bundle is <state>/io.containerd.runtime.v2.task/<ns>/<id>, each
 *    component below <state> a real directory (O_NOFOLLOW) owned by root;
 *  - it has shim-binary-path (the shim start finished: nothing is still
 *    setting it up) and no `runtime` (no container was created in it);
 *  - the processes killed (SIGKILL through a pidfd, never by name) are those
 *    whose cwd is the bundle's inode, that run as root, and whose command
 *    line is containerd-shim-runc-v2 with `-namespace <ns>` and `-id <id>`;
 *  - rootfs/ is unmounted (MNT_DETACH, the last component not followed) only
 *    when it is a mount point;
 *  - `work` is read as a link, never followed to open anything: its target
 *    is removed only when it is exactly <root>/io.containerd.runtime.v2.task
 *    /<ns>/<id> and a root-owned directory there;
 *  - trees go with orch_rmtree (fd-relative, no symlink followed, no mount
 *    crossed). */
#include "containerd/container/stale_bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common/rmtree.h"
#include "common/xalloc.h"

#define TASK_PLUGIN_DIR "io.containerd.runtime.v2.task"
#define SHIM_NAME "containerd-shim-runc-v2"
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define MAX_SHIMS 8
#define KILL_WAIT_MS 5000
#define MAX_CMDLINE 16384

static void note(char **msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(char **msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    if (!*msg) {
        *msg = s;
        return;
    }
    char *both = xasprintf("%s; %s", *msg, s);
    free(s);
    free(*msg);
    *msg = both;
}

/* One path component, as containerd's identifiers are: no '/', not "." or
 * "..", not empty. */
static bool one_component(const char *s)
{
    return s && *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Opens name under dirfd as a directory owned by root, no link followed.
 * -1 with errno: ENOENT (absent), ELOOP/ENOTDIR (a link or not a
 * directory), EPERM (not root's), or what openat said. */
static int open_root_dir(int dirfd, const char *name, struct stat *st)
{
    int fd = openat(dirfd, name, DIR_FLAGS);
    if (fd < 0)
        return -1;
    int e = 0;
    if (fstat(fd, st) != 0)
        e = errno;
    else if (!S_ISDIR(st->st_mode))
        e = ENOTDIR;
    else if (st->st_uid != 0)
        e = EPERM;
    if (e) {
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static bool exists_nofollow(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ---------------------------------------------------------------- the shim */

static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    return (ssize_t)n;
}

static bool cwd_is(pid_t pid, const struct stat *bundle)
{
    char p[64];
    struct stat st;
    snprintf(p, sizeof p, "/proc/%d/cwd", (int)pid);
    return stat(p, &st) == 0 && st.st_dev == bundle->st_dev && st.st_ino == bundle->st_ino;
}

/* Real and effective uid 0. */
static bool runs_as_root(pid_t pid)
{
    char p[64], buf[4096];
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    ssize_t n = read_small(p, buf, sizeof buf - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *u = strstr(buf, "\nUid:");
    unsigned long ruid, euid;
    return u && sscanf(u + 5, "%lu %lu", &ruid, &euid) == 2 && ruid == 0 && euid == 0;
}

/* argv[0]'s last component is containerd-shim-runc-v2, and the arguments
 * hold "-namespace <ns>" and "-id <id>" (as containerd passes them). */
static bool cmdline_is_shim(pid_t pid, const char *ns, const char *id)
{
    char p[64];
    char *buf = xmalloc(MAX_CMDLINE + 1);
    snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
    ssize_t n = read_small(p, buf, MAX_CMDLINE);
    bool ok = false, has_ns = false, has_id = false;
    if (n <= 0 || n >= MAX_CMDLINE)
        goto out;
    buf[n] = '\0';
    const char *argv0 = buf;
    const char *base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    if (strcmp(base, SHIM_NAME) != 0)
        goto out;
    const char *prev = NULL;
    for (const char *a = argv0 + strlen(argv0) + 1; a < buf + n; a += strlen(a) + 1) {
        if (prev && strcmp(prev, "-namespace") == 0 && strcmp(a, ns) == 0)
            has_ns = true;
        if (prev && strcmp(prev, "-id") == 0 && strcmp(a, id) == 0)
            has_id = true;
        prev = a;
    }
    ok = has_ns && has_id;
out:
    free(buf);
    return ok;
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Kills the shims of the bundle; returns how many were killed and had died
 * within KILL_WAIT_MS, or -1 (with *msg) when one could not be killed or
 * did not die. */
static int kill_shims(const struct stat *bundle, const char *ns, const char *id, char **msg)
{
    DIR *d = opendir("/proc");
    if (!d) {
        note(msg, "cannot list /proc: %s", strerror(errno));
        return -1;
    }
    int pidfds[MAX_SHIMS];
    pid_t pids[MAX_SHIMS];
    int n = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (*end || v <= 1 || (pid_t)v == getpid())
            continue;
        pid_t pid = (pid_t)v;
        if (!cwd_is(pid, bundle)) /* the cheap filter first */
            continue;
        /* Hold the process first, then check it: the checks below are of
         * this very process if it is still alive after them. */
        int pfd = pidfd_open(pid, 0);
        if (pfd < 0)
            continue; /* gone */
        if (!cwd_is(pid, bundle) || !runs_as_root(pid) || !cmdline_is_shim(pid, ns, id)) {
            if (pidfd_send_signal(pfd, 0, NULL, 0) == 0)
                note(msg, "pid %d works in the bundle but is not its shim: left alone", (int)pid);
            close(pfd);
            continue;
        }
        if (pidfd_send_signal(pfd, 0, NULL, 0) != 0) { /* died meanwhile */
            close(pfd);
            continue;
        }
        if (n == MAX_SHIMS) {
            close(pfd);
            note(msg, "more than %d shim processes in the bundle", MAX_SHIMS);
            rc = -1;
            break;
        }
        if (pidfd_send_signal(pfd, SIGKILL, NULL, 0) != 0 && errno != ESRCH) {
            note(msg, "cannot kill shim pid %d: %s", (int)pid, strerror(errno));
            close(pfd);
            rc = -1;
            continue;
        }
        pidfds[n] = pfd;
        pids[n++] = pid;
    }
    closedir(d);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        struct pollfd p = {.fd = pidfds[i], .events = POLLIN};
        int r;
        do {
            long left = KILL_WAIT_MS - elapsed_ms(&t0);
            r = poll(&p, 1, left > 0 ? (int)left : 0);
        } while (r < 0 && errno == EINTR);
        if (r <= 0) {
            note(msg, "shim pid %d did not die within %d ms of SIGKILL", (int)pids[i],
                 KILL_WAIT_MS);
            rc = -1;
        } else {
            note(msg, "killed its shim (pid %d)", (int)pids[i]);
        }
        close(pidfds[i]);
    }
    return rc < 0 ? -1 : n;
}

/* ---------------------------------------------------------------- rootfs, work */

static bool is_mount_point(int bfd, const char *name, const struct stat *bundle)
{
    struct statx sx;
    if (statx(bfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) != 0)
        return false;
    if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
        return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
    return makedev(sx.stx_dev_major, sx.stx_dev_minor) != bundle->st_dev; /* before 5.8 */
}

static int unmount_rootfs(int bfd, const char *bundle_path, const struct stat *bundle,
                          char **msg)
{
    char *rootfs = xasprintf("%s/rootfs", bundle_path);
    int rc = 0;
    /* mounts can be stacked: one detach per layer, a few at most */
    for (int i = 0; i < 8 && is_mount_point(bfd, "rootfs", bundle); i++) {
        if (umount2(rootfs, MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
            note(msg, "cannot unmount %s: %s", rootfs, strerror(errno));
            rc = -1;
            break;
        }
        if (i == 0)
            note(msg, "unmounted %s", rootfs);
    }
    free(rootfs);
    return rc;
}

/* The work directory, if `work` links exactly where containerd puts it:
 * malloc'ed, or NULL (with a note when the link points elsewhere). */
static char *work_target(int bfd, const char *root_dir, const char *ns, const char *id,
                         char **msg)
{
    char buf[4096];
    ssize_t n = readlinkat(bfd, "work", buf, sizeof buf - 1);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    char *want = xasprintf("%s/%s/%s/%s", root_dir, TASK_PLUGIN_DIR, ns, id);
    if (strcmp(buf, want) != 0) {
        note(msg, "its work link points to %s, not %s: that is left alone", buf, want);
        free(want);
        return NULL;
    }
    return want;
}

/* ---------------------------------------------------------------- the whole */

ctd_stale_result ctd_stale_bundle_clean(const char *state_dir, const char *root_dir, const char *ns,
                                        const char *id, char **msg)
{
    *msg = NULL;
    if (!one_component(ns) || !one_component(id)) {
        note(msg, "namespace '%s' or id '%s' is not a single path component", ns, id);
        return CTD_STALE_ERROR;
    }
    char *path = xasprintf("%s/%s/%s/%s", state_dir, TASK_PLUGIN_DIR, ns, id);
    ctd_stale_result res = CTD_STALE_ERROR;
    int sfd = -1, pfd = -1, nfd = -1, bfd = -1;
    struct stat st, bst;
    sfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* the operator's setting */
    if (sfd < 0) {
        if (errno == ENOENT) {
            res = CTD_STALE_NONE;
        } else {
            note(msg, "cannot open containerd's state directory %s: %s", state_dir,
                 strerror(errno));
        }
        goto out;
    }
    const char *steps[] = {TASK_PLUGIN_DIR, ns, id};
    int *fds[] = {&pfd, &nfd, &bfd};
    int at = sfd;
    for (int i = 0; i < 3; i++) {
        *fds[i] = open_root_dir(at, steps[i], i == 2 ? &bst : &st);
        if (*fds[i] < 0) {
            if (errno == ENOENT)
                res = CTD_STALE_NONE;
            else
                note(msg, "%s (at %s): %s; left alone", path, steps[i],
                     errno == EPERM               ? "not owned by root"
                     : errno == ELOOP || errno == ENOTDIR ? "not a directory (or a link)"
                                                  : strerror(errno));
            goto out;
        }
        at = *fds[i];
    }
    /* found: is it abandoned? */
    if (exists_nofollow(bfd, "runtime")) {
        note(msg,
             "%s has a runtime file: its shim created the container, so it is not one "
             "orchd removes (restarting containerd clears it)",
             path);
        res = CTD_STALE_BUSY;
        goto out;
    }
    if (!exists_nofollow(bfd, "shim-binary-path")) {
        note(msg, "%s is still being set up (no shim-binary-path yet)", path);
        res = CTD_STALE_BUSY;
        goto out;
    }
    note(msg, "%s: a bundle containerd forgot (no task, no runtime file)", path);
    if (kill_shims(&bst, ns, id, msg) < 0 || unmount_rootfs(bfd, path, &bst, msg) != 0)
        goto out;
    char *work = work_target(bfd, root_dir, ns, id, msg);
    close(bfd);
    bfd = -1;
    char *err = NULL;
    if (orch_rmtree(path, &err) != 0) {
        note(msg, "%s", err);
        free(err);
        free(work);
        goto out;
    }
    note(msg, "removed it");
    if (work) {
        struct stat wst;
        if (lstat(work, &wst) == 0 && S_ISDIR(wst.st_mode) && wst.st_uid == 0) {
            if (orch_rmtree(work, &err) != 0) {
                note(msg, "%s", err); /* not in the way of a new bundle: NewBundle replaces it */
                free(err);
            } else {
                note(msg, "removed its work directory %s", work);
            }
        } else if (lstat(work, &wst) == 0) {
            note(msg, "its work target %s is not a root-owned directory: left alone", work);
        }
        free(work);
    }
    res = CTD_STALE_CLEANED;
out:
    if (bfd >= 0)
        close(bfd);
    if (nfd >= 0)
        close(nfd);
    if (pfd >= 0)
        close(pfd);
    if (sfd >= 0)
        close(sfd);
    free(path);
    return res;
}

/* ---------------------------------------------------------------- off the loop */

typedef struct stale_job {
    uv_work_t work;
    ctd_rt *rt;
    char *state_dir, *root_dir, *ns, *id;
    ctd_stale_done done;
    void *arg;
    ctd_stale_result res;
    char *msg;
} stale_job;

static void job_run(uv_work_t *w)
{
    stale_job *j = w->data;
    j->res = ctd_stale_bundle_clean(j->state_dir, j->root_dir, j->ns, j->id, &j->msg);
}

static void job_done(uv_work_t *w, int status)
{
    stale_job *j = w->data;
    if (status != 0) { /* cancelled before it ran */
        j->res = CTD_STALE_ERROR;
        free(j->msg);
        j->msg = xstrdup("the check for a stale shim bundle was cancelled");
    }
    ctd_rt *rt = j->rt;
    rt->stale_jobs--;
    j->done(j->arg, j->res, j->msg);
    free(j->state_dir);
    free(j->root_dir);
    free(j->ns);
    free(j->id);
    free(j->msg);
    free(j);
    ctd_rt_work_done(rt);
}

void ctd_stale_bundle_start(ctd_rt *rt, const char *id, ctd_stale_done done, void *arg)
{
    stale_job *j = xcalloc(1, sizeof *j);
    j->work.data = j;
    j->rt = rt;
    j->state_dir = xstrdup(rt->containerd_state);
    j->root_dir = xstrdup(rt->containerd_root);
    j->ns = xstrdup(rt->ns);
    j->id = xstrdup(id);
    j->done = done;
    j->arg = arg;
    rt->stale_jobs++;
    if (uv_queue_work(rt->loop, &j->work, job_run, job_done) != 0) {
        /* cannot happen with a valid loop; answer through the same path */
        j->res = CTD_STALE_ERROR;
        j->msg = xstrdup("could not queue the check for a stale shim bundle");
        job_done(&j->work, 0);
    }
}
