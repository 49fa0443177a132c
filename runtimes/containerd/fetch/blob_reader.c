/* Blob readers (pull_internal.h) for bytes on this machine: memory (the
 * manifests and indexes a source read and checked already) and a file (an
 * archive's member, a layout's blob), read on libuv's thread pool a chunk at
 * a time as the ingest takes them. The registry's reader is in registry.c. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "containerd/fetch/pull_internal.h"
#include "common/xalloc.h"

#define FILE_CHUNK (1u << 20)

/* ---------------------------------------------------------------- memory */

typedef struct mem_reader {
    char *mem;
    size_t len;
} mem_reader;

static void mem_start(job_blob *b, int64_t off)
{
    mem_reader *m = b->reader_state;
    ingest_feed(b->g, m->mem + off, m->len - (size_t)off);
    ingest_end(b->g);
}

static void mem_stop(job_blob *b)
{
    (void)b;
}

static void mem_free(void *state)
{
    mem_reader *m = state;
    free(m->mem);
    free(m);
}

static const blob_reader_ops memory_reader = {
    .start = mem_start, .stop = mem_stop, .free = mem_free};

void job_blob_from_memory(job_blob *b, char *mem, size_t len)
{
    mem_reader *m = xcalloc(1, sizeof *m);
    m->mem = mem;
    m->len = len;
    job_blob_read_with(b, &memory_reader, m);
}

/* ---------------------------------------------------------------- a file */

typedef struct file_reader {
    char *path;   /* the file, and where the blob starts in it */
    int64_t off;
    uv_fs_t fs;
    int fd;
    char *buf;
    int64_t pos;  /* how much of the blob was read */
    bool reading; /* an open or read in flight */
    bool wait_drain;
} file_reader;

static void file_read_next(job_blob *b);

static void on_file_read(uv_fs_t *req)
{
    job_blob *b = req->data;
    file_reader *f = b->reader_state;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    f->reading = false;
    if (!b->g) {
        job_blob_settle(b);
        return;
    }
    if (n < 0) {
        ingest_fail(b->g, ctd_uv_error((int)n, "reading %s from %s", b->digest, f->path), false);
        return;
    }
    if (n == 0) {
        ingest_fail(b->g,
                    orch_error_new(ORCH_E_CORRUPT,
                                   "%s ends inside blob %s (%lld of %lld bytes): the file is truncated",
                                   f->path, b->digest, (long long)f->pos, (long long)b->size),
                    false);
        return;
    }
    b->j->fetched += n;
    ingest_feed(b->g, f->buf, (size_t)n);
    f->pos += n;
    job_emit_blob(b, "importing");
    if (f->pos >= b->size)
        ingest_end(b->g);
    else if (ingest_full(b->g))
        f->wait_drain = true;
    else
        file_read_next(b);
}

static void file_read_next(job_blob *b)
{
    file_reader *f = b->reader_state;
    int64_t left = b->size - f->pos;
    size_t n = left < (int64_t)FILE_CHUNK ? (size_t)left : FILE_CHUNK;
    if (!f->buf)
        f->buf = xmalloc(FILE_CHUNK);
    uv_buf_t buf = uv_buf_init(f->buf, (unsigned)n);
    f->fs.data = b;
    f->reading = true;
    int rc = uv_fs_read(job_loop(b->j), &f->fs, f->fd, &buf, 1, f->off + f->pos, on_file_read);
    if (rc != 0) {
        f->reading = false;
        ingest_fail(b->g, ctd_uv_error(rc, "reading %s", f->path), false);
    }
}

static void on_file_open(uv_fs_t *req)
{
    job_blob *b = req->data;
    file_reader *f = b->reader_state;
    ssize_t fd = req->result;
    uv_fs_req_cleanup(req);
    f->reading = false;
    if (fd >= 0)
        f->fd = (int)fd;
    if (!b->g) {
        job_blob_settle(b);
        return;
    }
    if (fd < 0) {
        ingest_fail(b->g, ctd_uv_error((int)fd, "cannot open %s", f->path), false);
        return;
    }
    file_read_next(b);
}

static void file_start(job_blob *b, int64_t off)
{
    file_reader *f = b->reader_state;
    f->pos = off;
    f->wait_drain = false;
    f->fs.data = b;
    f->reading = true;
    if (uv_fs_open(job_loop(b->j), &f->fs, f->path, O_RDONLY | O_CLOEXEC, 0, on_file_open) != 0) {
        f->reading = false;
        ingest_fail(b->g, orch_error_new(ORCH_E_IO, "cannot open %s", f->path), false);
    }
}

static void file_drained(job_blob *b)
{
    file_reader *f = b->reader_state;
    if (f->wait_drain && !f->reading && b->g) {
        f->wait_drain = false;
        file_read_next(b);
    }
}

/* A read in flight keeps its fd until it comes back (job_blob_settle). */
static void file_stop(job_blob *b)
{
    file_reader *f = b->reader_state;
    if (!f->reading && f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}

static bool file_in_flight(const job_blob *b)
{
    const file_reader *f = b->reader_state;
    return f->reading;
}

static void file_free(void *state)
{
    file_reader *f = state;
    if (f->fd >= 0)
        close(f->fd);
    free(f->path);
    free(f->buf);
    free(f);
}

static const blob_reader_ops file_reader_ops = {.start = file_start,
                                                .drained = file_drained,
                                                .stop = file_stop,
                                                .in_flight = file_in_flight,
                                                .free = file_free};

void job_blob_from_file(job_blob *b, char *path, int64_t off)
{
    file_reader *f = xcalloc(1, sizeof *f);
    f->path = path;
    f->off = off;
    f->fd = -1;
    job_blob_read_with(b, &file_reader_ops, f);
}
