/* The OCI archive reader (runtimes/containerd/import/tar_reader.c,
 * oci_layout.c) on crafted inputs: each ends in a clean error naming the
 * file and the offset, within a bounded time (an alarm kills the test if
 * a scan loops, as the pax record length overflow of issue 17 did), and a
 * valid small archive resolves to its manifest, config and layer. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common/xalloc.h"
#include "common/sha256.h"
#include "containerd/fetch/oci_layout.h"
#include "containerd/fetch/tar_reader.h"

/* ---------------------------------------------------------------- a tar writer */

typedef struct buf {
    unsigned char *p;
    size_t n;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    b->p = xrealloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void finish_header(unsigned char *h)
{
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

/* A header; size_field NULL: the octal size of n. */
static void add_raw(buf *b, const char *name, char type, const void *data, size_t n,
                    const unsigned char *size_field)
{
    unsigned char h[512] = {0};
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 7);
    if (size_field)
        memcpy(h + 124, size_field, 12);
    else
        snprintf((char *)h + 124, 12, "%011o", (unsigned)n);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar\0" "00", 8);
    finish_header(h);
    put(b, h, 512);
    put(b, data, n);
    static const unsigned char zero[512];
    if (n % 512)
        put(b, zero, 512 - n % 512);
}

static void add_file(buf *b, const char *name, const char *data)
{
    add_raw(b, name, '0', data, strlen(data), NULL);
}

static void end_tar(buf *b)
{
    static const unsigned char zero[1024];
    put(b, zero, sizeof zero);
}

/* ---------------------------------------------------------------- reading a buffer */

static int mem_read(void *ctx, void *out, size_t n, int64_t off)
{
    const buf *b = ctx;
    if (off < 0 || (size_t)off > b->n || n > b->n - (size_t)off)
        return 5; /* EIO */
    memcpy(out, b->p + off, n);
    return 0;
}

/* The code of the last failure scan() or resolve() saw. */
static orch_errc last_code;

/* The readers' orch_error as text for the checks below; its code is kept in
 * last_code. */
static int take(int rc, orch_error *e, char **err)
{
    last_code = e ? e->code : 0;
    *err = e ? orch_error_take_msg(e) : NULL;
    return rc;
}

static int scan(buf *b, tar_index *ix, char **err, const atomic_bool *cancel)
{
    tar_source s = {.read = mem_read, .ctx = b, .size = (int64_t)b->n, .name = "t.tar",
                    .cancel = cancel};
    orch_error *e = NULL;
    int rc = tar_scan(&s, ix, &e);
    return take(rc, e, err);
}

typedef struct lay {
    buf *b;
    tar_index *ix;
} lay;

static bool lay_locate(void *ctx, const char *name, oci_loc *loc)
{
    lay *l = ctx;
    const tar_member *m = tar_find(l->ix, name);
    if (!m)
        return false;
    *loc = (oci_loc){NULL, m->off, m->size};
    return true;
}

static int lay_read(void *ctx, const oci_loc *loc, void *out, size_t n)
{
    return mem_read(((lay *)ctx)->b, out, n, loc->off);
}

static int resolve(buf *b, oci_image *img, char **err)
{
    tar_index ix = {0};
    if (scan(b, &ix, err, NULL) != 0)
        return -1;
    lay l = {b, &ix};
    oci_source s = {.ctx = &l, .locate = lay_locate, .read = lay_read, .name = "t.tar",
                    .is_archive = true, .arch = "amd64", .variant = ""};
    orch_error *e = NULL;
    int rc = oci_resolve(&s, img, &e);
    rc = take(rc, e, err);
    tar_index_free(&ix);
    return rc;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- the cases */

static void expect_error(buf *b, const char *what, const char *needle)
{
    tar_index ix = {0};
    char *err = NULL;
    double t0 = now();
    int rc = scan(b, &ix, &err, NULL);
    double dt = now() - t0;
    if (rc == 0)
        fprintf(stderr, "%s: no error\n", what);
    CHECK(rc == -1);
    CHECK(err != NULL);
    CHECK(last_code == ORCH_E_CORRUPT);
    CHECK_CONTAINS(err, "t.tar");
    CHECK_CONTAINS(err, needle);
    CHECK(dt < 1.0);
    fprintf(stderr, "ok: %s -> %s (%.3f ms)\n", what, err ? err : "(null)", dt * 1000);
    free(err);
    tar_index_free(&ix);
}

static void test_pax(void)
{
    /* issue 17: the second record's length wraps i + rec around to behind
     * the record; the old loop went back 5 bytes for ever */
    const char pax[] = "5 a=\n18446744073709551611 path=x\n";
    buf b = {0};
    add_raw(&b, "PaxHeaders/x", 'x', pax, sizeof pax - 1, NULL);
    add_file(&b, "x", "hello");
    end_tar(&b);
    expect_error(&b, "pax record length overflow", "offset 0 is malformed (a record length overflows)");
    free(b.p);

    const char *bad[] = {"99 path=x\n",       /* runs past */
                         "2 x\n",            /* shorter than its field */
                         "8 pathx\n",        /* no '=' */
                         "9 path=xy",        /* no newline (and past) */
                         "path=x\n",         /* no length */
                         "11 size=-1\n",   /* not a number */
                         "29 size=99999999999999999999\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        b = (buf){0};
        add_raw(&b, "PaxHeaders/x", 'x', bad[i], strlen(bad[i]), NULL);
        add_file(&b, "x", "hello");
        end_tar(&b);
        expect_error(&b, bad[i], "is malformed");
        free(b.p);
    }
    /* a path with a NUL byte */
    const char nul[] = "12 path=a\0b\n";
    b = (buf){0};
    add_raw(&b, "PaxHeaders/x", 'x', nul, sizeof nul - 1, NULL);
    add_file(&b, "x", "hello");
    end_tar(&b);
    expect_error(&b, "pax path with NUL", "NUL");
    free(b.p);

    /* a good pax path and size are used */
    const char good[] = "22 path=long/name.txt\n";
    b = (buf){0};
    add_raw(&b, "PaxHeaders/x", 'x', good, sizeof good - 1, NULL);
    add_file(&b, "short", "hello");
    end_tar(&b);
    tar_index ix = {0};
    char *err = NULL;
    CHECK(scan(&b, &ix, &err, NULL) == 0);
    CHECK(ix.n == 1 && strcmp(ix.m[0].name, "long/name.txt") == 0 && ix.m[0].size == 5);
    tar_index_free(&ix);
    free(err);
    free(b.p);
}

static void test_numbers(void)
{
    int64_t v = 0;
    unsigned char f[12];
    memcpy(f, "00000000012\0", 12);
    CHECK(tar_number(f, 12, &v) && v == 10);
    memcpy(f, "   17 \0\0\0\0\0\0", 12);
    CHECK(tar_number(f, 12, &v) && v == 15);
    memcpy(f, "0000000001x\0", 12);
    CHECK(!tar_number(f, 12, &v));
    memset(f, 0, 12);
    CHECK(!tar_number(f, 12, &v)); /* no digits */
    /* base-256: 2^40 */
    memset(f, 0, 12);
    f[0] = 0x80;
    f[6] = 1;
    CHECK(tar_number(f, 12, &v) && v == ((int64_t)1 << 40));
    /* 11 bytes of 0xff after the flag: 88 bits, more than int64_t */
    memset(f, 0xff, 12);
    f[0] = 0x80;
    CHECK(!tar_number(f, 12, &v));
    /* negative */
    memset(f, 0xff, 12);
    CHECK(!tar_number(f, 12, &v));
    /* the largest that fits: 0x7fff... in the last 8 bytes */
    memset(f, 0, 12);
    f[0] = 0x80;
    f[4] = 0x7f;
    memset(f + 5, 0xff, 7);
    CHECK(tar_number(f, 12, &v) && v == INT64_MAX);
}

static void test_headers(void)
{
    /* a base-256 size that overflows int64_t */
    unsigned char big[12];
    memset(big, 0xff, 12);
    big[0] = 0x80;
    buf b = {0};
    add_raw(&b, "x", '0', "", 0, big);
    end_tar(&b);
    expect_error(&b, "base-256 overflow", "bad size");
    free(b.p);
    /* base-256 INT64_MAX: fits, but far past the end (data + size would
     * overflow a signed sum) */
    memset(big, 0, 12);
    big[0] = 0x80;
    big[4] = 0x7f;
    memset(big + 5, 0xff, 7);
    b = (buf){0};
    add_raw(&b, "x", '0', "", 0, big);
    end_tar(&b);
    expect_error(&b, "base-256 INT64_MAX", "truncated");
    free(b.p);
    /* negative base-256 */
    memset(big, 0xff, 12);
    b = (buf){0};
    add_raw(&b, "x", '0', "", 0, big);
    end_tar(&b);
    expect_error(&b, "base-256 negative", "bad size");
    free(b.p);
    /* a checksum that does not match */
    b = (buf){0};
    add_file(&b, "x", "hello");
    end_tar(&b);
    b.p[0] ^= 1;
    expect_error(&b, "checksum", "bad header checksum at offset 0");
    free(b.p);
    /* a truncated member */
    b = (buf){0};
    add_file(&b, "x", "hello");
    b.n = 512 + 2;
    expect_error(&b, "truncated", "truncated");
    free(b.p);
    /* an oversized pax header, a too long GNU name */
    char *huge = xcalloc(1, TAR_MAX_PAX + 1);
    b = (buf){0};
    add_raw(&b, "p", 'x', huge, TAR_MAX_PAX + 1, NULL);
    free(huge);
    end_tar(&b);
    expect_error(&b, "pax too large", "pax extended header");
    free(b.p);
    char *longname = xmalloc(TAR_MAX_NAME + 10);
    memset(longname, 'a', TAR_MAX_NAME + 9);
    longname[TAR_MAX_NAME + 9] = '\0';
    b = (buf){0};
    add_raw(&b, "././@LongLink", 'L', longname, TAR_MAX_NAME + 9, NULL);
    add_file(&b, "x", "hello");
    end_tar(&b);
    expect_error(&b, "long name too large", "GNU long name");
    free(b.p);
    free(longname);
    /* cancelled */
    b = (buf){0};
    add_file(&b, "x", "hello");
    end_tar(&b);
    atomic_bool cancel;
    atomic_init(&cancel, true);
    tar_index ix = {0};
    char *err = NULL;
    CHECK(scan(&b, &ix, &err, &cancel) == -1);
    CHECK_STR(err, "cancelled");
    CHECK(last_code == ORCH_E_CANCELLED);
    free(err);
    tar_index_free(&ix);
    free(b.p);
}

/* ---------------------------------------------------------------- layouts */

static char *digest_of(const char *s)
{
    return orch_sha256_digest(s, strlen(s));
}

static char *blob_path(const char *d)
{
    return xasprintf("blobs/sha256/%s", d + 7);
}

static void add_blob(buf *b, const char *data)
{
    char *d = digest_of(data), *p = blob_path(d);
    add_file(b, p, data);
    free(d);
    free(p);
}

/* A one-layer image; index_entry_size < 0: the manifest's true size. */
static void build_image(buf *b, long index_entry_size)
{
    const char *config = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
    const char *layer = "not really a tar, but bytes";
    char *cd = digest_of(config), *ld = digest_of(layer);
    char *manifest = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":"
        "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
        "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\","
        "\"size\":%zu}]}",
        cd, strlen(config), ld, strlen(layer));
    char *md = digest_of(manifest);
    char *index = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST
                            "\",\"digest\":\"%s\",\"size\":%ld,\"annotations\":{"
                            "\"org.opencontainers.image.ref.name\":\"example.com/app:1\"}}]}",
                            md, index_entry_size < 0 ? (long)strlen(manifest) : index_entry_size);
    add_file(b, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
    add_file(b, "index.json", index);
    add_blob(b, config);
    add_blob(b, layer);
    add_blob(b, manifest);
    end_tar(b);
    free(cd);
    free(ld);
    free(md);
    free(manifest);
    free(index);
}

static void test_layout(void)
{
    buf b = {0};
    build_image(&b, -1);
    oci_image img;
    char *err = NULL;
    int rc = resolve(&b, &img, &err);
    if (rc)
        fprintf(stderr, "resolve: %s\n", err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(img.n_blobs == 3); /* config, layer, manifest */
        CHECK_STR(img.top_mt, MT_OCI_MANIFEST);
        CHECK(img.n_names == 1 && strcmp(img.names[0], "example.com/app:1") == 0);
        size_t mem = 0, file = 0;
        for (size_t i = 0; i < img.n_blobs; i++) {
            mem += img.blobs[i].mem != NULL;
            file += img.blobs[i].have_loc;
        }
        CHECK(mem == 1 && file == 2);
        oci_image_free(&img);
    }
    free(err);
    free(b.p);

    /* a manifest size in index.json that disagrees, and a huge one */
    long sizes[] = {3, 1L << 40};
    for (int i = 0; i < 2; i++) {
        b = (buf){0};
        build_image(&b, sizes[i]);
        err = NULL;
        CHECK(resolve(&b, &img, &err) == -1);
        CHECK_CONTAINS(err, "t.tar");
        fprintf(stderr, "ok: descriptor size %ld -> %s\n", sizes[i], err);
        free(err);
        free(b.p);
    }

    /* index.json naming a blob that is not there */
    b = (buf){0};
    add_file(&b, "oci-layout", "{}");
    add_file(&b, "index.json",
             "{\"manifests\":[{\"digest\":\"sha256:"
             "0000000000000000000000000000000000000000000000000000000000000000\",\"size\":2}]}");
    end_tar(&b);
    err = NULL;
    CHECK(resolve(&b, &img, &err) == -1);
    CHECK_CONTAINS(err, "has no blobs/sha256/0000");
    free(err);
    free(b.p);

    /* not JSON, no manifests, a bad digest */
    const char *idx[] = {"{", "{\"manifests\":[]}", "[1]",
                         "{\"manifests\":[{\"digest\":\"sha256:../../etc\",\"size\":2}]}"};
    for (size_t i = 0; i < sizeof idx / sizeof *idx; i++) {
        b = (buf){0};
        add_file(&b, "oci-layout", "{}");
        add_file(&b, "index.json", idx[i]);
        end_tar(&b);
        err = NULL;
        CHECK(resolve(&b, &img, &err) == -1);
        CHECK_CONTAINS(err, "t.tar");
        fprintf(stderr, "ok: index.json %s -> %s\n", idx[i], err);
        free(err);
        free(b.p);
    }
}

int main(void)
{
    alarm(20); /* a scan that loops fails the test instead of hanging it */
    test_numbers();
    test_pax();
    test_headers();
    test_layout();
    return check_done();
}
