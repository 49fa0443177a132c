/* The image entry points (pull.h): the pull policy, "make this image
 * present" for starts and for the daemon's pull and import requests, and
 * the module's init and shutdown hooks. Jobs (job.c) do the work; one job
 * per image name, so services and requests that want the same image share
 * one pull. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yajl/yajl_gen.h>

#include "containerd/services/images/v1/images.pb-c.h"
#include "containerd/fetch/fetch.h"
#include "containerd/fetch/pull_internal.h"
#include "common/xalloc.h"

#define FAIL_MEMORY_MS 30000


static ctd_rt *the_rt;
static bool closed;
static char policy[16] = "missing";
static unsigned generation = 1;

bool pull_closed(void)
{
    return closed;
}

void pull_job_gone(ctd_rt *rt)
{
    if (closed && jobs_count() == 0) {
        http_shutdown();
        ctd_rt_work_done(rt);
    }
}

bool ctd_pull_busy(const ctd_rt *rt)
{
    (void)rt;
    return jobs_count() > 0;
}

/* ---------------------------------------------------------------- notes */

/* What happened to an image name lately: pulled in which generation (for
 * "always": once per grow), or failed when (a start right after a failed
 * pull reports that failure instead of trying again at once). */
typedef struct note {
    struct note *next;
    char *name;
    unsigned pulled_gen;
    uint64_t fail_at;
    orch_error *fail;
} note;

static note *notes;

static note *note_get(const char *name)
{
    for (note *n = notes; n; n = n->next)
        if (strcmp(n->name, name) == 0)
            return n;
    note *n = xcalloc(1, sizeof *n);
    n->name = xstrdup(name);
    n->next = notes;
    notes = n;
    return n;
}

static void notes_free(void)
{
    while (notes) {
        note *n = notes;
        notes = n->next;
        free(n->name);
        orch_error_free(n->fail);
        free(n);
    }
}

static const orch_error *recent_failure(ctd_rt *rt, const char *name)
{
    for (note *n = notes; n; n = n->next)
        if (strcmp(n->name, name) == 0 && n->fail && uv_now(rt->loop) - n->fail_at < FAIL_MEMORY_MS)
            return n->fail;
    return NULL;
}

/* ---------------------------------------------------------------- Images.Get */

typedef void (*got_cb)(void *arg, grpc_status_code st, const char *details,
                       const Containerd__Services__Images__V1__Image *img);

typedef struct get_call {
    got_cb cb;
    void *arg;
    ctd_rt *rt;
    char *name;
    int retries_left; /* a service's start retries UNAVAILABLE a few times */
    uv_timer_t timer;
} get_call;

/* A service's start retries while containerd is UNAVAILABLE for a moment:
 * containerd may be a service that just became healthy while orchd's
 * channel still backs off from a connect that failed earlier (grow's early
 * pull ran before containerd did, as in examples/demo). A containerd that
 * stays away still gets its own clear error, after ~3 s. */
#define GET_RETRIES 12
#define GET_RETRY_MS 250

static int issue_get(get_call *g);

static void get_call_free(uv_handle_t *h)
{
    get_call *g = h->data;
    free(g->name);
    free(g);
}

static void get_call_done(get_call *g)
{
    uv_close((uv_handle_t *)&g->timer, get_call_free);
}

static void on_retry(uv_timer_t *t)
{
    get_call *g = t->data;
    if (closed || issue_get(g) != 0) {
        g->cb(g->arg, GRPC_STATUS_UNAVAILABLE, "containerd not reachable: orchd is shutting down",
              NULL);
        get_call_done(g);
    }
}

/* No socket file at all: containerd is not about to answer, so waiting for
 * it only hides the cause (a missing file is known at once). */
static bool socket_missing(ctd_rt *rt)
{
    struct stat sb;
    return stat(ctd_conn_path(rt->conn), &sb) != 0 && errno == ENOENT;
}

