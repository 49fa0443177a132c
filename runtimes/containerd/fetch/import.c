/* Importing OCI images from disk (docs/IMAGES.md):
 *
 *   FROM oci-archive:/path/image.tar   an OCI image layout in a tar file
 *   FROM oci:/path/layout[:tag]        an OCI image layout directory
 *   orchd import FILE|DIR
 *
 * The reading and checking happens in libuv's threadpool (it blocks on the
 * disk): the tar headers are indexed, index.json names the image (by tag
 * when given), nested indexes are followed to the linux/<arch> manifest,
 * every JSON blob is checked against its digest, every blob's size against
 * its descriptor, and the file's own digest is taken. Then the loop streams
 * the config and layers from the file into the content store (job.c,
 * ingest.c: containerd verifies each digest at commit) and records the image
 * with the file's mtime, size and digest in labels, so an unchanged file is
 * not imported again. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "containerd/fetch/pull_internal.h"
#include "common/xalloc.h"

#define MAX_JSON (4u << 20)
#define MAX_PAX (1u << 20)
#define MAX_DEPTH 4
#define HASH_CHUNK (1u << 20)

typedef struct member {
    char *name;
    int64_t off, size;
} member;

typedef struct plan_blob {
    char *digest, *mt;
    int64_t size;
    const char *what;
    char *path; /* SRC_FILE */
    int64_t off;
    char *mem; /* SRC_MEMORY (JSON, already read and checked) */
    size_t mem_len;
    char **labels;
    size_t n_labels;
} plan_blob;

typedef struct imp {
    uv_work_t work;
    img_job *j;
    bool running; /* in the threadpool */
    /* in */
    img_ref_kind kind;
    char *file, *tag;
    /* the archive's members */
    member *members;
    size_t n_members;
    int fd;
    int64_t file_size;
    /* out */
    char *err;
    char *stamp, *file_digest;
    char *top_mt, *top_digest;
    int64_t top_size;
    char **names;
    size_t n_names;
    plan_blob *blobs; /* first-phase blobs, then the JSON ones top first */
    size_t n_blobs;
} imp;

static void fail(imp *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(imp *m, const char *fmt, ...)
{
    if (m->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&m->err, fmt, ap) < 0)
        m->err = NULL;
    va_end(ap);
}

/* ---------------------------------------------------------------- tar */

static int64_t octal(const char *p, size_t n, bool *ok)
{
    if ((unsigned char)p[0] & 0x80) { /* base-256 (GNU) */
        int64_t v = 0;
        for (size_t i = 1; i < n; i++)
            v = (v << 8) | (unsigned char)p[i];
        return v;
    }
    int64_t v = 0;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\0'))
        i++;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++)
        v = v * 8 + (p[i] - '0');
    for (; i < n; i++)
        if (p[i] != ' ' && p[i] != '\0')
            *ok = false;
    return v;
}

