/* Writing the guest initramfs (initrd.h). */
#include "vm/initrd.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/xalloc.h"
#include "vm/layer.h"

#define MAX_LIBS 64
#define PREFIX ".orchd"

typedef struct writer {
    struct archive *a;
    unsigned long ino;
    char *err;
} writer;

static int fail(writer *w, const char *fmt, const char *what, int e)
{
    if (!w->err)
        w->err = xasprintf(fmt, what, e ? strerror(e) : archive_error_string(w->a));
    return -1;
}

/* One entry from a stat and (regular files) an fd to copy from. */
static int put(writer *w, const char *name, const struct stat *st, const char *link, int fd)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_copy_stat(e, st);
    archive_entry_set_pathname(e, name);
    archive_entry_set_ino(e, ++w->ino); /* no hard links: each name its own copy */
    archive_entry_set_nlink(e, S_ISDIR(st->st_mode) ? 2 : 1);
    archive_entry_set_dev(e, 0);
    if (link)
        archive_entry_set_symlink(e, link);
    if (!S_ISREG(st->st_mode))
        archive_entry_set_size(e, 0);
    int r = archive_write_header(w->a, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK)
        return fail(w, "%s: %s", name, 0);
    if (fd >= 0) {
        char buf[65536];
        ssize_t n;
        off_t left = st->st_size;
        while (left > 0 && (n = read(fd, buf, sizeof buf)) > 0) {
            if (n > left)
                n = (ssize_t)left;
            if (archive_write_data(w->a, buf, (size_t)n) != n)
                return fail(w, "%s: %s", name, 0);
            left -= n;
        }
        if (left > 0)
            return fail(w, "%s: short read: %s", name, EIO);
    }
    return 0;
}

/* A host file (orchd, a library, a module) at name, following symlinks
 * (these are ours, not the image's). */
static int put_host_file(writer *w, const char *name, const char *path, mode_t mode)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fail(w, "%s: %s", path, e);
    }
    st.st_mode = S_IFREG | mode;
    st.st_uid = st.st_gid = 0;
    int r = put(w, name, &st, NULL, fd);
    close(fd);
    return r;
}

static int put_dir(writer *w, const char *name)
{
    struct stat st = {.st_mode = S_IFDIR | 0755};
    return put(w, name, &st, NULL, -1);
}

/* The image's tree below dir_fd, as rel/...; never follows a symlink. */
static int put_tree(writer *w, int dir_fd, const char *rel, int depth)
{
    if (depth > 256)
        return fail(w, "%s: %s", rel, ELOOP);
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return fail(w, "%s: %s", rel, errno);
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        if (depth == 0 && (!strcmp(n, "init") || !strcmp(n, PREFIX)))
            continue; /* ours */
        char *name = *rel ? xasprintf("%s/%s", rel, n) : xstrdup(n);
        struct stat st;
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = fail(w, "%s: %s", name, errno);
        } else if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                rc = fail(w, "%s: %s", name, errno);
            else {
                rc = put(w, name, &st, NULL, -1);
                if (rc == 0)
                    rc = put_tree(w, sub, name, depth + 1);
                close(sub);
            }
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t len = readlinkat(dirfd(d), n, target, sizeof target - 1);
            if (len < 0)
                rc = fail(w, "%s: %s", name, errno);
            else {
                target[len] = '\0';
                rc = put(w, name, &st, target, -1);
            }
        } else if (S_ISREG(st.st_mode)) {
            int f = openat(dirfd(d), n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
            if (f < 0)
                rc = fail(w, "%s: %s", name, errno);
            else {
                rc = put(w, name, &st, NULL, f);
                close(f);
            }
        } else if (S_ISFIFO(st.st_mode)) {
            rc = put(w, name, &st, NULL, -1);
        }
        free(name);
    }
    closedir(d);
    return rc;
}

/* ---- orchd's shared libraries: the DT_NEEDED closure of the executable,
 * read from the objects this process has mapped (dl_iterate_phdr), so it is
 * exactly what runs here; the module's own libraries are not in it. */

typedef struct lib {
    char *path;
    char *soname;
    char *needed[32];
    int n_needed;
    bool is_main, want;
} lib;