static void on_got(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *reply)
{
    get_call *g = arg;
    if (st == GRPC_STATUS_UNAVAILABLE && !closed && !socket_missing(g->rt) &&
        g->retries_left-- > 0) {
        uv_timer_start(&g->timer, on_retry, GET_RETRY_MS, 0);
        return;
    }
    const Containerd__Services__Images__V1__Image *img = NULL;
    if (st == GRPC_STATUS_OK && reply)
        img = ((Containerd__Services__Images__V1__GetImageResponse *)reply)->image;
    if (st == GRPC_STATUS_OK && !img)
        st = GRPC_STATUS_NOT_FOUND;
    g->cb(g->arg, st, details, img);
    get_call_done(g);
}

static int issue_get(get_call *g)
{
    Containerd__Services__Images__V1__GetImageRequest req =
        CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
    req.name = g->name;
    return ctd_rt_call(g->rt, CTD_M_IMAGES_GET, &req.base,
                       &containerd__services__images__v1__get_image_response__descriptor, NULL, 0,
                       false, on_got, g);
}

/* retry: for a service's start (see GET_RETRIES); grow's early pull and
 * orchd pull fail fast. */
static int get_image(ctd_rt *rt, const char *name, bool retry, got_cb cb, void *arg)
{
    if (closed)
        return -ESHUTDOWN;
    get_call *g = xcalloc(1, sizeof *g);
    g->cb = cb;
    g->arg = arg;
    g->rt = rt;
    g->name = xstrdup(name);
    g->retries_left = retry ? GET_RETRIES : 0;
    uv_timer_init(rt->loop, &g->timer);
    g->timer.data = g;
    int rc = issue_get(g);
    if (rc != 0)
        get_call_done(g);
    return rc;
}

static const char *image_label(const Containerd__Services__Images__V1__Image *img, const char *k)
{
    for (size_t i = 0; img && i < img->n_labels; i++)
        if (img->labels[i]->key && strcmp(img->labels[i]->key, k) == 0)
            return img->labels[i]->value;
    return NULL;
}

/* ---------------------------------------------------------------- acquire */

/* Makes one image present as a policy says; cb(name, err) with the record's
 * name. */
typedef void (*acq_cb)(void *arg, const char *name, const orch_error *err);

typedef struct acq {
    ctd_rt *rt;
    img_ref ref;
    char *name;  /* ref.name (ref goes to a job) */
    char *image; /* as written */
    char pol[16];
    bool force_import, import_names, tried_raw;
    bool for_start; /* "always" means once per grow for starts */
    orch_image_progress_cb progress;
    void *parg;
    acq_cb cb;
    void *arg;
    char *stamp;
    uv_fs_t fs;
} acq;

/* Over: cb hears err (taken; NULL: the image is there, as name). */
static void acq_finish(acq *a, const char *name, orch_error *err)
{
    a->cb(a->arg, name, err);
    orch_error_free(err);
    img_ref_free(&a->ref);
    free(a->name);
    free(a->image);
    free(a->stamp);
    free(a);
}

static void emit_plain(acq *a, const char *status, const char *key, const char *value)
{
    if (!a->progress)
        return;
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    yajl_gen_string(g, (const unsigned char *)"image", 5);
    yajl_gen_string(g, (const unsigned char *)a->name, strlen(a->name));
    yajl_gen_string(g, (const unsigned char *)"status", 6);
    yajl_gen_string(g, (const unsigned char *)status, strlen(status));
    if (key && value) {
        yajl_gen_string(g, (const unsigned char *)key, strlen(key));
        yajl_gen_string(g, (const unsigned char *)value, strlen(value));
    }
    yajl_gen_map_close(g);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    a->progress(a->parg, (const char *)buf);
    yajl_gen_free(g);
}

/* containerd itself down (it may be a service this very grow starts, as in
 * examples/demo) says nothing about the image: such a failure is not
 * remembered, so the start, once containerd is up, pulls again. Told by
 * the code (unreachable, or no answer in time) while the channel to
 * containerd is down: a registry that cannot be reached is remembered. */
static bool is_containerd_down(ctd_rt *rt, const orch_error *err)
{
    return err && (err->code == ORCH_E_UNAVAILABLE || err->code == ORCH_E_TIMEOUT) &&
           (!rt->conn || ctd_conn_down(rt->conn));
}