static bool read_at(int fd, void *buf, size_t n, int64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static char *clean_name(const char *n)
{
    while (n[0] == '.' && n[1] == '/')
        n += 2;
    while (*n == '/')
        n++;
    return xstrdup(n);
}

/* "len key=value\n" records: the path. */
static char *pax_path(const char *data, size_t len)
{
    size_t i = 0;
    char *path = NULL;
    while (i < len) {
        size_t j = i;
        size_t rec = 0;
        while (j < len && data[j] >= '0' && data[j] <= '9')
            rec = rec * 10 + (size_t)(data[j++] - '0');
        if (rec == 0 || i + rec > len || j >= len || data[j] != ' ')
            break;
        const char *kv = data + j + 1;
        size_t kvlen = i + rec - (j + 1);
        if (kvlen > 5 && strncmp(kv, "path=", 5) == 0) {
            free(path);
            path = xstrndup(kv + 5, kvlen - 5 - (kv[kvlen - 1] == '\n'));
        }
        i += rec;
    }
    return path;
}

static void tar_scan(imp *m)
{
    int64_t off = 0;
    char *longname = NULL, *paxname = NULL;
    unsigned char h[512];
    for (;;) {
        if (off + 512 > m->file_size) {
            if (off == m->file_size && m->n_members > 0)
                break; /* no end-of-archive blocks: tolerated */
            fail(m, "%s is truncated or not a tar file (a header at offset %lld runs past the "
                    "end)",
                 m->file, (long long)off);
            break;
        }
        if (!read_at(m->fd, h, 512, off)) {
            fail(m, "reading %s: %s", m->file, strerror(errno ? errno : EIO));
            break;
        }
        bool zero = true;
        for (int i = 0; i < 512 && zero; i++)
            zero = h[i] == 0;
        if (zero)
            break;
        unsigned sum = 0;
        for (int i = 0; i < 512; i++)
            sum += (i >= 148 && i < 156) ? ' ' : h[i];
        bool ok = true;
        int64_t want = octal((const char *)h + 148, 8, &ok);
        if (!ok || (unsigned)want != sum) {
            fail(m, "%s is corrupt or not a tar file (bad header checksum at offset %lld)",
                 m->file, (long long)off);
            break;
        }
        int64_t size = octal((const char *)h + 124, 12, &ok);
        if (!ok || size < 0) {
            fail(m, "%s is corrupt (a bad size at offset %lld)", m->file, (long long)off);
            break;
        }
        char type = (char)h[156];
        int64_t data = off + 512;
        if (data + size > m->file_size) {
            fail(m, "%s is truncated: a member at offset %lld needs %lld bytes past its end",
                 m->file, (long long)off, (long long)(data + size - m->file_size));
            break;
        }
        char name[257];
        if (memcmp(h + 257, "ustar", 5) == 0 && h[345])
            snprintf(name, sizeof name, "%.155s/%.100s", (const char *)h + 345,
                     (const char *)h + 0);
        else
            snprintf(name, sizeof name, "%.100s", (const char *)h);
        if (type == 'x' || type == 'L') {
            if (size > MAX_PAX) {
                fail(m, "%s: an extended header of %lld bytes", m->file, (long long)size);
                break;
            }
            char *buf = xmalloc((size_t)size + 1);
            if (!read_at(m->fd, buf, (size_t)size, data)) {
                free(buf);
                fail(m, "reading %s failed", m->file);
                break;
            }
            buf[size] = '\0';
            if (type == 'x') {
                free(paxname);
                paxname = pax_path(buf, (size_t)size);
            } else {
                free(longname);
                longname = xstrndup(buf, (size_t)size);
            }
            free(buf);
        } else if (type == '0' || type == '\0' || type == '7') {
            const char *n = paxname ? paxname : longname ? longname : name;
            m->members = xrealloc(m->members, (m->n_members + 1) * sizeof *m->members);
            m->members[m->n_members++] = (member){clean_name(n), data, size};
            free(paxname);
            free(longname);
            paxname = longname = NULL;
        } else if (type != 'g') {
            free(paxname);
            free(longname);
            paxname = longname = NULL;
        }
        off = data + (size + 511) / 512 * 512;
    }
    free(longname);
    free(paxname);
}

static const member *find_member(const imp *m, const char *name)
{
    /* the last one wins, as when the tar is unpacked */
    for (size_t i = m->n_members; i-- > 0;)
        if (strcmp(m->members[i].name, name) == 0)
            return &m->members[i];
    return NULL;
}

/* ---------------------------------------------------------------- sources */

/* Where a file of the image lies: the archive (offset) or the layout. */
static bool locate(imp *m, const char *name, char **path, int64_t *off, int64_t *size)
{
    if (m->kind == REF_OCI_ARCHIVE) {
        const member *mb = find_member(m, name);
        if (!mb)
            return false;
        *path = xstrdup(m->file);
        *off = mb->off;
        *size = mb->size;
        return true;
    }
    char *p = xasprintf("%s/%s", m->file, name);
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
        free(p);
        return false;
    }
    *path = p;
    *off = 0;
    *size = st.st_size;
    return true;
}

