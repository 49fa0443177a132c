/* Applying a hostile layer safely (layer.h). */
#include "vm/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"

#define MAX_DEPTH 256 /* directory levels below the root */
#define WH ".wh."
#define WH_OPQ ".wh..wh..opq"

int vm_remove_at(int dir_fd, const char *name)
{
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT ? 0 : -errno;
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        r = vm_remove_at(dirfd(d), de->d_name);
    }
    closedir(d);
    if (r == 0 && unlinkat(dir_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        r = -errno;
    return r;
}

/* Empties the directory fd (an opaque whiteout). */
static int empty_dir(int fd)
{
    int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dup_fd < 0)
        return -errno;
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return -errno;
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            r = vm_remove_at(fd, de->d_name);
    closedir(d);
    return r;
}

/* Splits a layer name into components: drops leading '/' and "./", empty
 * and "." components; refuses "..". comps point into buf. Returns the count,
 * 0 for the root itself, -1 for a name that leaves the root. */
static int split_name(const char *name, char *buf, size_t len, char **comps, int max)
{
    if (strlen(name) >= len)
        return -1;
    strcpy(buf, name);
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, ".") == 0)
            continue;
        if (strcmp(t, "..") == 0 || n == max)
            return -1;
        comps[n++] = t;
    }
    return n;
}

/* Opens the directory made of comps[0..n) below root, never following a
 * symlink; with create, missing directories are made (0755, root). Returns
 * an fd or -errno (-ENOTDIR/-ELOOP when a component is a symlink or file). */
static int open_dir(int root_fd, char **comps, int n, bool create)
{
    int fd = openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (int i = 0; i < n; i++) {
        int next = openat(fd, comps[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, comps[i], 0755) != 0 && errno != EEXIST) {
                int e = errno;
                close(fd);
                return -e;
            }
            next = openat(fd, comps[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        int e = errno;
        close(fd);
        if (next < 0)
            return -e;
        fd = next;
    }
    return fd;
}

static void set_meta(int parent, const char *base, struct archive_entry *e, bool is_link)
{
    /* O_PATH fds cannot fchown; fchownat with AT_SYMLINK_NOFOLLOW works
     * on any type, and is what keeps a symlink's own owner. */
    if (fchownat(parent, base, archive_entry_uid(e), archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) != 0) {
        /* an owner the filesystem cannot hold is not worth failing for */
    }
    if (!is_link)
        fchmodat(parent, base, archive_entry_mode(e) & 07777, 0);
    struct timespec ts[2] = {{.tv_sec = archive_entry_mtime(e), .tv_nsec = 0},
                             {.tv_sec = archive_entry_mtime(e), .tv_nsec = 0}};
    utimensat(parent, base, ts, AT_SYMLINK_NOFOLLOW);
}

/* fchmodat(..., 0) follows a symlink: only call it once we know base is no
 * symlink, which every caller below guarantees (it just created it). */

static int write_data(struct archive *a, int fd, uint64_t *budget, char **why)
{
    const void *buf;
    size_t size;
    la_int64_t off;
    for (;;) {
        int r = archive_read_data_block(a, &buf, &size, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            *why = xasprintf("reading its data: %s", archive_error_string(a));
            return -1;
        }
        if (size > *budget) {
            *why = xstrdup("the image is larger than the vm runtime allows "
                           "(ORCH_VM_ROOTFS_MAX)");
            return -1;
        }
        *budget -= size;
        const char *p = buf;
        size_t left = size;
        off_t at = (off_t)off;
        while (left) {
            ssize_t w = pwrite(fd, p, left, at);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                *why = xasprintf("writing: %s", strerror(errno));
                return -1;
            }
            p += w, left -= (size_t)w, at += w;
        }
    }
}

/* One entry of the second pass. Returns 0, or -1 with *why. */
static int apply_entry(int root_fd, struct archive *a, struct archive_entry *e, char **comps,
                       int n, uint64_t *budget, char **why)
{
    if (n == 0)
        return 0; /* the root itself: keep ours */
    const char *base = comps[n - 1];
    int parent = open_dir(root_fd, comps, n - 1, true);
    if (parent < 0) {
        *why = xasprintf("its directory cannot be made or goes through a symlink or file: %s",
                         strerror(-parent));
        return -1;
    }
    int rc = -1;
    mode_t type = archive_entry_filetype(e);
    const char *hard = archive_entry_hardlink(e);
    struct stat st;
    bool exists = fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
    /* A directory over a directory merges; anything else replaces. */
    if (exists && !(type == AE_IFDIR && !hard && S_ISDIR(st.st_mode))) {
        int r = vm_remove_at(parent, base);
        if (r < 0) {
            *why = xasprintf("cannot replace what a lower layer put there: %s", strerror(-r));
            goto out;
        }
        exists = false;
    }
    if (hard) {
        char buf[4096], *tc[MAX_DEPTH];
        int tn = split_name(hard, buf, sizeof buf, tc, MAX_DEPTH);
        if (tn <= 0) {
            *why = xasprintf("hard link target '%s' is outside the root", hard);
            goto out;
        }
        int tparent = open_dir(root_fd, tc, tn - 1, false);
        if (tparent < 0) {
            *why = xasprintf("hard link target '%s' cannot be reached without a symlink: %s",
                             hard, strerror(-tparent));
            goto out;
        }
        /* flags 0: a symlink target is linked itself, never followed */
        int r = linkat(tparent, tc[tn - 1], parent, base, 0);
        int le = errno;
        close(tparent);
        if (r != 0) {
            *why = xasprintf("hard link to '%s': %s", hard, strerror(le));
            goto out;
        }
        rc = 0;
        goto out;
    }
    switch (type) {
    case AE_IFDIR:
        if (!exists && mkdirat(parent, base, 0700) != 0) {
            *why = xasprintf("mkdir: %s", strerror(errno));
            goto out;
        }
        set_meta(parent, base, e, false);
        break;
    case AE_IFREG: {
        int fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            *why = xasprintf("create: %s", strerror(errno));
            goto out;
        }
        int r = write_data(a, fd, budget, why);
        close(fd);
        if (r < 0)
            goto out;
        set_meta(parent, base, e, false);
        break;
    }
    case AE_IFLNK:
        if (symlinkat(archive_entry_symlink(e) ? archive_entry_symlink(e) : "", parent, base) != 0) {
            *why = xasprintf("symlink: %s", strerror(errno));
            goto out;
        }
        set_meta(parent, base, e, true);
        break;
    case AE_IFIFO:
        if (mknodat(parent, base, S_IFIFO | 0600, 0) != 0) {
            *why = xasprintf("mkfifo: %s", strerror(errno));
            goto out;
        }
        set_meta(parent, base, e, false);
        break;
    default: /* devices and sockets: skipped (layer.h) */
        break;
    }
    rc = 0;
out:
    close(parent);
    return rc;
}

