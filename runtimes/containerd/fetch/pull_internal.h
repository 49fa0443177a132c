/* Inside the image code (pull/, import/): one job per image reference,
 * shared by every service and request that wants that image.
 *
 *   job: Leases.Create -> (registry.c: resolve the manifest, or import.c:
 *   read the archive) -> blobs into the content store (ingest.c), children
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
struct reg;
struct imp;

typedef enum { SRC_MEMORY, SRC_FILE, SRC_HTTP } src_kind;

struct job_blob {
    img_job *j;
    char *digest, *media_type;
    int64_t size;
    const char *what; /* "layer", "config", "manifest", "index" */
    char **labels;    /* key, value, ..., NULL */
    bool last_phase;  /* manifests and indexes: after everything they name */
    src_kind src;
    char *mem; /* SRC_MEMORY */
    size_t mem_len;
    char *path; /* SRC_FILE: the file, and where the blob starts in it */
    int64_t file_off;

    int state; /* BLOB_* */
    ingest *g;
    int64_t from;  /* where the source started */
    int64_t pos;   /* where it was last seen (for progress) */
    int retries;
    uint64_t t_start, t_emit;
    bool http_failed_transient;
    /* SRC_HTTP */
    struct reg_req *rr;
    bool paused, saw_first;
    /* SRC_FILE */
    uv_fs_t fs;
    int fd;
    char *rbuf;
    int64_t rpos;
    bool reading, wait_drain;
    /* the ingest's outcome, kept while a file read is still in flight */
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
    bool is_import;
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
    struct reg *reg;
    struct imp *imp;
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
/* A new job for ref (taken over: *ref is left empty), started at once. */
img_job *job_new(ctd_rt *rt, img_ref *ref, bool is_import);
void job_add_waiter(img_job *j, const job_waiter *w);
job_blob *job_add_blob(img_job *j, const char *digest, const char *media_type, int64_t size,
                       const char *what, bool last_phase);
void job_blob_label(job_blob *b, const char *key, const char *value);
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

/* ---- registry.c ---- */
void reg_begin(img_job *j);
void reg_cancel(img_job *j);
void reg_free(img_job *j);
/* Starts (or resumes at from) the download of b; the answer feeds b->g. */
int reg_fetch_blob(img_job *j, job_blob *b, int64_t from);
void reg_cancel_blob(job_blob *b);
void reg_resume_blob(job_blob *b);

/* ---- import.c ---- */
void imp_begin(img_job *j);
void imp_cancel(img_job *j);
void imp_free(img_job *j);
#define LABEL_IMPORT_SOURCE "orchd.import.source"
#define LABEL_IMPORT_STAMP "orchd.import.stamp"
#define LABEL_IMPORT_DIGEST "orchd.import.digest"

#endif