static char *read_named(imp *m, const char *name, size_t max, size_t *len, const char *what)
{
    char *path = NULL;
    int64_t off = 0, size = 0;
    if (!locate(m, name, &path, &off, &size)) {
        fail(m, "%s has no %s (%s)", m->file, name, what);
        return NULL;
    }
    if (size > (int64_t)max) {
        fail(m, "%s in %s is larger than %zu bytes", name, m->file, max);
        free(path);
        return NULL;
    }
    int fd = m->kind == REF_OCI_ARCHIVE ? m->fd : open(path, O_RDONLY | O_CLOEXEC);
    char *buf = xmalloc((size_t)size + 1);
    bool ok = fd >= 0 && read_at(fd, buf, (size_t)size, off);
    if (fd >= 0 && fd != m->fd)
        close(fd);
    free(path);
    if (!ok) {
        fail(m, "cannot read %s from %s", name, m->file);
        free(buf);
        return NULL;
    }
    buf[size] = '\0';
    *len = (size_t)size;
    return buf;
}

static char *blob_name(const char *digest)
{
    return xasprintf("blobs/sha256/%s", digest + 7);
}

/* A JSON blob: read, checked against its digest and size, parsed. */
static yajl_val read_json_blob(imp *m, const char *digest, int64_t size, char **bytes,
                               size_t *len)
{
    if (!img_digest_valid(digest)) {
        fail(m, "%s names a blob with an invalid digest '%s'", m->file, digest);
        return NULL;
    }
    char *name = blob_name(digest);
    char *buf = read_named(m, name, MAX_JSON, len, "a blob the image needs");
    free(name);
    if (!buf)
        return NULL;
    char *got = ctd_sha256_digest(buf, *len);
    if (strcmp(got, digest) != 0) {
        fail(m, "digest mismatch: blob %s in %s has digest %s (the file is corrupt)", digest,
             m->file, got);
        free(got);
        free(buf);
        return NULL;
    }
    free(got);
    if (size >= 0 && (int64_t)*len != size) {
        fail(m, "blob %s in %s has %zu bytes, its descriptor says %lld", digest, m->file, *len,
             (long long)size);
        free(buf);
        return NULL;
    }
    char why[128] = "";
    yajl_val v = yajl_tree_parse(buf, why, sizeof why);
    if (!YAJL_IS_OBJECT(v)) {
        why[strcspn(why, "\n")] = '\0';
        fail(m, "blob %s in %s is not a JSON object%s%s", digest, m->file, *why ? ": " : "", why);
        yajl_tree_free(v);
        free(buf);
        return NULL;
    }
    *bytes = buf;
    return v;
}

static plan_blob *add_blob(imp *m, const char *digest, const char *mt, int64_t size,
                           const char *what)
{
    for (size_t i = 0; i < m->n_blobs; i++)
        if (strcmp(m->blobs[i].digest, digest) == 0)
            return &m->blobs[i];
    m->blobs = xrealloc(m->blobs, (m->n_blobs + 1) * sizeof *m->blobs);
    plan_blob *b = &m->blobs[m->n_blobs++];
    memset(b, 0, sizeof *b);
    b->digest = xstrdup(digest);
    b->mt = xstrdup(mt ? mt : "application/octet-stream");
    b->size = size;
    b->what = what;
    b->labels = xcalloc(1, sizeof *b->labels);
    return b;
}

static void add_label(imp *m, size_t bi, const char *k, const char *v)
{
    plan_blob *b = &m->blobs[bi];
    b->labels = xrealloc(b->labels, (2 * b->n_labels + 3) * sizeof *b->labels);
    b->labels[2 * b->n_labels] = xstrdup(k);
    b->labels[2 * b->n_labels + 1] = xstrdup(v);
    b->labels[2 * b->n_labels + 2] = NULL;
    b->n_labels++;
}

/* ---------------------------------------------------------------- resolution */

