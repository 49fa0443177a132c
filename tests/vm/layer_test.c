/* Layers applied by the vm runtime (runtimes/vm/layer.c, image.c): order,
 * whiteouts, the cache, and hostile layers that try to write outside the
 * root. Pure C over libarchive: no qemu. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "vm/image.h"
#include "vm/layer.h"

static char base[] = "/tmp/vm-layer-test.XXXXXX";

typedef struct ent {
    const char *name;
    char type; /* f file, d dir, l symlink, h hardlink */
    const char *data; /* file data, or link target */
} ent;

static char *make_tar(const char *name, const ent *e, size_t n)
{
    char *path = xasprintf("%s/%s", base, name);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open_filename(a, path);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e[i].name);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_mtime(ae, 1000, 0);
        switch (e[i].type) {
        case 'd':
            archive_entry_set_filetype(ae, AE_IFDIR);
            archive_entry_set_perm(ae, 0755);
            break;
        case 'l':
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_symlink(ae, e[i].data);
            break;
        case 'h':
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_hardlink(ae, e[i].data);
            break;
        default:
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_size(ae, (la_int64_t)strlen(e[i].data));
        }
        archive_write_header(a, ae);
        if (e[i].type == 'f')
            archive_write_data(a, e[i].data, strlen(e[i].data));
        archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
    return path;
}

static int fresh_root(const char *name)
{
    char *p = xasprintf("%s/%s", base, name);
    mkdir(p, 0755);
    int fd = open(p, O_RDONLY | O_DIRECTORY);
    free(p);
    return fd;
}

static int apply(int root, const char *tar, char **err)
{
    uint64_t budget = 1 << 20;
    return vm_layer_apply(root, tar, true, &budget, err);
}