static void on_job_done(void *arg, const char *name, const orch_error *err)
{
    acq *a = arg;
    if (!closed && !is_containerd_down(a->rt, err)) {
        note *n = note_get(a->name);
        orch_error_free(n->fail);
        n->fail = ctd_error_dup(err);
        n->fail_at = err ? uv_now(a->rt->loop) : 0;
        if (!err)
            n->pulled_gen = generation;
    }
    acq_finish(a, name, ctd_error_dup(err));
}

static void run_job(acq *a, const image_source_ops *src)
{
    img_job *j = job_find(a->name);
    if (!j) {
        img_ref ref = a->ref;
        memset(&a->ref, 0, sizeof a->ref);
        j = job_new(a->rt, &ref, src);
        img_ref_free(&ref);
    }
    if (a->import_names)
        j->import_names = true;
    job_waiter w = {.done = on_job_done, .arg = a, .progress = a->progress, .parg = a->parg};
    job_add_waiter(j, &w);
}

/* registry images: "missing" and "never" look in the store first, under the
 * normalised name and as written */
static void on_present(void *arg, grpc_status_code st, const char *details,
                       const Containerd__Services__Images__V1__Image *img);

static void look_up(acq *a, const char *name)
{
    if (get_image(a->rt, name, a->for_start, on_present, a) != 0)
        acq_finish(a, NULL, ctd_closing_error());
}

static void on_present(void *arg, grpc_status_code st, const char *details,
                       const Containerd__Services__Images__V1__Image *img)
{
    acq *a = arg;
    if (st == GRPC_STATUS_OK) {
        char *name = xstrdup(img->name ? img->name : a->name);
        emit_plain(a, "present", "digest", img->target ? img->target->digest : NULL);
        acq_finish(a, name, NULL);
        free(name);
        return;
    }
    if (st != GRPC_STATUS_NOT_FOUND) {
        acq_finish(a, NULL, ctd_status_error(st, details));
        return;
    }
    if (!a->tried_raw && strcmp(a->image, a->name) != 0) {
        /* once more, as written ("busybox" imported under that name) */
        a->tried_raw = true;
        look_up(a, a->image);
        return;
    }
    if (strcmp(a->pol, "never") == 0) {
        acq_finish(a, NULL,
                   orch_error_new(ORCH_E_NOT_FOUND,
                                  "image %s is not in containerd's store (namespace %s) and the "
                                  "pull policy is never",
                                  a->image, ctd_conn_namespace(a->rt->conn)));
        return;
    }
    /* a start right after a failed pull (grow's, or another start's)
     * reports that failure rather than trying again at once */
    const orch_error *f = a->for_start ? recent_failure(a->rt, a->name) : NULL;
    if (f) {
        acq_finish(a, NULL, ctd_error_dup(f));
        return;
    }
    run_job(a, &registry_source);
}

/* local sources: imported already from the file as it is now? */
static void on_local_record(void *arg, grpc_status_code st, const char *details,
                            const Containerd__Services__Images__V1__Image *img)
{
    acq *a = arg;
    if (st != GRPC_STATUS_OK && st != GRPC_STATUS_NOT_FOUND) {
        acq_finish(a, NULL, ctd_status_error(st, details));
        return;
    }
    const char *had = st == GRPC_STATUS_OK ? image_label(img, LABEL_IMPORT_STAMP) : NULL;
    if (!a->force_import && had && strcmp(had, a->stamp) == 0) {
        emit_plain(a, "present", "digest", img->target ? img->target->digest : NULL);
        acq_finish(a, a->name, NULL);
        return;
    }
    run_job(a, &archive_source);
}