static bool entry_matches(yajl_val e, const char *tag)
{
    const char *ap[] = {"annotations", NULL};
    yajl_val ann = yajl_tree_get(e, ap, yajl_t_object);
    const char *rn = ann ? jstr(ann, "org.opencontainers.image.ref.name") : NULL;
    const char *cn = ann ? jstr(ann, "io.containerd.image.name") : NULL;
    if ((rn && strcmp(rn, tag) == 0) || (cn && strcmp(cn, tag) == 0))
        return true;
    size_t t = strlen(tag);
    for (int k = 0; k < 2; k++) {
        const char *n = k ? cn : rn;
        size_t l = n ? strlen(n) : 0;
        if (l > t && n[l - t - 1] == ':' && strcmp(n + l - t, tag) == 0)
            return true;
    }
    return false;
}

static char *entry_names(yajl_val ms)
{
    char buf[512] = "";
    for (size_t i = 0; i < ms->u.array.len && strlen(buf) < 400; i++) {
        yajl_val e = ms->u.array.values[i];
        const char *ap[] = {"annotations", NULL};
        yajl_val ann = yajl_tree_get(e, ap, yajl_t_object);
        const char *rn = ann ? jstr(ann, "org.opencontainers.image.ref.name") : NULL;
        if (!rn && ann)
            rn = jstr(ann, "io.containerd.image.name");
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", *buf ? ", " : "",
                 rn ? rn : "(unnamed)");
    }
    return xstrdup(buf);
}

