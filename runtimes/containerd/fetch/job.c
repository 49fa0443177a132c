/* Image jobs (pull_internal.h): the part pulls and imports share. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>

#include "containerd/services/images/v1/images.pb-c.h"
#include "containerd/services/leases/v1/leases.pb-c.h"
#include "containerd/core/lease.h"
#include "containerd/fetch/pull_internal.h"
#include "common/xalloc.h"

#define MAX_RETRIES 2
#define EMIT_EVERY_MS 250


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
    return j->loop;
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
            j->w[i].progress(j->w[i].parg, (const char *)buf);
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
    return uv_now(j->loop) - j->t0;
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
    uint64_t now = uv_now(j->loop);
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
    if (b->g)
        b->pos = ingest_position(b->g);
    int64_t done = b->pos;
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

void job_blob_read_with(job_blob *b, const blob_reader_ops *reader, void *state)
{
    if (b->reader)
        b->reader->free(b->reader_state);
    b->reader = reader;
    b->reader_state = state;
}

static void blob_free(job_blob *b)
{
    free(b->digest);
    free(b->media_type);
    strv_free(b->labels);
    if (b->reader)
        b->reader->free(b->reader_state);
    orch_error_free(b->result_err);
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

/* ---- retries ---- */

static void on_retry_timer(uv_timer_t *t)
{
    img_job *j = t->data;
    if (j->failing || j->finishing)
        return;
    for (size_t i = 0; i < j->n_blobs; i++)
        if (j->blobs[i]->state == BLOB_RETRY)
            j->blobs[i]->state = BLOB_PENDING;
    job_run_blobs(j);
}

/* ---- the end of one blob ---- */

static void blob_finish(job_blob *b)
{
    img_job *j = b->j;
    b->reader->stop(b);
    j->running--;
    int result = b->result;
    orch_error *err = b->result_err;
    b->result_err = NULL;
    b->have_result = false;
    bool retry = false;
    if (result == INGEST_OK) {
        b->state = BLOB_DONE;
        job_emit_blob(b, "done");
    } else if (result == INGEST_EXISTS) {
        b->state = BLOB_DONE;
        if (strcmp(b->what, "layer") == 0)
            j->n_existed++;
        job_emit_blob(b, "exists");
    } else if (!j->failing && b->failed_transient && b->retries < MAX_RETRIES) {
        /* again from where the store stands: the ref was kept */
        b->retries++;
        b->state = BLOB_RETRY;
        retry = true;
        fprintf(stderr, "orchd: image %s: %s; retrying\n", j->name, err ? err->msg : "failed");
        job_emit_blob(b, "retrying");
    } else {
        b->state = BLOB_DONE;
        if (!j->failing)
            job_emit_blob(b, "failed");
        job_fail(j, err ? err : orch_error_new(ORCH_E_INTERNAL, "failed"));
        err = NULL;
    }
    b->failed_transient = false;
    orch_error_free(err);
    wake(b->digest);
    if (retry && !j->failing)
        uv_timer_start(j->retry_timer, on_retry_timer, 1000u * (uint64_t)b->retries, 0);
    if (j->failing)
        maybe_end(j);
    else
        job_run_blobs(j);
}

static void on_ingest_done(void *arg, int result, const orch_error *err)
{
    job_blob *b = arg;
    b->g = NULL;
    b->result = result;
    orch_error_free(b->result_err);
    b->result_err = ctd_error_dup(err);
    b->have_result = true;
    if (b->reader->in_flight && b->reader->in_flight(b))
        return; /* the read in flight finishes it (job_blob_settle) */
    blob_finish(b);
}

void job_blob_settle(job_blob *b)
{
    if (b->have_result)
        blob_finish(b);
}

/* ---- the ingest's callbacks ---- */

static void on_ready(void *arg, int64_t off)
{
    job_blob *b = arg;
    b->from = off;
    if (off >= b->size) { /* written earlier, not committed */
        ingest_end(b->g);
        return;
    }
    b->reader->start(b, off);
}

static void on_drained(void *arg)
{
    job_blob *b = arg;
    if (b->reader->drained)
        b->reader->drained(b);
}

static const ingest_cbs blob_cbs = {on_ready, on_drained, on_ingest_done};