static void on_local_stat(uv_fs_t *req)
{
    acq *a = req->data;
    int rc = (int)req->result;
    if (rc == 0) {
        a->stamp = xasprintf("%lld.%09ld:%llu", (long long)req->statbuf.st_mtim.tv_sec,
                             (long)req->statbuf.st_mtim.tv_nsec,
                             (unsigned long long)req->statbuf.st_size);
    }
    uv_fs_req_cleanup(req);
    if (closed) {
        acq_finish(a, NULL, orch_error_new(ORCH_E_CANCELLED, "orchd is shutting down"));
        return;
    }
    if (rc != 0) {
        orch_error *e = a->ref.kind == REF_OCI_ARCHIVE
                            ? ctd_uv_error(rc, "cannot read the archive %s", a->ref.file)
                            : ctd_uv_error(rc, "cannot read the layout %s: %s/index.json",
                                           a->ref.file, a->ref.file);
        acq_finish(a, NULL, e);
        return;
    }
    if (get_image(a->rt, a->name, a->for_start, on_local_record, a) != 0)
        acq_finish(a, NULL, ctd_closing_error());
}

/* Starts; cb always runs later. */
static void acquire(acq *a)
{
    if (a->ref.kind != REF_REGISTRY) {
        char *path = a->ref.kind == REF_OCI_ARCHIVE ? xstrdup(a->ref.file)
                                                    : xasprintf("%s/index.json", a->ref.file);
        a->fs.data = a;
        int rc = uv_fs_stat(a->rt->loop, &a->fs, path, on_local_stat);
        free(path);
        if (rc != 0) {
            a->fs.result = rc;
            on_local_stat(&a->fs); /* NB: only on a libuv failure to queue */
        }
        return;
    }
    if (strcmp(a->pol, "always") == 0) {
        bool fresh = false;
        for (note *n = notes; n; n = n->next)
            if (strcmp(n->name, a->name) == 0 && n->pulled_gen == generation)
                fresh = true;
        /* a start: pulled since the last grow, or failed just now: what the
         * store has */
        if (a->for_start && !job_find(a->name) && (fresh || recent_failure(a->rt, a->name))) {
            look_up(a, a->name);
            return;
        }
        run_job(a, &registry_source);
        return;
    }
    look_up(a, a->name);
}

static acq *acq_new(ctd_rt *rt, img_ref *ref, const char *image, const char *pol)
{
    acq *a = xcalloc(1, sizeof *a);
    a->rt = rt;
    a->ref = *ref;
    memset(ref, 0, sizeof *ref);
    a->name = xstrdup(a->ref.name);
    a->image = xstrdup(image);
    snprintf(a->pol, sizeof a->pol, "%s", pol && *pol ? pol : policy);
    return a;
}

/* ---------------------------------------------------------------- starts */

typedef struct ens {
    ctd_rt *rt;
    char *service, *image;
    img_ref_kind kind;
    char pol[16];
    ctd_image_cb cb;
    void *arg;
} ens;

static void ens_free(ens *e)
{
    free(e->service);
    free(e->image);
    free(e);
}

static void on_ensured(void *arg, const char *name, const orch_error *err)
{
    ens *e = arg;
    orch_error *m = NULL;
    if (!err && closed) {
        m = orch_error_new(ORCH_E_CANCELLED, "orchd is shutting down");
    } else if (err) {
        m = orch_error_new(err->code, "%s", err->msg);
        m->sys_errno = err->sys_errno;
        if (e->kind != REF_REGISTRY)
            orch_error_prefix(m, "importing image %s", e->image);
        else if (strcmp(e->pol, "always") == 0)
            orch_error_prefix(m, "pulling image %s", e->image);
        else if (is_containerd_down(e->rt, err)) { /* the cause, not the image, comes first */
            orch_error_free(m);
            m = orch_error_new(err->code, "%s (so image %s could not be looked up or pulled)",
                               err->msg, e->image);
        } else {
            orch_error_free(m);
            m = orch_error_new(err->code,
                               "image %s is not in containerd's store (namespace %s); pull or "
                               "import it first (orchd's pull failed: %s)",
                               e->image, ctd_conn_namespace(e->rt->conn), err->msg);
        }
    } else if (ctd_image_get(e->rt, name, e->cb, e->arg) != 0) {
        m = ctd_closing_error();
    }
    if (m)
        e->cb(e->arg, NULL, NULL, m);
    orch_error_free(m);
    ens_free(e);
}