static void resolve(imp *m)
{
    size_t len = 0;
    char *layout = read_named(m, "oci-layout", 4096, &len, "oci-layout file");
    if (!layout) {
        char *p = NULL;
        int64_t o, s;
        free(m->err);
        m->err = NULL;
        if (locate(m, "manifest.json", &p, &o, &s))
            fail(m, "%s is a docker save archive, not an OCI one (convert it: skopeo copy "
                    "docker-archive:%s oci-archive:NEW.tar)",
                 m->file, m->file);
        else
            fail(m, "%s is not an OCI image %s: it has no oci-layout file", m->file,
                 m->kind == REF_OCI_ARCHIVE ? "archive" : "layout");
        free(p);
        return;
    }
    free(layout);
    char *index_bytes = read_named(m, "index.json", MAX_JSON, &len, "index.json");
    if (!index_bytes)
        return;
    if (m->kind == REF_OCI_LAYOUT)
        m->file_digest = ctd_sha256_digest(index_bytes, len);
    char why[128] = "";
    yajl_val index = yajl_tree_parse(index_bytes, why, sizeof why);
    free(index_bytes);
    const char *mp[] = {"manifests", NULL};
    yajl_val ms = index ? yajl_tree_get(index, mp, yajl_t_array) : NULL;
    if (!ms || ms->u.array.len == 0) {
        why[strcspn(why, "\n")] = '\0';
        fail(m, "the index.json of %s %s", m->file,
             index ? "lists no manifests" : "is not valid JSON");
        yajl_tree_free(index);
        return;
    }
    yajl_val entry = NULL;
    if (m->tag) {
        for (size_t i = 0; i < ms->u.array.len && !entry; i++)
            if (entry_matches(ms->u.array.values[i], m->tag))
                entry = ms->u.array.values[i];
        if (!entry) {
            char *names = entry_names(ms);
            fail(m, "%s has no image tagged '%s' (it has: %s)", m->file, m->tag, names);
            free(names);
        }
    } else if (ms->u.array.len == 1) {
        entry = ms->u.array.values[0];
    } else {
        char *names = entry_names(ms);
        fail(m, "%s holds %zu images (%s): name one with oci:DIR:TAG", m->file, ms->u.array.len,
             names);
        free(names);
    }
    if (!entry) {
        yajl_tree_free(index);
        return;
    }
    const char *ap[] = {"annotations", NULL};
    yajl_val ann = yajl_tree_get(entry, ap, yajl_t_object);
    const char *cn = ann ? jstr(ann, "io.containerd.image.name") : NULL;
    const char *rn = ann ? jstr(ann, "org.opencontainers.image.ref.name") : NULL;
    if (cn && *cn) {
        m->names = xrealloc(m->names, (m->n_names + 1) * sizeof *m->names);
        m->names[m->n_names++] = xstrdup(cn);
    } else if (rn && (strchr(rn, '/') || strchr(rn, ':'))) {
        m->names = xrealloc(m->names, (m->n_names + 1) * sizeof *m->names);
        m->names[m->n_names++] = xstrdup(rn);
    }
    const char *mt = jstr(entry, "mediaType"), *digest = jstr(entry, "digest");
    long long size = -1;
    if (!digest || !jint(entry, "size", &size)) {
        fail(m, "the index.json of %s has an entry without digest or size", m->file);
        yajl_tree_free(index);
        return;
    }
    m->top_digest = xstrdup(digest);
    m->top_size = size;
    char *cur = xstrdup(digest);
    char *cur_mt = xstrdup(mt ? mt : "");
    long long cur_size = size;
    yajl_tree_free(index);
    /* the JSON chain, top first: indexes, then the manifest */
    for (int depth = 0; !m->err; depth++) {
        if (depth > MAX_DEPTH) {
            fail(m, "the indexes in %s nest deeper than %d", m->file, MAX_DEPTH);
            break;
        }
        char *bytes = NULL;
        yajl_val v = read_json_blob(m, cur, cur_size, &bytes, &len);
        if (!v)
            break;
        const char *body_mt = jstr(v, "mediaType");
        const char *kind = *cur_mt ? cur_mt : body_mt;
        bool is_index = is_index_type(kind) || (!kind && yajl_tree_get(v, mp, yajl_t_array));
        if (depth == 0)
            m->top_mt = xstrdup(kind && *kind ? kind : (is_index ? MT_OCI_INDEX : MT_OCI_MANIFEST));
        plan_blob *pb = add_blob(m, cur, kind && *kind ? kind : (is_index ? MT_OCI_INDEX : MT_OCI_MANIFEST),
                                 (int64_t)len, is_index ? "index" : "manifest");
        size_t bi = (size_t)(pb - m->blobs);
        pb->mem = bytes;
        pb->mem_len = len;
        if (is_index) {
            char *why2 = NULL;
            int i = pick_platform(v, &why2);
            if (i < 0) {
                fail(m, "%s", why2);
                free(why2);
                yajl_tree_free(v);
                break;
            }
            yajl_val e = yajl_tree_get(v, mp, yajl_t_array)->u.array.values[i];
            const char *d = jstr(e, "digest"), *emt = jstr(e, "mediaType");
            long long esize = -1;
            if (!d || !jint(e, "size", &esize)) {
                fail(m, "index %s in %s has an entry without digest or size", cur, m->file);
                yajl_tree_free(v);
                break;
            }
            char key[64];
            snprintf(key, sizeof key, "containerd.io/gc.ref.content.m.%d", i);
            add_label(m, bi, key, d);
            free(cur);
            free(cur_mt);
            cur = xstrdup(d);
            cur_mt = xstrdup(emt ? emt : "");
            cur_size = esize;
            yajl_tree_free(v);
            continue;
        }
        /* the manifest */
        const char *cp[] = {"config", NULL}, *lp[] = {"layers", NULL};
        yajl_val config = yajl_tree_get(v, cp, yajl_t_object);
        yajl_val layers = yajl_tree_get(v, lp, yajl_t_array);
        const char *cd = config ? jstr(config, "digest") : NULL;
        long long cs = -1;
        if (!cd || !img_digest_valid(cd) || !jint(config, "size", &cs) || !YAJL_IS_ARRAY(layers)) {
            fail(m, "manifest %s in %s has no valid config or layers", cur, m->file);
            yajl_tree_free(v);
            break;
        }
        add_label(m, bi, "containerd.io/gc.ref.content.config", cd);
        const char *cmt = jstr(config, "mediaType");
        size_t n_layers = layers->u.array.len;
        for (size_t k = 0; k <= n_layers && !m->err; k++) {
            const char *d = cd, *lmt = cmt, *what = "config";
            long long s = cs;
            if (k > 0) {
                yajl_val l = layers->u.array.values[k - 1];
                d = jstr(l, "digest");
                lmt = jstr(l, "mediaType");
                what = "layer";
                if (!d || !img_digest_valid(d) || !jint(l, "size", &s) || s < 0) {
                    fail(m, "layer %zu of manifest %s has no valid digest or size", k, cur);
                    break;
                }
                char key[64];
                snprintf(key, sizeof key, "containerd.io/gc.ref.content.l.%zu", k - 1);
                add_label(m, bi, key, d);
            }
            char *name = blob_name(d);
            char *path = NULL;
            int64_t off = 0, have = 0;
            if (!locate(m, name, &path, &off, &have)) {
                fail(m, "%s %s is not in %s", what, d, m->file);
            } else if (have != s) {
                fail(m, "%s %s in %s has %lld bytes, the manifest says %lld (the file is "
                        "truncated or corrupt)",
                     what, d, m->file, (long long)have, s);
            } else {
                plan_blob *lb = add_blob(m, d, lmt, s, what);
                if (!lb->path && !lb->mem) {
                    lb->path = path;
                    lb->off = off;
                    path = NULL;
                }
            }
            free(path);
            free(name);
        }
        yajl_tree_free(v);
        break;
    }
    free(cur);
    free(cur_mt);
}

