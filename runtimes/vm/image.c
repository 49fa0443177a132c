/* Reading OCI layouts and archives, and the rootfs cache (image.h). */
#include "vm/image.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "common/fileutil.h"
#include "common/xalloc.h"
#include "vm/layer.h"

#define MAX_JSON (4u << 20)              /* index, manifest, config */
#define DEFAULT_ROOTFS_MAX (8ull << 30)  /* bytes of file data per image */
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

int vm_image_ref(const char *ref, const char *project_dir, int *is_archive, char **path,
                 char **err)
{
    const char *rest;
    if (strncmp(ref, "oci-archive:", 12) == 0)
        *is_archive = 1, rest = ref + 12;
    else if (strncmp(ref, "oci:", 4) == 0)
        *is_archive = 0, rest = ref + 4;
    else {
        *err = xasprintf("image %s: the vm runtime takes oci-archive: or oci: images", ref);
        return -1;
    }
    if (!*rest) {
        *err = xasprintf("image %s: no path after the colon", ref);
        return -1;
    }
    *path = rest[0] == '/' ? xstrdup(rest) : xasprintf("%s/%s", project_dir, rest);
    return 0;
}

/* "sha256:<64 hex>" -> the hex part, else NULL: a digest becomes a file
 * name, so nothing else may pass. */
static const char *digest_hex(const char *d)
{
    if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64)
        return NULL;
    for (const char *p = d + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return NULL;
    return d + 7;
}

/* Reads a small regular file below dir_fd without following symlinks. */
static int read_small(int dir_fd, const char *rel, char **out, size_t *len)
{
    int fd = openat(dir_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > MAX_JSON) {
        close(fd);
        return -EINVAL;
    }
    char *buf = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    if (len)
        *len = got;
    return 0;
}

/* index.json (or a nested index) -> the manifest descriptor's digest: the
 * linux/amd64 one when platforms are given, else the first. */
static const char *pick_manifest(yajl_val idx)
{
    const char *mpath[] = {"manifests", NULL};
    yajl_val ms = yajl_tree_get(idx, mpath, yajl_t_array);
    if (!ms || YAJL_GET_ARRAY(ms)->len == 0)
        return NULL;
    const char *dpath[] = {"digest", NULL}, *os[] = {"platform", "os", NULL},
               *arch[] = {"platform", "architecture", NULL};
    yajl_val first = NULL;
    for (size_t i = 0; i < YAJL_GET_ARRAY(ms)->len; i++) {
        yajl_val m = YAJL_GET_ARRAY(ms)->values[i];
        if (!first)
            first = m;
        const char *o = YAJL_GET_STRING(yajl_tree_get(m, os, yajl_t_string));
        const char *a = YAJL_GET_STRING(yajl_tree_get(m, arch, yajl_t_string));
        if (o && a && strcmp(o, "linux") == 0 && strcmp(a, "amd64") == 0)
            return YAJL_GET_STRING(yajl_tree_get(m, dpath, yajl_t_string));
    }
    return YAJL_GET_STRING(yajl_tree_get(first, dpath, yajl_t_string));
}

static char *blob_rel(const char *hex)
{
    return xasprintf("blobs/sha256/%s", hex);
}

/* Follows index.json to an image manifest; *manifest_hex and *manifest
 * (parsed) on success. */
