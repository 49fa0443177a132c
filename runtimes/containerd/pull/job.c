/* Image jobs (pull_internal.h): the part pulls and imports share. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "containerd/services/images/v1/images.pb-c.h"
#include "containerd/services/leases/v1/leases.pb-c.h"
#include "pull/pull_internal.h"
#include "xalloc.h"

#define LEASE_EXPIRY_S 3600
#define REGISTRY_PARALLEL 3
#define FILE_CHUNK (1u << 20)
#define MAX_RETRIES 2
#define EMIT_EVERY_MS 250

#define M_LEASE_CREATE "/containerd.services.leases.v1.Leases/Create"
#define M_LEASE_DELETE "/containerd.services.leases.v1.Leases/Delete"
#define M_IMAGE_CREATE "/containerd.services.images.v1.Images/Create"
#define M_IMAGE_UPDATE "/containerd.services.images.v1.Images/Update"

static img_job *jobs;

img_job *job_find(const char *name)
{
    for (img_job *j = jobs; j; j = j->next)
        if (strcmp(j->name, name) == 0 && !j->finishing)
            return j;
    return NULL;
}

size_t jobs_count(void)
{
    size_t n = 0;
    for (img_job *j = jobs; j; j = j->next)
        n++;
    return n;
}

uv_loop_t *job_loop(const img_job *j)
{
    return j->rt->loop;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* ---------------------------------------------------------------- progress */

static void gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_kv(yajl_gen g, const char *k, const char *v)
{
    gen_str(g, k);
    gen_str(g, v);
}

static void gen_num(yajl_gen g, const char *k, long long v)
{
    gen_str(g, k);
    yajl_gen_integer(g, v);
}

static void emit(img_job *j, yajl_gen g)
{
    yajl_gen_map_close(g);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    for (size_t i = 0; i < j->n_w; i++)
        if (j->w[i].progress)
            j->w[i].progress(j->w[i].arg, (const char *)buf);
    yajl_gen_free(g);
}

static bool has_listeners(const img_job *j)
{
    for (size_t i = 0; i < j->n_w; i++)
        if (j->w[i].progress)
            return true;
    return false;
}

static uint64_t elapsed_ms(const img_job *j)
{
    return uv_now(j->rt->loop) - j->t0;
}

void job_emit_image(img_job *j, const char *status, const char *key, const char *value)
{
    if (!has_listeners(j))
        return;
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    gen_kv(g, "image", j->name);
    gen_kv(g, "status", status);
    if (key && value)
        gen_kv(g, key, value);
    if (strcmp(status, "pulled") == 0 || strcmp(status, "imported") == 0 ||
        strcmp(status, "failed") == 0) {
        gen_num(g, "bytes", j->fetched);
        gen_num(g, "ms", (long long)elapsed_ms(j));
        gen_num(g, "layers", (long long)j->n_layers);
        gen_num(g, "existed", (long long)j->n_existed);
    }
    emit(j, g);
}

void job_emit_blob(job_blob *b, const char *status)
{
    img_job *j = b->j;
    if (!has_listeners(j))
        return;
    uint64_t now = uv_now(j->rt->loop);
    if (strcmp(status, "downloading") == 0) {
        if (b->t_emit && now - b->t_emit < EMIT_EVERY_MS)
            return;
    }
    b->t_emit = now;
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    gen_kv(g, "image", j->name);
    const char *hex = strchr(b->digest, ':');
    char id[13];
    snprintf(id, sizeof id, "%.12s", hex ? hex + 1 : b->digest);
    gen_kv(g, "id", id);
    gen_kv(g, "what", b->what);
    gen_kv(g, "status", status);
    int64_t done = b->g ? ingest_position(b->g) : (b->state == BLOB_DONE ? b->size : 0);
    if (strcmp(status, "done") == 0 || strcmp(status, "exists") == 0)
        done = b->size;
    gen_num(g, "done", done);
    gen_num(g, "total", b->size);
    uint64_t ms = b->t_start ? now - b->t_start : 0;
    if (ms > 0 && done > b->from)
        gen_num(g, "rate", (long long)((done - b->from) * 1000 / (int64_t)ms));
    emit(j, g);
}

/* ---------------------------------------------------------------- blobs */