typedef struct libs {
    lib v[MAX_LIBS];
    int n;
    char *interp;
} libs;

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
    libs *L = arg;
    if (L->n == MAX_LIBS)
        return 0;
    lib *l = &L->v[L->n];
    memset(l, 0, sizeof *l);
    l->is_main = L->n == 0;
    if (!l->is_main && !strchr(info->dlpi_name, '/'))
        return 0; /* the vDSO: the kernel's, not a file */
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        if (l->is_main && info->dlpi_phdr[i].p_type == PT_INTERP)
            L->interp = xstrdup((const char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr));
    }
    if (!dyn)
        return 0; /* the vDSO has one; a static object would not */
    const char *strtab = NULL;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_STRTAB)
            strtab = (const char *)d->d_un.d_ptr; /* glibc relocates it... */
    if (strtab && (uintptr_t)strtab < info->dlpi_addr)
        strtab += info->dlpi_addr; /* ...except where it did not */
    if (!strtab)
        return 0;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_NEEDED && l->n_needed < 32)
            l->needed[l->n_needed++] = xstrdup(strtab + d->d_un.d_val);
        if (d->d_tag == DT_SONAME)
            l->soname = xstrdup(strtab + d->d_un.d_val);
    }
    l->path = xstrdup(l->is_main ? "" : info->dlpi_name);
    L->n++;
    (void)size;
    return 0;
}

static void want(libs *L, lib *l)
{
    if (l->want)
        return;
    l->want = true;
    for (int i = 0; i < l->n_needed; i++)
        for (int j = 0; j < L->n; j++) {
            const char *p = L->v[j].path, *b = strrchr(p, '/');
            b = b ? b + 1 : p;
            if ((L->v[j].soname && !strcmp(L->v[j].soname, l->needed[i])) || !strcmp(b, l->needed[i]))
                want(L, &L->v[j]);
        }
}

static void libs_free(libs *L)
{
    for (int i = 0; i < L->n; i++) {
        free(L->v[i].path);
        free(L->v[i].soname);
        for (int j = 0; j < L->v[i].n_needed; j++)
            free(L->v[i].needed[j]);
    }
    free(L->interp);
}

static int put_orchd(writer *w)
{
    libs L = {0};
    dl_iterate_phdr(collect, &L);
    int rc = -1;
    if (L.n == 0 || !L.interp) {
        fail(w, "%s: %s", "orchd's shared libraries", ENOENT);
        goto out;
    }
    want(&L, &L.v[0]);
    if (put_dir(w, PREFIX) || put_dir(w, PREFIX "/bin") || put_dir(w, PREFIX "/lib") ||
        put_host_file(w, PREFIX "/bin/orchd", "/proc/self/exe", 0755))
        goto out;
    for (int i = 1; i < L.n; i++) {
        if (!L.v[i].want || !L.v[i].path[0])
            continue;
        const char *b = L.v[i].soname ? L.v[i].soname : strrchr(L.v[i].path, '/') + 1;
        char *name = xasprintf(PREFIX "/lib/%s", b);
        int r = put_host_file(w, name, L.v[i].path, 0755);
        free(name);
        if (r)
            goto out;
    }
    const char *ib = strrchr(L.interp, '/');
    char *name = xasprintf(PREFIX "/lib/%s", ib ? ib + 1 : L.interp);
    rc = put_host_file(w, name, L.interp, 0755);
    free(name);
out:
    libs_free(&L);
    return rc;
}

static int put_modules(writer *w, const char *kernel_dir)
{
    char *order_path = xasprintf("%s/modules/order", kernel_dir), *order = NULL;
    int r = orch_read_file(order_path, &order, NULL);
    if (r < 0) {
        fail(w, "%s: %s", order_path, -r);
        free(order_path);
        return -1;
    }
    int rc = put_dir(w, PREFIX "/modules");
    if (rc == 0)
        rc = put_host_file(w, PREFIX "/modules/order", order_path, 0644);
    free(order_path);
    char *save = NULL;
    for (char *m = strtok_r(order, "\n", &save); rc == 0 && m; m = strtok_r(NULL, "\n", &save)) {
        if (strchr(m, '/') || m[0] == '.')
            continue;
        char *src = xasprintf("%s/modules/%s", kernel_dir, m);
        char *dst = xasprintf(PREFIX "/modules/%s", m);
        rc = put_host_file(w, dst, src, 0644);
        free(src);
        free(dst);
    }
    free(order);
    return rc;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

static uint64_t fnv_stat(uint64_t h, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        h = fnv(h, &st.st_ino, sizeof st.st_ino);
        h = fnv(h, &st.st_size, sizeof st.st_size);
        h = fnv(h, &st.st_mtim, sizeof st.st_mtim);
    }
    return fnv(h, path, strlen(path));
}