static int find_manifest(int lay_fd, const char *what, char **manifest_hex, yajl_val *manifest,
                         char **err)
{
    char *text = NULL;
    int r = read_small(lay_fd, "index.json", &text, NULL);
    if (r < 0) {
        *err = xasprintf("%s: cannot read index.json: %s", what, strerror(-r));
        return -1;
    }
    char eb[256];
    yajl_val v = yajl_tree_parse(text, eb, sizeof eb);
    free(text);
    for (int depth = 0; depth < 3; depth++) {
        if (!v) {
            *err = xasprintf("%s: an index or manifest is not JSON: %s", what, eb);
            return -1;
        }
        const char *mtp[] = {"mediaType", NULL}, *lp[] = {"layers", NULL};
        const char *mt = YAJL_GET_STRING(yajl_tree_get(v, mtp, yajl_t_string));
        bool is_index = yajl_tree_get(v, lp, yajl_t_array) == NULL &&
                        (depth == 0 || (mt && (!strcmp(mt, MT_INDEX) || !strcmp(mt, MT_DOCKER_LIST))));
        if (!is_index && depth > 0) {
            *manifest = v;
            return 0;
        }
        const char *hex0 = digest_hex(pick_manifest(v));
        char *hex = hex0 ? xstrdup(hex0) : NULL;
        yajl_tree_free(v);
        v = NULL;
        if (!hex) {
            *err = xasprintf("%s: the index names no manifest with a sha256 digest", what);
            return -1;
        }
        free(*manifest_hex);
        *manifest_hex = hex;
        char *rel = blob_rel(hex);
        r = read_small(lay_fd, rel, &text, NULL);
        free(rel);
        if (r < 0) {
            *err = xasprintf("%s: cannot read manifest blob %s: %s", what, hex, strerror(-r));
            return -1;
        }
        v = yajl_tree_parse(text, eb, sizeof eb);
        free(text);
    }
    yajl_tree_free(v);
    *err = xasprintf("%s: indexes nested too deep", what);
    return -1;
}

/* Removes <cache>/.build-* left by a build that crashed. A live build of
 * another start holds a lock on its directory, so only dead ones go. */
static void remove_stale(int cache_fd)
{
    int dfd = openat(cache_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    /* this daemon's own builds are live (a failed one removes itself); the
     * lock alone would leave a gap between mkdir and flock */
    char mine[32];
    snprintf(mine, sizeof mine, "-%d-", (int)getpid());
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, ".build-", 7) == 0 && !strstr(de->d_name, mine)) {
            int lfd = openat(cache_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (lfd < 0)
                continue;
            if (flock(lfd, LOCK_EX | LOCK_NB) == 0)
                vm_remove_at(cache_fd, de->d_name);
            close(lfd);
        }
    closedir(d);
}

static uint64_t rootfs_max(void)
{
    const char *v = getenv("ORCH_VM_ROOTFS_MAX");
    char *end = NULL;
    unsigned long long n = v && *v ? strtoull(v, &end, 10) : 0;
    return n && end && !*end ? n : DEFAULT_ROOTFS_MAX;
}

/* Temporary names are unique per build, not only per process: two starts
 * of the same image run on two worker threads of one daemon at once. */
static unsigned next_build(void)
{
    static unsigned n;
    return __atomic_add_fetch(&n, 1, __ATOMIC_RELAXED);
}