job_blob *job_add_blob(img_job *j, const char *digest, const char *media_type, int64_t size,
                       const char *what, bool last_phase)
{
    for (size_t i = 0; i < j->n_blobs; i++)
        if (strcmp(j->blobs[i]->digest, digest) == 0)
            return j->blobs[i];
    job_blob *b = xcalloc(1, sizeof *b);
    b->j = j;
    b->digest = xstrdup(digest);
    b->media_type = xstrdup(media_type ? media_type : "application/octet-stream");
    b->size = size;
    b->what = what;
    b->last_phase = last_phase;
    b->labels = xcalloc(1, sizeof *b->labels);
    b->fd = -1;
    j->blobs = xrealloc(j->blobs, (j->n_blobs + 1) * sizeof *j->blobs);
    j->blobs[j->n_blobs++] = b;
    if (strcmp(what, "layer") == 0)
        j->n_layers++;
    return b;
}

void job_blob_label(job_blob *b, const char *key, const char *value)
{
    size_t n = 0;
    while (b->labels[n])
        n++;
    b->labels = xrealloc(b->labels, (n + 3) * sizeof *b->labels);
    b->labels[n] = xstrdup(key);
    b->labels[n + 1] = xstrdup(value);
    b->labels[n + 2] = NULL;
}

static void blob_free(job_blob *b)
{
    free(b->digest);
    free(b->media_type);
    strv_free(b->labels);
    free(b->mem);
    free(b->path);
    free(b->rbuf);
    free(b);
}

static void maybe_end(img_job *j);
static void records(img_job *j);
static void start_blob(job_blob *b);

/* Another job's blob of this digest is over: ours may go now (it finds the
 * blob in the store, or fetches it itself if that job failed). */
static void wake(const char *digest)
{
    for (img_job *k = jobs; k; k = k->next) {
        bool any = false;
        for (size_t i = 0; i < k->n_blobs; i++) {
            job_blob *b = k->blobs[i];
            if (b->state == BLOB_WAITING && strcmp(b->digest, digest) == 0) {
                b->state = BLOB_PENDING;
                any = true;
            }
        }
        if (any && !k->failing)
            job_run_blobs(k);
    }
}

static job_blob *running_elsewhere(img_job *j, const char *digest)
{
    for (img_job *k = jobs; k; k = k->next) {
        if (k == j)
            continue;
        for (size_t i = 0; i < k->n_blobs; i++)
            if (k->blobs[i]->state == BLOB_RUNNING && strcmp(k->blobs[i]->digest, digest) == 0)
                return k->blobs[i];
    }
    return NULL;
}

void job_run_blobs(img_job *j)
{
    if (j->failing || j->finishing)
        return;
    j->blobs_started = true;
    bool first_left = false, all_done = true;
    for (size_t i = 0; i < j->n_blobs; i++) {
        job_blob *b = j->blobs[i];
        if (b->state != BLOB_DONE) {
            all_done = false;
            if (!b->last_phase)
                first_left = true;
        }
    }
    if (all_done) {
        if (j->running == 0 && j->busy == 0)
            records(j);
        return;
    }
    for (size_t i = 0; i < j->n_blobs && j->running < j->max_running; i++) {
        job_blob *b = j->blobs[i];
        if (b->last_phase && (first_left || j->running > 0))
            break; /* manifests one after the other, after what they name */
        if (b->state == BLOB_RUNNING && b->last_phase)
            break;
        if (b->state != BLOB_PENDING)
            continue;
        start_blob(b);
        if (j->failing)
            return;
    }
}

/* ---- the end of one blob ---- */

static void blob_finish(job_blob *b)
{
    img_job *j = b->j;
    if (b->rr)
        reg_cancel_blob(b);
    if (b->fd >= 0) {
        close(b->fd);
        b->fd = -1;
    }
    j->running--;
    int result = b->result;
    char *err = b->result_err;
    b->result_err = NULL;
    b->have_result = false;
    if (result == INGEST_OK) {
        b->state = BLOB_DONE;
        job_emit_blob(b, "done");
    } else if (result == INGEST_EXISTS) {
        b->state = BLOB_DONE;
        if (strcmp(b->what, "layer") == 0)
            j->n_existed++;
        job_emit_blob(b, "exists");
    } else if (!j->failing && b->http_failed_transient && b->retries < MAX_RETRIES) {
        /* resumed from where the store stands (the ref was kept) */
        b->retries++;
        b->state = BLOB_RETRY;
        job_emit_blob(b, "retrying");
        uv_timer_start(j->retry_timer, NULL, 0, 0); /* replaced below */
    } else {
        b->state = BLOB_DONE;
        if (!j->failing)
            job_emit_blob(b, "failed");
        job_fail(j, "%s", err ? err : "failed");
    }
    free(err);
    wake(b->digest);
    if (b->state == BLOB_RETRY) {
        extern void job_retry_later(img_job * j, int attempt);
        job_retry_later(j, b->retries);
    }
    if (j->failing)
        maybe_end(j);
    else
        job_run_blobs(j);
}
