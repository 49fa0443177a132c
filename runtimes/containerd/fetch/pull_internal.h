/* Inside the image code (fetch/): one job per image reference, shared by
 * every service and request that wants that image.
 *
 *   job: Leases.Create -> the source's begin (registry.c: resolve the
 *   manifest, or import.c: read the archive) -> blobs into the content store
 *   (ingest.c), each fed by its reader (http, file, memory), children
 *   before parents, at most a few at a time -> Images.Create/Update ->
 *   Leases.Delete -> unpack (unpack.c) -> every waiter's callback.
 *
 * A failure stops what runs, aborts the content refs it was writing, deletes
 * the lease, and tells every waiter; nothing half-written stays behind. */
#ifndef ORCH_PULL_INTERNAL_H
#define ORCH_PULL_INTERNAL_H

#include <stdbool.h>
#include <yajl/yajl_tree.h>
#include <stdint.h>
#include <uv.h>

#include "containerd/store/store.h"
#include "containerd/fetch/oci_layout.h" /* media types, jstr, jint */
#include "containerd/fetch/http.h"
#include "containerd/fetch/ingest.h"
#include "containerd/fetch/ref.h"


typedef struct img_job img_job;
typedef struct job_blob job_blob;

/* Where an image comes from: a registry (registry.c) or a file on disk
 * (import.c). The job drives it without knowing which. */
typedef struct image_source_ops {
    const char *kind;        /* "pull", "import": the lease's name */
    const char *done_status; /* "pulled", "imported": the last progress line */
    size_t parallel;         /* blobs stored at the same time */
    /* The lease exists: find the image, job_set_target, job_add_blob each
     * blob (with its reader), then job_run_blobs; or job_fail. */
    void (*begin)(img_job *j);
    /* The job fails: stop whatever of the source still runs. */
    void (*cancel)(img_job *j);
    /* The job goes: free j->src_state. */
    void (*free)(img_job *j);
} image_source_ops;
extern const image_source_ops registry_source; /* registry.c */
extern const image_source_ops archive_source;  /* import.c: oci-archive: and oci: */

/* Where one blob's bytes come from: the registry over http (registry.c), a
 * file (an archive member or a layout's blob), or memory (manifests and
 * indexes already read and checked). blob_reader.c has the last two. */
typedef struct blob_reader_ops {
    /* The ingest b->g takes bytes from off (< b->size): feed it until
     * ingest_end, or ingest_fail. */
    void (*start)(job_blob *b, int64_t off);
    /* The ingest has room again (may be NULL). */
    void (*drained)(job_blob *b);
    /* Stop feeding: the blob ends or the job fails. A request in flight
     * that cannot be taken back may still answer: then in_flight is true
     * and the reader calls job_blob_settle when it comes back. */
    void (*stop)(job_blob *b);
    bool (*in_flight)(const job_blob *b); /* may be NULL */
    void (*free)(void *state);
} blob_reader_ops;

struct job_blob {
    img_job *j;
    char *digest, *media_type;
    int64_t size;
    const char *what; /* "layer", "config", "manifest", "index" */
    char **labels;    /* key, value, ..., NULL */
    bool last_phase;  /* manifests and indexes: after everything they name */
    const blob_reader_ops *reader;
    void *reader_state;

    int state; /* BLOB_* */
    ingest *g;
    int64_t from;  /* where the source started */
    int64_t pos;   /* where it was last seen (for progress) */
    int retries;
    uint64_t t_start, t_emit;
    bool failed_transient; /* the reader says the failure may pass: retry */
    /* the ingest's outcome, kept while a read is still in flight */
    bool have_result;
    int result;
    orch_error *result_err;
};

enum { BLOB_PENDING, BLOB_WAITING, BLOB_RUNNING, BLOB_RETRY, BLOB_DONE };

typedef struct job_waiter {
    void (*done)(void *arg, const char *name, const orch_error *err);
    void *arg;
    orch_image_progress_cb progress; /* may be NULL */
    void *parg;
} job_waiter;

struct img_job {
    img_job *next;
    ctd_rt *rt;
    uv_loop_t *loop;
    img_ref ref;
    const char *name; /* ref.name: the image record, and the job's key */
    const image_source_ops *src;
    void *src_state; /* the source's */
    bool import_names; /* orchd import: also the names the archive gives */
    char *lease;
    job_waiter *w;
    size_t n_w;
    job_blob **blobs;
    size_t n_blobs;
    size_t running;
    size_t max_running;
    int busy; /* other requests in flight (HTTP, threadpool, containerd) */
    bool blobs_started;
    char *target_mt, *target_digest;
    int64_t target_size;
    char **names; /* the records to write: name first */
    size_t n_names;
    char **record_labels; /* key, value, ..., NULL */
    orch_error *err; /* why it failed (the first reason) */
    bool failing, finishing, aborted, recording;
    uint64_t t0;
    int64_t fetched; /* bytes that came over the network or from the file */
    size_t n_layers, n_existed;
    uv_timer_t *retry_timer;
};

/* ---- pull.c ---- */
/* True once the module shuts down: from then on nothing may touch the
 * runtime (it goes when its connection has closed). */
bool pull_closed(void);
/* A job is gone: a shutdown waiting for the last one may go on. */
void pull_job_gone(ctd_rt *rt);

/* ---- job.c ---- */
/* The job of name, or NULL. */
img_job *job_find(const char *name);
/* A new job for ref (taken over: *ref is left empty) from src, started at
 * once. */
img_job *job_new(ctd_rt *rt, img_ref *ref, const image_source_ops *src);
void job_add_waiter(img_job *j, const job_waiter *w);
job_blob *job_add_blob(img_job *j, const char *digest, const char *media_type, int64_t size,
                       const char *what, bool last_phase);
void job_blob_label(job_blob *b, const char *key, const char *value);
/* Where b's bytes come from: reader with its state (taken; freed with
 * reader->free). */
void job_blob_read_with(job_blob *b, const blob_reader_ops *reader, void *state);
/* b's bytes: len bytes at mem (taken), or size bytes of the file path
 * (taken) from off (blob_reader.c). */
void job_blob_from_memory(job_blob *b, char *mem, size_t len);
void job_blob_from_file(job_blob *b, char *path, int64_t off);
/* A reader's request in flight came back after the ingest had ended: the
 * blob's outcome can be handled now. */
void job_blob_settle(job_blob *b);
/* Every blob is known: store them. */
void job_run_blobs(img_job *j);
/* The job fails with e (taken): everything stops, every waiter hears e. */
void job_fail(img_job *j, orch_error *e);
/* A request counted in j->busy came back: true when the job is failing (the
 * caller drops what it got and returns). */
bool job_returned(img_job *j);
void job_set_target(img_job *j, const char *media_type, const char *digest, int64_t size);
/* Progress lines for the job's waiters. */
void job_emit_image(img_job *j, const char *status, const char *key, const char *value);
void job_emit_blob(job_blob *b, const char *status);
/* The loop. */
uv_loop_t *job_loop(const img_job *j);
/* Cancels everything (module shutdown). */
void jobs_shutdown(void);
size_t jobs_count(void);

/* ---- import.c ---- */
#define LABEL_IMPORT_SOURCE "orchd.import.source"
#define LABEL_IMPORT_STAMP "orchd.import.stamp"
#define LABEL_IMPORT_DIGEST "orchd.import.digest"

#endif