static struct archive *open_cpio(const char *path, writer *w)
{
    memset(w, 0, sizeof *w);
    w->a = archive_write_new();
    archive_write_set_format_cpio_newc(w->a);
    archive_write_set_bytes_in_last_block(w->a, 1);
    if (archive_write_open_filename(w->a, path) != ARCHIVE_OK) {
        fail(w, "%s: %s", path, 0);
        archive_write_free(w->a);
        w->a = NULL;
    }
    return w->a;
}

int vm_initrd_cached(const vm_initrd_input *in, char **path, char **err)
{
    *err = NULL;
    /* the key: the image and the identity of every host file that goes in */
    uint64_t h = fnv(1469598103934665603ull, in->image_hex, strlen(in->image_hex));
    h = fnv_stat(h, "/proc/self/exe");
    h = fnv_stat(h, in->shim);
    char *order = xasprintf("%s/modules/order", in->kernel_dir);
    h = fnv_stat(h, order);
    free(order);
    int r = orch_mkdir_p(in->cache_dir, 0700);
    if (r < 0) {
        *err = xasprintf("cannot make %s: %s", in->cache_dir, strerror(-r));
        return -1;
    }
    *path = xasprintf("%s/%.16s-%016llx.cpio", in->cache_dir, in->image_hex, (unsigned long long)h);
    if (access(*path, R_OK) == 0)
        return 0;
    static unsigned seq; /* two worker threads may build the same one */
    char *tmp = xasprintf("%s.tmp-%d-%u", *path, (int)getpid(),
                          __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    writer w;
    int rc = -1;
    if (!open_cpio(tmp, &w)) {
        *err = w.err;
        goto out;
    }
    int root = open(in->rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0)
        fail(&w, "%s: %s", in->rootfs, errno);
    else {
        if (put_tree(&w, root, "", 0) == 0 && put_orchd(&w) == 0 && put_modules(&w, in->kernel_dir) == 0)
            put_host_file(&w, "init", in->shim, 0755);
        close(root);
    }
    if (archive_write_close(w.a) != ARCHIVE_OK)
        fail(&w, "%s: %s", tmp, 0);
    archive_write_free(w.a);
    if (w.err) {
        *err = w.err;
        goto out;
    }
    if (rename(tmp, *path) != 0) {
        *err = xasprintf("cannot move %s into place: %s", tmp, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    unlink(tmp);
    free(tmp);
    if (rc < 0) {
        free(*path);
        *path = NULL;
    }
    return rc;
}

static int copy_file(const char *from, int to_fd)
{
    int fd = open(from, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? 0 : -errno;
    off_t left = st.st_size;
    while (rc == 0 && left > 0) {
        ssize_t n = copy_file_range(fd, NULL, to_fd, NULL, (size_t)left, 0);
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            break;
        }
        left -= n;
    }
    close(fd);
    return rc;
}

static void put_small(writer *w, const char *name, const char *data, size_t len)
{
    struct stat st = {.st_mode = S_IFREG | 0600, .st_size = (off_t)len};
    struct archive_entry *e = archive_entry_new();
    archive_entry_copy_stat(e, &st);
    archive_entry_set_pathname(e, name);
    archive_entry_set_ino(e, ++w->ino);
    archive_entry_set_nlink(e, 1);
    if (archive_write_header(w->a, e) != ARCHIVE_OK ||
        archive_write_data(w->a, data, len) != (la_ssize_t)len)
        fail(w, "%s: %s", name, 0);
    archive_entry_free(e);
}

int vm_initrd_for_start(const char *cached, const char *config, size_t config_len,
                        const char *extras, const char *out, char **err)
{
    *err = NULL;
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = xasprintf("%s: %s", out, strerror(errno));
        return -1;
    }
    int r = copy_file(cached, fd);
    if (r < 0) {
        *err = xasprintf("copying %s to %s: %s", cached, out, strerror(-r));
        close(fd);
        return -1;
    }
    /* the appended archive: libarchive writes to the fd at its end */
    writer w = {0};
    w.a = archive_write_new();
    archive_write_set_format_cpio_newc(w.a);
    archive_write_set_bytes_in_last_block(w.a, 1);
    w.ino = 1u << 30;
    if (archive_write_open_fd(w.a, fd) != ARCHIVE_OK)
        fail(&w, "%s: %s", out, 0);
    else {
        put_small(&w, PREFIX "/config.json", config, config_len);
        if (extras)
            put_small(&w, PREFIX "/vm.json", extras, strlen(extras));
        if (archive_write_close(w.a) != ARCHIVE_OK)
            fail(&w, "%s: %s", out, 0);
    }
    archive_write_free(w.a);
    close(fd);
    if (w.err) {
        *err = w.err;
        unlink(out);
        return -1;
    }
    return 0;
}