int ctd_image_ensure(ctd_rt *rt, const char *service, const char *image, const char *project_dir,
                     ctd_image_cb cb, void *arg)
{
    if (closed)
        return -ESHUTDOWN;
    img_ref ref;
    if (img_ref_parse(image, project_dir, &ref, NULL) != 0) {
        /* not something orchd can pull: only what the store has */
        return ctd_image_get(rt, image, cb, arg);
    }
    if (ref.kind == REF_REGISTRY && strcmp(policy, "never") == 0) {
        img_ref_free(&ref);
        return ctd_image_get(rt, image, cb, arg);
    }
    ens *e = xcalloc(1, sizeof *e);
    e->rt = rt;
    e->service = xstrdup(service ? service : "?");
    e->image = xstrdup(image);
    e->kind = ref.kind;
    snprintf(e->pol, sizeof e->pol, "%s", policy);
    e->cb = cb;
    e->arg = arg;
    acq *a = acq_new(rt, &ref, image, policy);
    a->for_start = true;
    a->cb = on_ensured;
    a->arg = e;
    acquire(a);
    return 0;
}

/* ---------------------------------------------------------------- the daemon's requests */

typedef struct batch {
    size_t pending;
    orch_errc code; /* the first failure's; 0: none */
    char *report;
    size_t len, cap;
    orch_image_progress_cb progress;
    orch_image_done_cb done;
    void *arg;
    uv_timer_t *timer;
} batch;

typedef struct item {
    batch *b;
    char *image;
    char **services;
    size_t n_services;
} item;

static void report_line(batch *b, const char *line)
{
    size_t n = strlen(line);
    xgrow((void **)&b->report, &b->cap, b->len + n + 2, 1);
    memcpy(b->report + b->len, line, n);
    b->len += n;
    b->report[b->len++] = '\n';
    b->report[b->len] = '\0';
}

static void on_batch_timer_closed(uv_handle_t *h)
{
    batch *b = h->data;
    free(b->report);
    free(b);
    free(h);
}

static void batch_finish(batch *b)
{
    if (b->report && b->len && b->report[b->len - 1] == '\n')
        b->report[--b->len] = '\0';
    orch_error *e = b->code ? orch_error_new(b->code, "%s", b->report) : NULL;
    b->done(b->arg, e);
    orch_error_free(e);
    uv_close((uv_handle_t *)b->timer, on_batch_timer_closed);
}

static void on_batch_timer(uv_timer_t *t)
{
    batch_finish(t->data);
}

static void item_done(void *arg, const char *name, const orch_error *err)
{
    item *it = arg;
    batch *b = it->b;
    if (err) {
        if (!b->code)
            b->code = err->code;
        for (size_t i = 0; i < it->n_services; i++) {
            char *line = xasprintf("service %s: image %s: %s", it->services[i], it->image, err->msg);
            report_line(b, line);
            free(line);
        }
        if (it->n_services == 0) {
            char *line = xasprintf("image %s: %s", it->image, err->msg);
            report_line(b, line);
            free(line);
        }
    }
    for (size_t i = 0; i < it->n_services; i++)
        free(it->services[i]);
    free(it->services);
    free(it->image);
    free(it);
    if (--b->pending == 0)
        batch_finish(b);
}

static batch *batch_new(ctd_rt *rt, orch_image_progress_cb progress, orch_image_done_cb done,
                        void *arg)
{
    batch *b = xcalloc(1, sizeof *b);
    b->progress = progress;
    b->done = done;
    b->arg = arg;
    b->timer = xcalloc(1, sizeof *b->timer);
    uv_timer_init(rt->loop, b->timer);
    b->timer->data = b;
    b->pending = 1; /* the setup's own: dropped at its end */
    return b;
}

static void batch_setup_done(batch *b)
{
    if (--b->pending == 0)
        uv_timer_start(b->timer, on_batch_timer, 0, 0); /* never inside the request */
}