static int build(int cache_fd, const char *cache_dir, const char *what, int lay_fd,
                 yajl_val manifest, const char *hex, char **err)
{
    char *tmp = xasprintf(".build-%s-%d-%u", hex, (int)getpid(), next_build());
    vm_remove_at(cache_fd, tmp);
    int rc = -1, root = -1;
    if (mkdirat(cache_fd, tmp, 0755) != 0 ||
        (root = openat(cache_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        *err = xasprintf("%s: cannot make %s/%s: %s", what, cache_dir, tmp, strerror(errno));
        goto out;
    }
    flock(root, LOCK_EX);
    const char *lp[] = {"layers", NULL}, *dp[] = {"digest", NULL};
    yajl_val layers = yajl_tree_get(manifest, lp, yajl_t_array);
    uint64_t budget = rootfs_max();
    for (size_t i = 0; layers && i < YAJL_GET_ARRAY(layers)->len; i++) {
        const char *lhex =
            digest_hex(YAJL_GET_STRING(yajl_tree_get(YAJL_GET_ARRAY(layers)->values[i], dp, yajl_t_string)));
        if (!lhex) {
            *err = xasprintf("%s: layer %zu has no sha256 digest", what, i + 1);
            goto out;
        }
        char *rel = blob_rel(lhex);
        /* /proc/self/fd/N/<rel> would follow symlinks inside the layout:
         * open the blob ourselves with O_NOFOLLOW and hand libarchive the fd's
         * path only once it is known to be a regular file */
        int bfd = openat(lay_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        free(rel);
        struct stat st;
        if (bfd < 0 || fstat(bfd, &st) != 0 || !S_ISREG(st.st_mode)) {
            *err = xasprintf("%s: layer %zu (sha256:%.12s): blob missing or not a file", what,
                             i + 1, lhex);
            if (bfd >= 0)
                close(bfd);
            goto out;
        }
        char fdpath[64];
        snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", bfd);
        char *why = NULL;
        int r = vm_layer_apply(root, fdpath, true, &budget, &why);
        close(bfd);
        if (r < 0) {
            *err = xasprintf("%s: layer %zu (sha256:%.12s): %s", what, i + 1, lhex, why);
            free(why);
            goto out;
        }
    }
    fchmod(root, 0755);
    if (renameat(cache_fd, tmp, cache_fd, hex) != 0 && errno != ENOTEMPTY && errno != EEXIST) {
        *err = xasprintf("%s: cannot move the rootfs into %s: %s", what, cache_dir, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (root >= 0)
        close(root);
    vm_remove_at(cache_fd, tmp); /* gone after a rename; else the half-built one */
    free(tmp);
    return rc;
}

int vm_image_prepare(const char *ref, const char *project_dir, const char *cache_dir,
                     vm_image *out, char **err)
{
    *err = NULL;
    memset(out, 0, sizeof *out);
    int is_archive = 0;
    char *path = NULL, *unpacked = NULL, *why = NULL;
    yajl_val manifest = NULL;
    int lay_fd = -1, cache_fd = -1, rc = -1;
    if (vm_image_ref(ref, project_dir, &is_archive, &path, err) < 0)
        return -1;
    int r = orch_mkdir_p(cache_dir, 0700);
    if (r < 0 || (cache_fd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        *err = xasprintf("image %s: cannot make %s: %s", ref, cache_dir, strerror(r < 0 ? -r : errno));
        goto out;
    }
    remove_stale(cache_fd);
    if (is_archive) {
        /* the outer tar is unpacked (as hostile as its layers) into a
         * temporary layout for every start; part 1 does not cache it */
        unpacked = xasprintf("%s/.build-layout-%d-%u", cache_dir, (int)getpid(), next_build());
        vm_remove_at(AT_FDCWD, unpacked);
        uint64_t budget = rootfs_max();
        if (mkdir(unpacked, 0700) != 0 ||
            (lay_fd = open(unpacked, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
            *err = xasprintf("image %s: cannot make %s: %s", ref, unpacked, strerror(errno));
            goto out;
        }
        flock(lay_fd, LOCK_EX);
        if (vm_layer_apply(lay_fd, path, false, &budget, &why) < 0) {
            *err = xasprintf("image %s: %s", ref, why);
            goto out;
        }
    } else if ((lay_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        *err = xasprintf("image %s: %s: %s", ref, path, strerror(errno));
        goto out;
    }
    char *mhex = NULL;
    r = find_manifest(lay_fd, ref, &mhex, &manifest, err);
    out->digest_hex = mhex; /* freed with out on failure */
    if (r < 0)
        goto out;
    const char *cp[] = {"config", "digest", NULL};
    const char *chex = digest_hex(YAJL_GET_STRING(yajl_tree_get(manifest, cp, yajl_t_string)));
    char *crel = chex ? blob_rel(chex) : NULL;
    r = crel ? read_small(lay_fd, crel, &out->config_json, &out->config_len) : -EINVAL;
    free(crel);
    if (r < 0) {
        *err = xasprintf("image %s: cannot read the image config blob: %s", ref,
                         chex ? strerror(-r) : "the manifest names none");
        goto out;
    }
    struct stat st;
    if (fstatat(cache_fd, mhex, &st, AT_SYMLINK_NOFOLLOW) != 0 &&
        build(cache_fd, cache_dir, ref, lay_fd, manifest, mhex, err) < 0)
        goto out;
    out->rootfs = xasprintf("%s/%s", cache_dir, mhex);
    rc = 0;
out:
    if (manifest)
        yajl_tree_free(manifest);
    if (lay_fd >= 0)
        close(lay_fd);
    if (unpacked) {
        vm_remove_at(AT_FDCWD, unpacked);
        free(unpacked);
    }
    if (cache_fd >= 0)
        close(cache_fd);
    free(path);
    free(why);
    if (rc < 0)
        vm_image_free(out);
    return rc;
}

void vm_image_free(vm_image *img)
{
    free(img->digest_hex);
    free(img->config_json);
    free(img->rootfs);
    memset(img, 0, sizeof *img);
}
