#include "common/rmtree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/xalloc.h"

/* Past these the walk gives up: failures that repeat (or a tree that keeps
 * moving under it) must not keep it busy forever. */
#define MAX_FAILURES 1000
#define MAX_RESTARTS 100

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* Where a directory is: enough to tell it from any other, and its mount. */
typedef struct ident {
    dev_t dev;
    ino_t ino;
    uint64_t mnt_id; /* 0 when the kernel cannot say (before 5.8) */
} ident;

typedef struct level {
    char *name; /* in the level above; NULL for the top */
    ident id;
} level;

typedef struct walk {
    const char *top;
    level *lv;
    size_t depth, cap;
    ident *skips; /* what failed: not tried again in this walk */
    size_t n_skips, cap_skips;
    char *first;
    size_t n_failed;
} walk;

static int identify(int fd, ident *id, bool *mount_root)
{
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_MNT_ID, &sx) != 0)
        return -1;
    id->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    id->ino = (ino_t)sx.stx_ino;
    id->mnt_id = (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : 0;
    *mount_root = (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
                  (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
    return 0;
}

/* Another filesystem, or a bind mount of the same one. */
static bool other_mount(const walk *w, const ident *id, bool mount_root)
{
    const ident *top = &w->lv[0].id;
    return mount_root || id->dev != top->dev || (id->mnt_id && top->mnt_id && id->mnt_id != top->mnt_id);
}

static bool skipped(const walk *w, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < w->n_skips; i++)
        if (w->skips[i].dev == dev && w->skips[i].ino == ino)
            return true;
    return false;
}

static void skip(walk *w, dev_t dev, ino_t ino)
{
    xgrow((void **)&w->skips, &w->cap_skips, w->n_skips + 1, sizeof *w->skips);
    w->skips[w->n_skips++] = (ident){.dev = dev, .ino = ino};
}

/* Records a failure on name in the current directory (NULL: the current
 * directory itself); the message of the first is kept. */
static void fail(walk *w, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(walk *w, const char *name, const char *fmt, ...)
{
    if (w->n_failed++ > 0)
        return;
    size_t len = strlen(w->top) + (name ? strlen(name) + 1 : 0) + 1;
    for (size_t i = 1; i < w->depth; i++)
        len += strlen(w->lv[i].name) + 1;
    char *path = xmalloc(len), *end = stpcpy(path, w->top);
    for (size_t i = 1; i < w->depth; i++)
        end = stpcpy(stpcpy(end, "/"), w->lv[i].name);
    if (name)
        stpcpy(stpcpy(end, "/"), name);
    char *why = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&why, fmt, ap) < 0)
        why = NULL;
    va_end(ap);
    w->first = xasprintf("cannot remove %s: %s", path, why ? why : "(out of memory)");
    free(why);
    free(path);
}

static void pop_all(walk *w)
{
    while (w->depth > 1)
        free(w->lv[--w->depth].name);
}

/* Scans the directory cur: removes what is not a directory, and returns the
 * name (malloc'ed) of the first directory to go into, or NULL when only
 * skipped entries are left. */
static char *scan(walk *w, int cur)
{
    int fd = dup(cur);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0)
            close(fd);
        fail(w, NULL, "cannot read the directory: %s", strerror(errno));
        return NULL;
    }
    rewinddir(dir); /* the dup shares cur's offset, left at the end by the last scan */
    char *descend = NULL;
    struct dirent *e;
    const dev_t dev = w->lv[w->depth - 1].id.dev;
    while (!descend && w->n_failed < MAX_FAILURES && (e = readdir(dir))) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT && !skipped(w, dev, e->d_ino)) {
                fail(w, name, "%s", strerror(errno));
                skip(w, dev, e->d_ino);
            }
            continue;
        }
        if (skipped(w, st.st_dev, st.st_ino))
            continue;
        if (S_ISDIR(st.st_mode)) {
            descend = xstrdup(name);
        } else if (unlinkat(cur, name, 0) != 0 && errno != ENOENT) {
            if (errno == EISDIR) { /* swapped for a directory since fstatat */
                descend = xstrdup(name);
            } else {
                fail(w, name, "%s", strerror(errno));
                skip(w, st.st_dev, st.st_ino);
            }
        }
    }
    closedir(dir);
    return descend;
}

/* Goes into cur/name: the new current directory, or -1 when there is nothing
 * to go into (a link or file swapped in is removed as such; a mount point is
 * reported). */