static void batch_item(ctd_rt *rt, batch *b, item *it, const char *image, const char *pol,
                       const char *project_dir, bool force_import)
{
    img_ref ref;
    orch_error *err = NULL;
    b->pending++;
    if (img_ref_parse(image, project_dir, &ref, &err) != 0) {
        item_done(it, NULL, err);
        orch_error_free(err);
        return;
    }
    acq *a = acq_new(rt, &ref, image, pol);
    a->force_import = force_import;
    a->import_names = force_import;
    a->progress = b->progress;
    a->parg = b->arg;
    a->cb = item_done;
    a->arg = it;
    acquire(a);
}

static int op_pull(const orch_service *const *svcs, size_t n, const char *pol,
                   const char *project_dir, orch_image_progress_cb progress, orch_image_done_cb done,
                   void *arg, orch_error **err)
{
    ctd_rt *rt = the_rt;
    if (!rt || closed)
        return orch_error_set(err, orch_error_new(ORCH_E_CANCELLED, "the containerd runtime is shut down"));
    if (pol && strcmp(pol, "always") && strcmp(pol, "missing") && strcmp(pol, "never"))
        return orch_error_set(err, orch_error_new(ORCH_E_INVALID, "pull policy '%s': expected always, missing or never", pol));
    batch *b = batch_new(rt, progress, done, arg);
    /* one item per distinct image, naming every service that wants it */
    item **items = xcalloc(n + 1, sizeof *items);
    size_t n_items = 0;
    for (size_t i = 0; i < n; i++) {
        const orch_service *s = svcs[i];
        if (!s->image || !*s->image)
            continue;
        item *it = NULL;
        for (size_t k = 0; k < n_items && !it; k++)
            if (strcmp(items[k]->image, s->image) == 0)
                it = items[k];
        if (!it) {
            it = xcalloc(1, sizeof *it);
            it->b = b;
            it->image = xstrdup(s->image);
            items[n_items++] = it;
        }
        it->services = xrealloc(it->services, (it->n_services + 1) * sizeof *it->services);
        it->services[it->n_services++] = xstrdup(s->name ? s->name : "?");
    }
    for (size_t k = 0; k < n_items; k++) {
        item *it = items[k];
        char *image = xstrdup(it->image);
        batch_item(rt, b, it, image, pol ? pol : "missing", project_dir, false);
        free(image);
    }
    free(items);
    batch_setup_done(b);
    return 0;
}

static int op_import(const char *path, orch_image_progress_cb progress, orch_image_done_cb done,
                     void *arg, orch_error **err)
{
    ctd_rt *rt = the_rt;
    if (!rt || closed)
        return orch_error_set(err, orch_error_new(ORCH_E_CANCELLED, "the containerd runtime is shut down"));
    struct stat st;
    if (stat(path, &st) != 0)
        return orch_error_set(err, orch_error_errno(errno, "%s", path));
    char *image = S_ISDIR(st.st_mode) ? xasprintf("oci:%s", path) : xasprintf("oci-archive:%s", path);
    batch *b = batch_new(rt, progress, done, arg);
    item *it = xcalloc(1, sizeof *it);
    it->b = b;
    it->image = xstrdup(image);
    batch_item(rt, b, it, image, "always", "/", true);
    free(image);
    batch_setup_done(b);
    return 0;
}

static void op_set_pull_policy(const char *p)
{
    snprintf(policy, sizeof policy, "%s", p && *p ? p : "missing");
    generation++;
}

const orch_image_ops ctd_image_ops = {
    .set_pull_policy = op_set_pull_policy,
    .pull = op_pull,
    .import = op_import,
};

/* ---------------------------------------------------------------- init, shutdown */

void ctd_pull_init(ctd_rt *rt)
{
    the_rt = rt;
    closed = false;
}

void ctd_pull_shutdown(ctd_rt *rt)
{
    (void)rt;
    closed = true;
    the_rt = NULL;
    /* every job fails now, aborts its content refs and deletes its lease;
     * the connection stays open until the last is gone (ctd_pull_busy) */
    jobs_shutdown();
    notes_free();
    if (jobs_count() == 0)
        http_shutdown();
}