static void start_blob(job_blob *b)
{
    img_job *j = b->j;
    if (running_elsewhere(j, b->digest)) {
        b->state = BLOB_WAITING; /* woken when that one is over */
        return;
    }
    b->state = BLOB_RUNNING;
    b->t_start = uv_now(j->loop);
    b->t_emit = 0;
    j->running++;
    b->g = pull_closed() ? NULL : ingest_start(j->rt, j->lease, b->digest, b->size, (const char *const *)b->labels,
                        &blob_cbs, b);
    if (!b->g) {
        j->running--;
        b->state = BLOB_DONE;
        job_fail(j, ctd_closing_error());
    }
}

/* ---------------------------------------------------------------- the job */

static void job_free(img_job *j)
{
    for (size_t i = 0; i < j->n_blobs; i++)
        blob_free(j->blobs[i]);
    free(j->blobs);
    free(j->w);
    j->src->free(j);
    free(j->lease);
    free(j->target_mt);
    free(j->target_digest);
    strv_free(j->names);
    strv_free(j->record_labels);
    orch_error_free(j->err);
    img_ref_free(&j->ref);
    free(j);
}

static void on_timer_closed(uv_handle_t *h)
{
    img_job *j = h->data;
    ctd_rt *rt = j->rt;
    free(h);
    job_free(j);
    pull_job_gone(rt);
}