static bool exists_in(const char *root, const char *rel)
{
    char *p = xasprintf("%s/%s/%s", base, root, rel);
    struct stat st;
    bool r = lstat(p, &st) == 0;
    free(p);
    return r;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = xcalloc(1, 4096);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_order_and_whiteouts(void)
{
    ent l1[] = {{"etc/", 'd', NULL}, {"etc/a", 'f', "one"}, {"etc/b", 'f', "b"},
                {"opq/", 'd', NULL}, {"opq/old", 'f', "old"}, {"./abs", 'f', "x"}};
    /* the opaque marker comes AFTER a new entry of the same layer: it must
     * hide only the lower layer's entries */
    ent l2[] = {{"etc/a", 'f', "two"}, {"etc/.wh.b", 'f', ""}, {"opq/new", 'f', "new"},
                {"opq/.wh..wh..opq", 'f', ""}, {"/abs2", 'f', "y"}};
    char *t1 = make_tar("l1.tar", l1, 6), *t2 = make_tar("l2.tar", l2, 5), *err = NULL;
    int root = fresh_root("r1");
    CHECK(apply(root, t1, &err) == 0);
    CHECK(apply(root, t2, &err) == 0);
    char *p = xasprintf("%s/r1/etc/a", base), *s = slurp(p);
    CHECK(s && strcmp(s, "two") == 0); /* the upper layer wins */
    free(p), free(s);
    CHECK(!exists_in("r1", "etc/b"));       /* .wh.b deleted it */
    CHECK(!exists_in("r1", "etc/.wh.b"));   /* and is not written */
    CHECK(!exists_in("r1", "opq/old"));     /* opaque: the lower entry is gone */
    CHECK(exists_in("r1", "opq/new"));      /* this layer's entry stays */
    CHECK(!exists_in("r1", "opq/.wh..wh..opq"));
    CHECK(exists_in("r1", "abs") && exists_in("r1", "abs2")); /* absolute = relative to root */
    close(root);
    free(t1), free(t2);
}

/* Every hostile trick; the canary directory outside the root must stay
 * empty and /etc untouched. */
static void test_hostile(void)
{
    char *canary = xasprintf("%s/outside", base);
    mkdir(canary, 0755);
    char *err = NULL;
    int root = fresh_root("r2");

    /* 1. a symlink to outside in one layer, a file through it in the next */
    ent a1[] = {{"esc", 'l', canary}, {"rel", 'l', "../outside"}};
    ent a2[] = {{"esc/pwned", 'f', "x"}};
    ent a3[] = {{"rel/pwned2", 'f', "x"}};
    char *t = make_tar("a1.tar", a1, 2);
    CHECK(apply(root, t, &err) == 0);
    free(t);
    t = make_tar("a2.tar", a2, 1);
    CHECK(apply(root, t, &err) < 0 && err && strstr(err, "esc/pwned"));
    free(err), err = NULL, free(t);
    t = make_tar("a3.tar", a3, 1);
    CHECK(apply(root, t, &err) < 0);
    free(err), err = NULL, free(t);

    /* 2. ../ paths */
    ent b[] = {{"../outside/dotdot", 'f', "x"}};
    t = make_tar("b.tar", b, 1);
    CHECK(apply(root, t, &err) < 0 && err && strstr(err, "outside the root"));
    free(err), err = NULL, free(t);
    ent b2[] = {{"a/../../outside/dotdot2", 'f', "x"}};
    t = make_tar("b2.tar", b2, 1);
    CHECK(apply(root, t, &err) < 0);
    free(err), err = NULL, free(t);

    /* 3. absolute paths land inside the root */
    char *abs_name = xasprintf("%s/abs-escape", canary);
    ent c[] = {{abs_name, 'f', "x"}};
    t = make_tar("c.tar", c, 1);
    CHECK(apply(root, t, &err) == 0);
    free(t);

    /* 4. hard links to outside: by ../, by absolute path, through a symlink */
    ent d1[] = {{"hl", 'h', "../outside/target"}};
    t = make_tar("d1.tar", d1, 1);
    CHECK(apply(root, t, &err) < 0);
    free(err), err = NULL, free(t);
    ent d2[] = {{"hl2", 'h', "/etc/passwd"}};
    t = make_tar("d2.tar", d2, 1);
    CHECK(apply(root, t, &err) < 0); /* /etc/passwd is root/etc/passwd: absent */
    free(err), err = NULL, free(t);
    ent d3[] = {{"hl3", 'h', "esc/target"}}; /* esc -> canary */
    char *target = xasprintf("%s/target", canary);
    FILE *f = fopen(target, "w");
    fputs("host", f);
    fclose(f);
    t = make_tar("d3.tar", d3, 1);
    CHECK(apply(root, t, &err) < 0 && err && strstr(err, "symlink"));
    free(err), err = NULL, free(t);

    /* 5. a whiteout through a symlink must not delete outside */
    ent e[] = {{"esc/.wh.target", 'f', ""}};
    t = make_tar("e.tar", e, 1);
    CHECK(apply(root, t, &err) < 0);
    free(err), err = NULL, free(t);
    struct stat st;
    CHECK(stat(target, &st) == 0); /* still there */

    /* 6. replacing a symlink by a file writes the file, not its target */
    ent g[] = {{"esc", 'f', "now a file"}};
    t = make_tar("g.tar", g, 1);
    CHECK(apply(root, t, &err) == 0);
    free(t);
    CHECK(lstat(target, &st) == 0 && st.st_size == 4);

    /* nothing but the target we made is in the canary */
    char *p1 = xasprintf("%s/pwned", canary), *p2 = xasprintf("%s/dotdot", canary),
         *p3 = xasprintf("%s/pwned2", canary), *p4 = xasprintf("%s/dotdot2", canary);
    CHECK(access(p1, F_OK) != 0 && access(p2, F_OK) != 0 && access(p3, F_OK) != 0 &&
          access(p4, F_OK) != 0 && access(abs_name, F_OK) != 0);
    free(p1), free(p2), free(p3), free(p4), free(abs_name), free(target), free(canary);
    close(root);
}

/* The cache: a complete build is reused; a half-built one from a crash
 * (.build-*, unlocked) is removed; a registry ref is refused by name. */
static void test_cache(void)
{
    char *lay = xasprintf("%s/layout", base);
    char *blobs = xasprintf("%s/blobs/sha256", lay);
    char *cmd = xasprintf("mkdir -p %s", blobs);
    CHECK(system(cmd) == 0);
    free(cmd);
    ent l[] = {{"hello", 'f', "hi"}};
    char *t = make_tar("layer.tar", l, 1);
    const char *lhex = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *chex = "2222222222222222222222222222222222222222222222222222222222222222";
    const char *mhex = "3333333333333333333333333333333333333333333333333333333333333333";
    cmd = xasprintf("cp %s %s/%s && echo '{}' >%s/%s && "
                    "echo '{\"layers\":[{\"digest\":\"sha256:%s\"}],\"config\":{\"digest\":\"sha256:%s\"}}' >%s/%s && "
                    "echo '{\"manifests\":[{\"digest\":\"sha256:%s\"}]}' >%s/index.json",
                    t, blobs, lhex, blobs, chex, lhex, chex, blobs, mhex, mhex, lay);
    CHECK(system(cmd) == 0);
    free(cmd);
    char *cache = xasprintf("%s/cache", base);
    char *stale = xasprintf("%s/.build-dead-1", cache);
    cmd = xasprintf("mkdir -p %s/x", stale);
    CHECK(system(cmd) == 0);
    free(cmd);
    char *ref = xasprintf("oci:%s", lay), *err = NULL;
    vm_image img;
    if (vm_image_prepare(ref, "/", cache, &img, &err) != 0) fprintf(stderr, "prepare: %s\n", err);
    CHECK(err == NULL);
    CHECK(img.digest_hex && strcmp(img.digest_hex, mhex) == 0);
    CHECK(exists_in("cache", "3333333333333333333333333333333333333333333333333333333333333333/hello"));
    CHECK(access(stale, F_OK) != 0); /* the crashed build is gone */
    vm_image_free(&img);
    /* reused: a marker put into the cached tree survives a second prepare */
    char *marker = xasprintf("%s/%s/marker", cache, mhex);
    close(open(marker, O_CREAT | O_WRONLY, 0644));
    if (vm_image_prepare(ref, "/", cache, &img, &err) != 0) fprintf(stderr, "prepare: %s\n", err);
    CHECK(err == NULL);
    CHECK(access(marker, F_OK) == 0);
    vm_image_free(&img);
    CHECK(vm_image_prepare("docker.io/library/busybox", "/", cache, &img, &err) < 0);
    CHECK(err && strstr(err, "the vm runtime takes oci-archive: or oci: images"));
    free(err);
    free(marker), free(ref), free(stale), free(cache), free(t), free(blobs), free(lay);
}

int main(void)
{
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    test_order_and_whiteouts();
    test_hostile();
    test_cache();
    orch_remove_tree(base);
    return check_done();
}