static void hash_file(imp *m)
{
    ctd_sha256 c;
    ctd_sha256_init(&c);
    char *buf = xmalloc(HASH_CHUNK);
    int64_t off = 0;
    while (off < m->file_size) {
        size_t n = m->file_size - off < (int64_t)HASH_CHUNK ? (size_t)(m->file_size - off)
                                                             : HASH_CHUNK;
        if (!read_at(m->fd, buf, n, off)) {
            fail(m, "reading %s: %s", m->file, strerror(errno ? errno : EIO));
            free(buf);
            return;
        }
        ctd_sha256_update(&c, buf, n);
        off += (int64_t)n;
    }
    free(buf);
    uint8_t d[32];
    char hex[65];
    ctd_sha256_final(&c, d);
    ctd_hex(d, 32, hex);
    m->file_digest = xasprintf("sha256:%s", hex);
}

static void work(uv_work_t *w)
{
    imp *m = w->data;
    struct stat st;
    const char *what = m->kind == REF_OCI_ARCHIVE ? "archive" : "layout";
    char *stat_path = m->kind == REF_OCI_ARCHIVE ? xstrdup(m->file)
                                                 : xasprintf("%s/index.json", m->file);
    if (stat(stat_path, &st) != 0) {
        fail(m, "cannot read the %s %s: %s", what, stat_path, strerror(errno));
        free(stat_path);
        return;
    }
    free(stat_path);
    m->stamp = xasprintf("%lld.%09ld:%llu", (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
                         (unsigned long long)st.st_size);
    if (m->kind == REF_OCI_ARCHIVE) {
        if (!S_ISREG(st.st_mode)) {
            fail(m, "%s is not a file (for a layout directory, use oci:%s)", m->file, m->file);
            return;
        }
        m->fd = open(m->file, O_RDONLY | O_CLOEXEC);
        if (m->fd < 0) {
            fail(m, "cannot open %s: %s", m->file, strerror(errno));
            return;
        }
        m->file_size = st.st_size;
        tar_scan(m);
        if (!m->err && m->n_members == 0)
            fail(m, "%s is an empty archive", m->file);
    } else {
        struct stat d;
        if (stat(m->file, &d) != 0 || !S_ISDIR(d.st_mode)) {
            fail(m, "%s is not a directory", m->file);
            return;
        }
    }
    if (!m->err)
        resolve(m);
    if (!m->err && m->kind == REF_OCI_ARCHIVE)
        hash_file(m);
    if (m->fd >= 0) {
        close(m->fd);
        m->fd = -1;
    }
}

/* ---------------------------------------------------------------- on the loop */

static void after_work(uv_work_t *w, int status)
{
    imp *m = w->data;
    img_job *j = m->j;
    m->running = false;
    if (job_returned(j))
        return;
    if (status != 0) {
        job_fail(j, "the import was cancelled");
        return;
    }
    if (m->err) {
        job_fail(j, "%s", m->err);
        return;
    }
    job_set_target(j, m->top_mt, m->top_digest, m->top_size);
    size_t nl = 0;
    const char *labels[] = {LABEL_IMPORT_SOURCE, m->file, LABEL_IMPORT_STAMP, m->stamp,
                            LABEL_IMPORT_DIGEST, m->file_digest};
    j->record_labels = xcalloc(7, sizeof *j->record_labels);
    for (size_t i = 0; i < 6; i++)
        j->record_labels[nl++] = xstrdup(labels[i] ? labels[i] : "");
    if (j->import_names) {
        for (size_t i = 0; i < m->n_names; i++) {
            bool dup = false;
            for (size_t k = 0; k < j->n_names; k++)
                dup |= strcmp(j->names[k], m->names[i]) == 0;
            if (dup)
                continue;
            j->names = xrealloc(j->names, (j->n_names + 2) * sizeof *j->names);
            j->names[j->n_names++] = xstrdup(m->names[i]);
            j->names[j->n_names] = NULL;
        }
    }
    /* config and layers from the file; then the JSON, children first */
    for (size_t i = 0; i < m->n_blobs; i++) {
        plan_blob *p = &m->blobs[i];
        if (p->mem)
            continue;
        job_blob *b = job_add_blob(j, p->digest, p->mt, p->size, p->what, false);
        b->src = SRC_FILE;
        b->path = p->path;
        b->file_off = p->off;
        p->path = NULL;
    }
    for (size_t i = m->n_blobs; i-- > 0;) {
        plan_blob *p = &m->blobs[i];
        if (!p->mem)
            continue;
        job_blob *b = job_add_blob(j, p->digest, p->mt, p->size, p->what, true);
        b->src = SRC_MEMORY;
        b->mem = p->mem;
        b->mem_len = p->mem_len;
        p->mem = NULL;
        for (size_t k = 0; k < p->n_labels; k++)
            job_blob_label(b, p->labels[2 * k], p->labels[2 * k + 1]);
    }
    job_emit_image(j, "resolved", "digest", j->target_digest);
    job_run_blobs(j);
}

void imp_begin(img_job *j)
{
    imp *m = xcalloc(1, sizeof *m);
    j->imp = m;
    m->j = j;
    m->fd = -1;
    m->kind = j->ref.kind;
    m->file = xstrdup(j->ref.file);
    m->tag = j->ref.file_tag ? xstrdup(j->ref.file_tag) : NULL;
    m->work.data = m;
    job_emit_image(j, "importing", "file", m->file);
    j->busy++;
    m->running = true;
    int rc = uv_queue_work(j->loop, &m->work, work, after_work);
    if (rc != 0) {
        m->running = false;
        j->busy--;
        job_fail(j, "cannot start the import: %s", uv_strerror(rc));
    }
}

void imp_cancel(img_job *j)
{
    /* the threadpool part cannot be stopped: after_work sees the failure */
    (void)j;
}

void imp_free(img_job *j)
{
    imp *m = j->imp;
    if (!m)
        return;
    for (size_t i = 0; i < m->n_members; i++)
        free(m->members[i].name);
    free(m->members);
    for (size_t i = 0; i < m->n_blobs; i++) {
        plan_blob *p = &m->blobs[i];
        free(p->digest);
        free(p->mt);
        free(p->path);
        free(p->mem);
        for (size_t k = 0; k < 2 * p->n_labels; k++)
            free(p->labels[k]);
        free(p->labels);
    }
    free(m->blobs);
    for (size_t i = 0; i < m->n_names; i++)
        free(m->names[i]);
    free(m->names);
    free(m->err);
    free(m->stamp);
    free(m->file_digest);
    free(m->top_mt);
    free(m->top_digest);
    free(m->file);
    free(m->tag);
    free(m);
    j->imp = NULL;
}
