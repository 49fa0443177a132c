/* Importing OCI images from disk (docs/IMAGES.md):
 *
 *   FROM oci-archive:/path/image.tar   an OCI image layout in a tar file
 *   FROM oci:/path/layout[:tag]        an OCI image layout directory
 *   orchd import FILE|DIR
 *
 * The reading and checking happens in a thread of its own (it blocks on the
 * disk): the tar headers are indexed (tar_reader.c), index.json names the
 * image (by tag when given), nested indexes are followed to the
 * linux/<arch> manifest, every JSON blob is checked against its digest,
 * every blob's size against its descriptor (oci_layout.c), and the file's
 * own digest is taken. The thread checks a cancel flag before every header,
 * blob and chunk; a cancelled job lets go of the thread at once (it frees
 * its own state when it ends) so a shutdown never waits for a read stuck in
 * the kernel. Then the loop streams
 * the config and layers from the file into the content store (job.c,
 * ingest.c: containerd verifies each digest at commit) and records the image
 * with the file's mtime, size and digest in labels, so an unchanged file is
 * not imported again. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "containerd/fetch/pull_internal.h"
#include "common/xalloc.h"
#include "containerd/fetch/oci_layout.h"
#include "containerd/fetch/tar_reader.h"

#define HASH_CHUNK (1u << 20)
/* Files of a layout directory and the archive are opened like this: a FIFO
 * or device put in place of one never blocks the open, a symlink at the
 * last component is refused, and fstat then wants a regular file. */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* Shared by the loop and the reader thread. The loop owns j, done and
 * running; the thread writes the results, which the loop reads only after
 * the thread signalled done. refs: one for each side; the last one frees. */
typedef struct imp {
    pthread_mutex_t mu;
    int refs;
    bool detached; /* the job let go: the thread signals nobody */
    atomic_bool cancel;
    uv_async_t *done;
    img_job *j;
    bool running;
    /* in */
    img_ref_kind kind;
    char *file, *tag;
    const char *arch, *variant;
    /* the thread's */
    int fd;
    int64_t file_size;
    tar_index tar;
    /* out: err, the reason it failed (the thread returns at the first) */
    orch_error *err;
    char *stamp, *file_digest;
    oci_image img;
} imp;

static void imp_unref(imp *m)
{
    pthread_mutex_lock(&m->mu);
    bool last = --m->refs == 0;
    pthread_mutex_unlock(&m->mu);
    if (!last)
        return;
    pthread_mutex_destroy(&m->mu);
    tar_index_free(&m->tar);
    oci_image_free(&m->img);
    if (m->fd >= 0)
        close(m->fd);
    orch_error_free(m->err);
    free(m->stamp);
    free(m->file_digest);
    free(m->file);
    free(m->tag);
    free(m);
}

/* ---------------------------------------------------------------- reading */

static int read_fd(int fd, void *buf, size_t n, int64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno ? errno : EIO;
        if (r == 0)
            return EIO; /* shorter than it was */
        got += (size_t)r;
    }
    return 0;
}

static int tar_read(void *ctx, void *buf, size_t n, int64_t off)
{
    return read_fd(((imp *)ctx)->fd, buf, n, off);
}