/* One whiteout of the first pass. */
static int apply_whiteout(int root_fd, char **comps, int n, char **why)
{
    const char *base = comps[n - 1];
    int dir = open_dir(root_fd, comps, n - 1, false);
    if (dir == -ENOENT)
        return 0; /* nothing below to hide */
    if (dir < 0) {
        *why = xasprintf("its directory goes through a symlink or file: %s", strerror(-dir));
        return -1;
    }
    int r;
    if (strcmp(base, WH_OPQ) == 0) {
        int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = fd < 0 ? -errno : empty_dir(fd);
        if (fd >= 0)
            close(fd);
    } else {
        const char *victim = base + strlen(WH);
        r = *victim && strcmp(victim, ".") && strcmp(victim, "..") ? vm_remove_at(dir, victim) : 0;
    }
    close(dir);
    if (r < 0) {
        *why = xasprintf("removing: %s", strerror(-r));
        return -1;
    }
    return 0;
}

static bool is_whiteout(const char *base)
{
    return strncmp(base, WH, strlen(WH)) == 0;
}

static int pass(int root_fd, const char *path, bool whiteouts, bool wh_pass, uint64_t *budget,
                char **err)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
        *err = xasprintf("%s: %s", path, archive_error_string(a));
        archive_read_free(a);
        return -1;
    }
    int rc = 0;
    struct archive_entry *e;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            *err = xasprintf("%s: %s", path, archive_error_string(a));
            rc = -1;
            break;
        }
        const char *name = archive_entry_pathname(e);
        char buf[4096], *comps[MAX_DEPTH];
        int n = split_name(name ? name : "", buf, sizeof buf, comps, MAX_DEPTH);
        if (n < 0) {
            *err = xasprintf("%s: entry '%s' is outside the root (a '..' component or too deep)",
                             path, name ? name : "");
            rc = -1;
            break;
        }
        bool wh = whiteouts && n > 0 && is_whiteout(comps[n - 1]);
        if (wh != wh_pass)
            continue;
        char *why = NULL;
        r = wh ? apply_whiteout(root_fd, comps, n, &why)
               : apply_entry(root_fd, a, e, comps, n, budget, &why);
        if (r < 0) {
            *err = xasprintf("%s: entry '%s': %s", path, name, why);
            free(why);
            rc = -1;
            break;
        }
    }
    archive_read_free(a);
    return rc;
}

int vm_layer_apply(int root_fd, const char *path, bool whiteouts, uint64_t *budget, char **err)
{
    *err = NULL;
    if (whiteouts && pass(root_fd, path, true, true, budget, err) < 0)
        return -1;
    return pass(root_fd, path, whiteouts, false, budget, err);
}