/* Tells everyone, then goes (the job is off the list before any callback). */
static void notify(img_job *j, const orch_error *err)
{
    for (img_job **p = &jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    j->finishing = true;
    if (err) {
        fprintf(stderr, "orchd: image %s: %s\n", j->name, err->msg);
        job_emit_image(j, "failed", "error", err->msg);
    } else {
        job_emit_image(j, j->src->done_status, "digest", j->target_digest);
    }
    for (size_t i = 0; i < j->n_w; i++)
        j->w[i].done(j->w[i].arg, j->name, err);
    uv_timer_stop(j->retry_timer);
    uv_close((uv_handle_t *)j->retry_timer, on_timer_closed);
}

typedef struct lease_del {
    img_job *j;
    void (*then)(img_job *j);
} lease_del;

static void on_lease_deleted(void *arg, grpc_status_code st, const char *details,
                             ProtobufCMessage *reply)
{
    lease_del *d = arg;
    img_job *j = d->j;
    j->busy--;
    if (st != GRPC_STATUS_OK && st != GRPC_STATUS_NOT_FOUND)
        fprintf(stderr, "orchd: containerd: deleting lease %s: %s (it expires in %d s)\n",
                j->lease, details, CTD_LEASE_EXPIRY_S);
    free(j->lease);
    j->lease = NULL;
    void (*then)(img_job *) = d->then;
    free(d);
    then(j);
}

/* Leases.Delete (sync: the lease goes with everything it alone held). */
static void drop_lease(img_job *j, void (*then)(img_job *j))
{
    if (!j->lease || !j->rt->conn) {
        then(j);
        return;
    }
    lease_del *d = xcalloc(1, sizeof *d);
    d->j = j;
    d->then = then;
    Containerd__Services__Leases__V1__DeleteRequest req =
        CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
    req.id = j->lease;
    req.sync = true;
    j->busy++;
    if (ctd_rt_call(j->rt, CTD_M_LEASE_DELETE, &req.base, NULL, NULL, 0, false, on_lease_deleted, d) !=
        0) {
        j->busy--;
        free(d);
        then(j);
    }
}

static void end_failed(img_job *j)
{
    if (!j->err)
        j->err = orch_error_new(ORCH_E_INTERNAL, "failed");
    notify(j, j->err);
}

/* Ends the job at once with e (taken): for failures after the blobs, when
 * nothing of the job runs any more. */
static void end_now(img_job *j, orch_error *e)
{
    j->failing = true;
    orch_error_free(j->err);
    j->err = e;
    notify(j, e);
}

static void on_end_timer(uv_timer_t *t)
{
    img_job *j = t->data;
    drop_lease(j, end_failed);
}

/* A failing job ends once nothing of it runs: always from the loop, never
 * inside the call that failed it. */
static void maybe_end(img_job *j)
{
    if (!j->failing || j->finishing || j->aborted || j->running > 0 || j->busy > 0)
        return;
    j->aborted = true;
    uv_timer_stop(j->retry_timer);
    uv_timer_start(j->retry_timer, on_end_timer, 0, 0);
}

void job_fail(img_job *j, orch_error *e)
{
    if (!j->err)
        j->err = e; /* the first reason is the one that counts */
    else
        orch_error_free(e);
    if (j->failing)
        return;
    j->failing = true;
    for (size_t i = 0; i < j->n_blobs; i++) {
        job_blob *b = j->blobs[i];
        if (b->state == BLOB_RUNNING) {
            b->reader->stop(b);
            if (b->g)
                ingest_fail(b->g, orch_error_new(ORCH_E_CANCELLED, "stopped: the image failed"), false);
        } else if (b->state != BLOB_DONE) {
            b->state = BLOB_DONE;
        }
    }
    j->src->cancel(j);
    maybe_end(j);
}

bool job_returned(img_job *j)
{
    j->busy--;
    if (j->failing) {
        maybe_end(j);
        return true;
    }
    return false;
}

void job_set_target(img_job *j, const char *media_type, const char *digest, int64_t size)
{
    free(j->target_mt);
    free(j->target_digest);
    j->target_mt = xstrdup(media_type);
    j->target_digest = xstrdup(digest);
    j->target_size = size;
}

/* ---- success: records, lease, unpack ---- */

static void done_ok(img_job *j)
{
    notify(j, NULL);
}

static void on_unpacked(void *arg, const orch_error *err)
{
    img_job *j = arg;
    j->busy--;
    if (err && err->code == ORCH_E_UNSUPPORTED && !j->rt->snapshotter_fixed) {
        /* a start falls back to another snapshotter by itself */
        fprintf(stderr, "orchd: image %s: not unpacked now: %s\n", j->name, err->msg);
        err = NULL;
    }
    if (err) {
        end_now(j, ctd_error_dup(err));
        return;
    }
    done_ok(j);
}

static void on_resolved(void *arg, ctd_image *img, const char *name, const orch_error *err)
{
    img_job *j = arg;
    if (err) {
        j->busy--;
        end_now(j, ctd_error_dup(err));
        return;
    }
    job_emit_image(j, "unpacking", NULL, NULL);
    int rc = ctd_unpack_ensure(j->rt, img, j->rt->snapshotter, on_unpacked, j);
    ctd_image_unref(img);
    if (rc != 0) {
        j->busy--;
        end_now(j, ctd_closing_error());
    }
}

static void unpack(img_job *j)
{
    j->busy++;
    if (pull_closed() || !j->rt->conn || ctd_image_get(j->rt, j->name, on_resolved, j) != 0) {
        j->busy--;
        end_now(j, ctd_closing_error());
    }
}

static void record_next(img_job *j, size_t i);

typedef struct rec_call {
    img_job *j;
    size_t i;
    bool updating;
} rec_call;

static int record_send(rec_call *rc);

static void on_record(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *reply)
{
    rec_call *rc = arg;
    img_job *j = rc->j;
    if (st == GRPC_STATUS_ALREADY_EXISTS && !rc->updating) {
        rc->updating = true;
        if (record_send(rc) == 0)
            return;
        st = GRPC_STATUS_CANCELLED;
        details = "the containerd connection is closing";
    }
    size_t i = rc->i;
    free(rc);
    if (job_returned(j))
        return;
    if (st != GRPC_STATUS_OK) {
        job_fail(j, orch_error_prefix(ctd_status_error(st, details), "recording image %s", j->names[i]));
        return;
    }
    record_next(j, i + 1);
}

static int record_send(rec_call *rc)
{
    img_job *j = rc->j;
    Containerd__Types__Descriptor d = CONTAINERD__TYPES__DESCRIPTOR__INIT;
    d.media_type = j->target_mt;
    d.digest = j->target_digest;
    d.size = j->target_size;
    Containerd__Services__Images__V1__Image img = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
    img.name = j->names[rc->i];
    img.target = &d;
    size_t n = 0;
    while (j->record_labels && j->record_labels[2 * n])
        n++;
    Containerd__Services__Images__V1__Image__LabelsEntry *es = n ? xcalloc(n, sizeof *es) : NULL;
    Containerd__Services__Images__V1__Image__LabelsEntry **eps = n ? xcalloc(n, sizeof *eps) : NULL;
    for (size_t k = 0; k < n; k++) {
        Containerd__Services__Images__V1__Image__LabelsEntry e =
            CONTAINERD__SERVICES__IMAGES__V1__IMAGE__LABELS_ENTRY__INIT;
        e.key = j->record_labels[2 * k];
        e.value = j->record_labels[2 * k + 1];
        es[k] = e;
        eps[k] = &es[k];
    }
    img.n_labels = n;
    img.labels = eps;
    int r;
    if (!rc->updating) {
        Containerd__Services__Images__V1__CreateImageRequest req =
            CONTAINERD__SERVICES__IMAGES__V1__CREATE_IMAGE_REQUEST__INIT;
        req.image = &img;
        r = ctd_rt_call(j->rt, CTD_M_IMAGES_CREATE, &req.base, NULL, j->lease, 0, false, on_record, rc);
    } else {
        /* no mask: the whole record (target and labels) is replaced */
        Containerd__Services__Images__V1__UpdateImageRequest req =
            CONTAINERD__SERVICES__IMAGES__V1__UPDATE_IMAGE_REQUEST__INIT;
        req.image = &img;
        r = ctd_rt_call(j->rt, CTD_M_IMAGES_UPDATE, &req.base, NULL, j->lease, 0, false, on_record, rc);
    }
    free(es);
    free(eps);
    return r;
}

static void after_records_lease(img_job *j)
{
    unpack(j);
}

static void record_next(img_job *j, size_t i)
{
    if (i >= j->n_names) {
        /* the records hold everything now: the lease can go */
        drop_lease(j, after_records_lease);
        return;
    }
    rec_call *rc = xcalloc(1, sizeof *rc);
    rc->j = j;
    rc->i = i;
    j->busy++;
    if (pull_closed() || record_send(rc) != 0) {
        free(rc);
        j->busy--;
        job_fail(j, ctd_closing_error());
    }
}

static void records(img_job *j)
{
    if (j->recording || j->failing)
        return;
    if (!j->target_digest) {
        job_fail(j, orch_error_new(ORCH_E_CORRUPT, "no image was found"));
        return;
    }
    j->recording = true;
    record_next(j, 0);
}

/* ---- the start ---- */

static void on_lease(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *reply)
{
    img_job *j = arg;
    if (st != GRPC_STATUS_OK) {
        free(j->lease);
        j->lease = NULL;
    }
    if (job_returned(j))
        return;
    if (st != GRPC_STATUS_OK) {
        job_fail(j, orch_error_prefix(ctd_status_error(st, details), "creating a lease"));
        return;
    }
    j->src->begin(j);
}

img_job *job_new(ctd_rt *rt, img_ref *ref, const image_source_ops *src)
{
    img_job *j = xcalloc(1, sizeof *j);
    j->rt = rt;
    j->loop = rt->loop;
    j->ref = *ref;
    memset(ref, 0, sizeof *ref);
    j->name = j->ref.name;
    j->src = src;
    j->max_running = src->parallel;
    j->t0 = uv_now(rt->loop);
    j->names = xcalloc(2, sizeof *j->names);
    j->names[0] = xstrdup(j->name);
    j->n_names = 1;
    j->retry_timer = xcalloc(1, sizeof *j->retry_timer);
    uv_timer_init(rt->loop, j->retry_timer);
    j->retry_timer->data = j;
    j->next = jobs;
    jobs = j;

    char *uniq = ctd_random_hex(8);
    j->lease = xasprintf("orchd-%s-%s", src->kind, uniq);
    free(uniq);
    ctd_lease_create lc;
    ctd_lease_create_init(&lc, j->lease);
    j->busy++;
    if (pull_closed() || ctd_rt_call(rt, CTD_M_LEASE_CREATE, &lc.req.base,
                    &containerd__services__leases__v1__create_response__descriptor, NULL, 0, false,
                    on_lease, j) != 0) {
        j->busy--;
        free(j->lease);
        j->lease = NULL;
        job_fail(j, ctd_closing_error());
    }
    return j;
}

void job_add_waiter(img_job *j, const job_waiter *w)
{
    j->w = xrealloc(j->w, (j->n_w + 1) * sizeof *j->w);
    j->w[j->n_w++] = *w;
}

void jobs_shutdown(void)
{
    for (img_job *j = jobs; j; j = j->next)
        if (!j->failing)
            job_fail(j, orch_error_new(ORCH_E_CORRUPT, "orchd is shutting down"));
}