/* A regular file of the layout directory, opened safely; -1 otherwise. */
static int open_layout_file(const char *path, struct stat *st)
{
    int fd = open(path, OPEN_FLAGS | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

static bool src_locate(void *ctx, const char *name, oci_loc *loc)
{
    imp *m = ctx;
    if (m->kind == REF_OCI_ARCHIVE) {
        const tar_member *mb = tar_find(&m->tar, name);
        if (!mb)
            return false;
        *loc = (oci_loc){NULL, mb->off, mb->size};
        return true;
    }
    char *p = xasprintf("%s/%s", m->file, name);
    struct stat st;
    int fd = open_layout_file(p, &st);
    if (fd < 0) {
        free(p);
        return false;
    }
    close(fd);
    *loc = (oci_loc){p, 0, st.st_size};
    return true;
}

static int src_read(void *ctx, const oci_loc *loc, void *buf, size_t n)
{
    imp *m = ctx;
    if (m->kind == REF_OCI_ARCHIVE)
        return read_fd(m->fd, buf, n, loc->off);
    struct stat st;
    int fd = open_layout_file(loc->path, &st);
    if (fd < 0)
        return errno ? errno : EIO;
    int e = read_fd(fd, buf, n, 0);
    close(fd);
    return e;
}

static void hash_file(imp *m)
{
    orch_sha256 c;
    orch_sha256_init(&c);
    char *buf = xmalloc(HASH_CHUNK);
    int64_t off = 0;
    while (off < m->file_size) {
        if (atomic_load(&m->cancel)) {
            m->err = orch_error_new(ORCH_E_CANCELLED, "cancelled");
            free(buf);
            return;
        }
        size_t n = m->file_size - off < (int64_t)HASH_CHUNK ? (size_t)(m->file_size - off)
                                                             : HASH_CHUNK;
        int e = read_fd(m->fd, buf, n, off);
        if (e) {
            m->err = orch_error_errno(e, "reading %s", m->file);
            free(buf);
            return;
        }
        orch_sha256_update(&c, buf, n);
        off += (int64_t)n;
    }
    free(buf);
    uint8_t d[32];
    char hex[65];
    orch_sha256_final(&c, d);
    orch_hex(d, 32, hex);
    m->file_digest = xasprintf("sha256:%s", hex);
}

static void set_stamp(imp *m, const struct stat *st)
{
    m->stamp = xasprintf("%lld.%09ld:%llu", (long long)st->st_mtim.tv_sec,
                         (long)st->st_mtim.tv_nsec, (unsigned long long)st->st_size);
}

static void work(imp *m)
{
    struct stat st;
    if (m->kind == REF_OCI_ARCHIVE) {
        m->fd = open(m->file, OPEN_FLAGS);
        if (m->fd < 0) {
            m->err = orch_error_errno(errno, "cannot read the archive %s", m->file);
            return;
        }
        if (fstat(m->fd, &st) != 0) {
            m->err = orch_error_errno(errno, "cannot read the archive %s", m->file);
            return;
        }
        if (!S_ISREG(st.st_mode)) {
            m->err = orch_error_new(ORCH_E_INVALID, "%s is not a file (for a layout directory, use oci:%s)", m->file, m->file);
            return;
        }
        set_stamp(m, &st);
        m->file_size = st.st_size;
        tar_source ts = {.read = tar_read, .ctx = m, .size = m->file_size, .name = m->file,
                         .cancel = &m->cancel};
        if (tar_scan(&ts, &m->tar, &m->err) != 0)
            return;
        if (m->tar.n == 0) {
            m->err = orch_error_new(ORCH_E_CORRUPT, "%s is an empty archive", m->file);
            return;
        }
    } else {
        char *p = xasprintf("%s/index.json", m->file);
        int fd = open_layout_file(p, &st);
        if (fd < 0) {
            m->err = orch_error_errno(errno, "cannot read the layout %s", p);
            free(p);
            return;
        }
        close(fd);
        free(p);
        set_stamp(m, &st);
        struct stat d;
        if (stat(m->file, &d) != 0 || !S_ISDIR(d.st_mode)) {
            m->err = orch_error_new(ORCH_E_INVALID, "%s is not a directory", m->file);
            return;
        }
    }
    oci_source src = {.ctx = m,
                      .locate = src_locate,
                      .read = src_read,
                      .name = m->file,
                      .is_archive = m->kind == REF_OCI_ARCHIVE,
                      .tag = m->tag,
                      .arch = m->arch,
                      .variant = m->variant,
                      .cancel = &m->cancel};
    if (oci_resolve(&src, &m->img, &m->err) != 0)
        return;
    if (m->kind == REF_OCI_ARCHIVE)
        hash_file(m);
    else
        m->file_digest = xstrdup(m->img.index_digest);
}

static void *reader_thread(void *arg)
{
    imp *m = arg;
    work(m);
    if (m->fd >= 0) {
        close(m->fd);
        m->fd = -1;
    }
    pthread_mutex_lock(&m->mu);
    if (!m->detached)
        uv_async_send(m->done);
    pthread_mutex_unlock(&m->mu);
    imp_unref(m);
    return NULL;
}

/* ---------------------------------------------------------------- on the loop */

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void close_done(imp *m)
{
    uv_close((uv_handle_t *)m->done, free_handle);
    m->done = NULL;
}

static void on_read(uv_async_t *a)
{
    imp *m = a->data;
    img_job *j = m->j;
    close_done(m);
    m->running = false;
    if (job_returned(j))
        return;
    if (m->err) {
        job_fail(j, m->err);
        m->err = NULL;
        return;
    }
    oci_image *img = &m->img;
    job_set_target(j, img->top_mt, img->top_digest, img->top_size);
    size_t nl = 0;
    const char *labels[] = {LABEL_IMPORT_SOURCE, m->file, LABEL_IMPORT_STAMP, m->stamp,
                            LABEL_IMPORT_DIGEST, m->file_digest};
    j->record_labels = xcalloc(7, sizeof *j->record_labels);
    for (size_t i = 0; i < 6; i++)
        j->record_labels[nl++] = xstrdup(labels[i] ? labels[i] : "");
    if (j->import_names) {
        for (size_t i = 0; i < img->n_names; i++) {
            bool dup = false;
            for (size_t k = 0; k < j->n_names; k++)
                dup |= strcmp(j->names[k], img->names[i]) == 0;
            if (dup)
                continue;
            j->names = xrealloc(j->names, (j->n_names + 2) * sizeof *j->names);
            j->names[j->n_names++] = xstrdup(img->names[i]);
            j->names[j->n_names] = NULL;
        }
    }
    /* config and layers from the file; then the JSON, children first */
    for (size_t i = 0; i < img->n_blobs; i++) {
        oci_blob *p = &img->blobs[i];
        if (p->mem)
            continue;
        job_blob *b = job_add_blob(j, p->digest, p->mt, p->size, p->what, false);
        job_blob_from_file(b, p->loc.path ? p->loc.path : xstrdup(m->file), p->loc.off);
        p->loc.path = NULL;
    }
    for (size_t i = img->n_blobs; i-- > 0;) {
        oci_blob *p = &img->blobs[i];
        if (!p->mem)
            continue;
        job_blob *b = job_add_blob(j, p->digest, p->mt, p->size, p->what, true);
        job_blob_from_memory(b, p->mem, p->mem_len);
        p->mem = NULL;
        for (size_t k = 0; k < p->n_labels; k++)
            job_blob_label(b, p->labels[2 * k], p->labels[2 * k + 1]);
    }
    job_emit_image(j, "resolved", "digest", j->target_digest);
    job_run_blobs(j);
}

/* The reader runs with every signal blocked: the loop's signal handling
 * stays on the loop thread. */
static int start_reader(imp *m)
{
    pthread_attr_t attr;
    pthread_t t;
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t, &attr, reader_thread, m);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

static void imp_begin(img_job *j)
{
    imp *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    atomic_init(&m->cancel, false);
    m->refs = 1;
    j->src_state = m;
    m->j = j;
    m->fd = -1;
    m->kind = j->ref.kind;
    m->file = xstrdup(j->ref.file);
    m->tag = j->ref.file_tag ? xstrdup(j->ref.file_tag) : NULL;
    m->arch = ctd_host_arch(&m->variant); /* static strings: the thread may read them */
    job_emit_image(j, "importing", "file", m->file);
    m->done = xcalloc(1, sizeof *m->done);
    m->done->data = m;
    int rc = uv_async_init(j->loop, m->done, on_read);
    if (rc != 0) {
        free(m->done);
        m->done = NULL;
        job_fail(j, ctd_uv_error(rc, "cannot start the import"));
        return;
    }
    m->refs = 2; /* the thread's */
    j->busy++;
    m->running = true;
    rc = start_reader(m);
    if (rc != 0) {
        m->refs = 1;
        m->running = false;
        j->busy--;
        close_done(m);
        job_fail(j, orch_error_errno(rc, "cannot start the import"));
    }
}

static void imp_cancel(img_job *j)
{
    imp *m = j->src_state;
    if (!m || !m->running)
        return;
    /* the thread stops at its next header, blob or chunk, or (stuck in a
     * read) whenever the read returns; either way the job does not wait */
    atomic_store(&m->cancel, true);
    pthread_mutex_lock(&m->mu);
    m->detached = true;
    pthread_mutex_unlock(&m->mu);
    close_done(m);
    m->running = false;
    m->j = NULL;
    j->src_state = NULL;
    j->busy--;
    fprintf(stderr, "orchd: image %s: reading %s cancelled\n", j->name, m->file);
    imp_unref(m);
}

static void imp_free(img_job *j)
{
    imp *m = j->src_state;
    if (!m)
        return;
    j->src_state = NULL;
    imp_unref(m);
}

const image_source_ops archive_source = {.kind = "import",
                                         .done_status = "imported",
                                         .parallel = 2,
                                         .begin = imp_begin,
                                         .cancel = imp_cancel,
                                         .free = imp_free};
