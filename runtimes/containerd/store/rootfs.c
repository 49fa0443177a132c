/* Reading a file (/etc/passwd, /etc/group) of a container's root filesystem
 * from the host, without mounting it: the mounts of a prepared snapshot name
 * host directories (native: one bind source; overlayfs: upperdir and the
 * lowerdir stack), and the file is read from the topmost one that has it,
 * as overlayfs would show it (a whiteout or an opaque directory hides what is
 * below). Paths resolve with the layer directory as their root (openat2
 * RESOLVE_IN_ROOT), so a symbolic link in an image never reaches the host's
 * files. Nothing is mounted, so nothing can be left mounted. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "containerd/store/store.h"
#include "common/xalloc.h"

/* openat with dirfd as "/" for the path; -1 with errno. Falls back to a
 * no-symlinks walk where the kernel lacks openat2 (before 5.6). */
static int open_in_root(int rootfd, const char *path, int flags)
{
#ifdef SYS_openat2
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    long r = syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    if (r >= 0 || errno != ENOSYS)
        return (int)r;
#endif
    char *copy = xstrdup(path), *save = NULL;
    int dir = dup(rootfd), fd = -1;
    char *part = strtok_r(copy, "/", &save);
    while (part && dir >= 0) {
        char *next = strtok_r(NULL, "/", &save);
        int f = next ? O_DIRECTORY | O_RDONLY : flags;
        fd = openat(dir, part, f | O_NOFOLLOW | O_CLOEXEC);
        close(dir);
        dir = next ? fd : -1;
        part = next;
    }
    if (dir >= 0 && part == NULL && fd < 0)
        fd = dir;
    free(copy);
    return fd;
}

static bool is_whiteout(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && major(st->st_rdev) == 0 && minor(st->st_rdev) == 0;
}

static bool is_opaque(int dirfd)
{
    char v[4];
    const char *names[] = {"trusted.overlay.opaque", "user.overlay.opaque"};
    for (size_t i = 0; i < 2; i++) {
        ssize_t n = fgetxattr(dirfd, names[i], v, sizeof v);
        if (n == 1 && v[0] == 'y')
            return true;
    }
    return false;
}

typedef enum { FOUND, ABSENT, HIDDEN, FAILED } lookup;

/* One layer: FOUND (*out read), ABSENT (look below), HIDDEN (a whiteout or
 * an opaque directory: stop), FAILED (*err). */
static lookup read_in_layer(const char *layer, const char *dir, const char *base, size_t max,
                            char **out, char **err)
{
    int root = open(layer, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (root < 0) {
        *err = xasprintf("cannot open the image's layer directory %s: %s", layer, strerror(errno));
        return FAILED;
    }
    lookup r = ABSENT;
    int d = open_in_root(root, dir, O_DIRECTORY | O_RDONLY);
    if (d < 0) {
        struct stat st;
        /* the directory itself whited out in this layer? (a plain fstatat of
         * one component, no symlink resolution) */
        if (!strchr(dir, '/') && fstatat(root, dir, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            is_whiteout(&st))
            r = HIDDEN;
        close(root);
        return r;
    }
    struct stat st;
    if (fstatat(d, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        r = is_opaque(d) ? HIDDEN : ABSENT;
    } else if (is_whiteout(&st)) {
        r = HIDDEN;
    } else {
        /* Look before opening: an image may put a device node here, and
         * opening one can act on the host's device. O_PATH opens nothing; the
         * real open must then reach the same inode. O_NONBLOCK: a FIFO
         * swapped in between cannot hang the loop. */
        char *path = xasprintf("%s/%s", dir, base);
        struct stat pst, fst;
        int pfd = open_in_root(root, path, O_PATH);
        int fd = -1;
        if (pfd >= 0 && fstat(pfd, &pst) == 0 && S_ISREG(pst.st_mode))
            fd = open_in_root(root, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
        if (pfd >= 0)
            close(pfd);
        free(path);
        if (fd < 0 || fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode) || fst.st_ino != pst.st_ino ||
            fst.st_dev != pst.st_dev) {
            r = HIDDEN; /* there, but not a readable regular file: treat as missing */
        } else if ((size_t)fst.st_size > max) {
            *err = xasprintf("the image's /%s/%s is larger than %zu bytes", dir, base, max);
            r = FAILED;
        } else {
            size_t cap = (size_t)fst.st_size + 1, len = 0;
            char *buf = xmalloc(cap + 1);
            ssize_t n = 0;
            while (len < cap) { /* cap: one more than the size, to see growth */
                n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0)
                    break;
                len += (size_t)n;
            }
            if (n < 0) {
                *err = xasprintf("reading the image's /%s/%s: %s", dir, base, strerror(errno));
                free(buf);
                r = FAILED;
            } else if (len > max) {
                *err = xasprintf("the image's /%s/%s is larger than %zu bytes", dir, base, max);
                free(buf);
                r = FAILED;
            } else {
                buf[len] = '\0';
                *out = buf;
                r = FOUND;
            }
        }
        if (fd >= 0)
            close(fd);
    }
    close(d);
    close(root);
    return r;
}

static const char *opt_value(Containerd__Types__Mount *m, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < m->n_options; i++)
        if (strncmp(m->options[i], name, n) == 0 && m->options[i][n] == '=')
            return m->options[i] + n + 1;
    return NULL;
}

int ctd_rootfs_read(Containerd__Types__Mount *const *mounts, size_t n, const char *relpath,
                    size_t max, char **out, char **err)
{
    *out = NULL;
    *err = NULL;
    if (n != 1) {
        *err = xasprintf("cannot read the image's files: the snapshot has %zu mounts", n);
        return -1;
    }
    Containerd__Types__Mount *m = mounts[0];
    char **layers = NULL;
    size_t n_layers = 0;
    if (strcmp(m->type, "bind") == 0 || strcmp(m->type, "rbind") == 0) {
        layers = xcalloc(1, sizeof *layers);
        layers[n_layers++] = xstrdup(m->source);
    } else if (strcmp(m->type, "overlay") == 0) {
        const char *upper = opt_value(m, "upperdir"), *lower = opt_value(m, "lowerdir");
        size_t cap = 2;
        for (const char *p = lower ? lower : ""; *p; p++)
            cap += *p == ':';
        layers = xcalloc(cap, sizeof *layers);
        if (upper)
            layers[n_layers++] = xstrdup(upper);
        if (lower) {
            char *copy = xstrdup(lower), *save = NULL;
            for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
                layers[n_layers++] = xstrdup(t);
            free(copy);
        }
    } else {
        *err = xasprintf("cannot read the image's files from a '%s' mount", m->type);
        return -1;
    }
    const char *slash = strrchr(relpath, '/');
    char *dir = slash ? xstrndup(relpath, (size_t)(slash - relpath)) : xstrdup(".");
    const char *base = slash ? slash + 1 : relpath;
    int rc = 0;
    for (size_t i = 0; i < n_layers; i++) {
        lookup r = read_in_layer(layers[i], dir, base, max, out, err);
        if (r == FAILED)
            rc = -1;
        if (r != ABSENT)
            break;
    }
    for (size_t i = 0; i < n_layers; i++)
        free(layers[i]);
    free(layers);
    free(dir);
    return rc;
}