static int enter(walk *w, int cur, const char *name)
{
    int child = openat(cur, name, DIR_FLAGS);
    if (child < 0) {
        int e = errno;
        if (e == ELOOP || e == ENOTDIR) { /* now a symlink or a file: never followed */
            if (unlinkat(cur, name, 0) != 0 && errno != ENOENT && errno != EISDIR)
                fail(w, name, "%s", strerror(errno));
        } else if (e != ENOENT) {
            struct stat st;
            fail(w, name, "%s", strerror(e));
            if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                skip(w, st.st_dev, st.st_ino);
        }
        return -1;
    }
    ident id;
    bool mount_root = false;
    if (identify(child, &id, &mount_root) != 0) {
        fail(w, name, "%s", strerror(errno));
        close(child);
        return -1;
    }
    if (other_mount(w, &id, mount_root)) {
        fail(w, name, "a mount point (another filesystem or a bind mount), not crossed");
        skip(w, id.dev, id.ino);
        close(child);
        return -1;
    }
    xgrow((void **)&w->lv, &w->cap, w->depth + 1, sizeof *w->lv);
    w->lv[w->depth++] = (level){.name = xstrdup(name), .id = id};
    return child;
}

/* From cur back to its parent, checked to be the directory we came from. */
static int climb(walk *w, int cur)
{
    int parent = openat(cur, "..", DIR_FLAGS);
    ident id;
    bool mount_root;
    const ident *want = &w->lv[w->depth - 2].id;
    if (parent >= 0 && identify(parent, &id, &mount_root) == 0 && id.dev == want->dev &&
        id.ino == want->ino)
        return parent;
    if (parent >= 0)
        close(parent);
    return -1;
}

int orch_rmtree(const char *path, char **err)
{
    *err = NULL;
    walk w = {.top = path};
    int cur = open(path, DIR_FLAGS);
    if (cur < 0) {
        if (errno == ENOENT)
            return 0;
        *err = xasprintf("cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    bool mount_root;
    xgrow((void **)&w.lv, &w.cap, 1, sizeof *w.lv);
    w.depth = 1;
    w.lv[0] = (level){.name = NULL};
    if (identify(cur, &w.lv[0].id, &mount_root) != 0) {
        fail(&w, NULL, "%s", strerror(errno));
        close(cur);
        cur = -1;
    }
    size_t restarts = 0;
    while (cur >= 0 && w.n_failed < MAX_FAILURES) {
        char *name = scan(&w, cur);
        if (name) {
            int child = enter(&w, cur, name);
            free(name);
            if (child >= 0) {
                close(cur);
                cur = child;
            }
            continue;
        }
        if (w.depth == 1)
            break;
        int parent = climb(&w, cur);
        close(cur);
        if (parent < 0) {
            /* Moved away while we were inside: start again from the top,
             * which only ever reaches what is still inside. */
            pop_all(&w);
            if (++restarts > MAX_RESTARTS) {
                fail(&w, NULL, "the tree kept moving during the removal; gave up");
                cur = -1;
                break;
            }
            cur = open(path, DIR_FLAGS);
            ident id;
            if (cur >= 0 && (identify(cur, &id, &mount_root) != 0 || id.dev != w.lv[0].id.dev ||
                             id.ino != w.lv[0].id.ino)) {
                close(cur);
                cur = -1;
                fail(&w, NULL, "replaced during the removal");
            }
            continue;
        }
        cur = parent;
        level *l = &w.lv[--w.depth];
        if (unlinkat(cur, l->name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
            int e = errno;
            if ((e == ENOTDIR || (e == ENOTEMPTY && w.n_failed == 0)) &&
                ++restarts <= MAX_RESTARTS) {
                /* swapped for a link, or written into since: the next scan
                 * of this directory deals with what the name is now */
            } else {
                /* not empty because something below failed: already said */
                if (e != ENOTEMPTY || w.n_failed == 0)
                    fail(&w, l->name, "%s", strerror(e));
                skip(&w, l->id.dev, l->id.ino);
            }
        }
        free(l->name);
    }
    if (cur >= 0)
        close(cur);
    pop_all(&w);
    if (w.n_failed == 0 && rmdir(path) != 0 && errno != ENOENT)
        fail(&w, NULL, "%s", strerror(errno));
    free(w.lv);
    free(w.skips);
    if (w.n_failed == 0)
        return 0;
    if (w.n_failed >= MAX_FAILURES)
        *err = xasprintf("%s (and %zu more failures; gave up)", w.first, w.n_failed - 1);
    else if (w.n_failed > 1)
        *err = xasprintf("%s (and %zu more)", w.first, w.n_failed - 1);
    else
        *err = xstrdup(w.first);
    free(w.first);
    return -1;
}
