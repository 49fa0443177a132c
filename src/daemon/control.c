/* The control socket: accept, check the peer (SO_PEERCRED: root or our own
 * uid), read one JSON request line, act, write one JSON reply line, close.
 *
 * Running out of file descriptors is a passing condition, not a reason to
 * drop clients: we accept ourselves (not uv_listen, whose EMFILE handling
 * closes pending connections unanswered), and on EMFILE/ENFILE pause
 * accepting for ACCEPT_RETRY_MS while the connections wait in the backlog.
 * At most ORCH_CONN_MAX connections are open; one more gets an error reply.
 * A connection that sends no request within the idle timeout is closed.
 * Each refusal leaves a line in the daemon's log (stderr: orchd.log). */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "common/rmtree.h"
#include "common/xalloc.h"
#include "daemon/daemon.h"
#include "orchfile/orchfile.h"
#include "protocol/protocol.h"
#include "daemon/runtime_loader.h"
#include "runtime/reaper.h"

#define ACCEPT_RETRY_MS 100

typedef struct conn {
    uv_pipe_t pipe;
    uv_timer_t idle; /* no request yet: closes after the idle timeout */
    int handles;     /* of pipe and idle, not closed yet */
    orch_daemon *d;
    char *buf;
    size_t len, cap;
    int closed;  /* the handle is closing or closed */
    bool refused; /* answered with an error at once: drained, then closed */
    bool counted; /* one of the n_conns (refused ones are not) */
    int pending; /* an operation will reply later; keep the struct alive */
    orch_request req;
    int fell_all;
    uv_timer_t *fell_timer; /* fell's bound: fell_bound_ms */
    orch_model *model; /* grow: the model, while its images are pulled */
    struct conn *prev, *next; /* every open connection, for shutdown */
} conn;

static conn *open_conns;
static size_t n_conns; /* accepted and not refused: at most ORCH_CONN_MAX */
static uint64_t idle_ms = ORCH_CONN_IDLE_MS;

static void conn_free(conn *c)
{
    orch_request_free(&c->req);
    free(c->buf);
    free(c);
}

static void on_close(uv_handle_t *h)
{
    conn *c = h->data;
    if (--c->handles > 0)
        return;
    c->closed = 2;
    if (c->counted)
        n_conns--;
    if (c->prev)
        c->prev->next = c->next;
    else
        open_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (!c->pending)
        conn_free(c);
}

static void conn_close(conn *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    uv_close((uv_handle_t *)&c->idle, on_close);
    uv_close((uv_handle_t *)&c->pipe, on_close);
}

/* The reply is done with; free the conn if its handle already closed. */
static void conn_done(conn *c)
{
    c->pending = 0;
    if (c->closed == 2) {
        conn_free(c);
    } else {
        conn_close(c);
    }
}

typedef struct write_req {
    uv_write_t w;
    char *data;
    conn *c;
} write_req;

/* The reply went out (or could not): a full fell then stops the daemon,
 * whatever became of the client. */
static void on_drain_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);

static void on_drain_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void reply_finished(conn *c)
{
    /* A refused client may still be sending its request: closing now would
     * turn its write into EPIPE and our reply into a reset. Read and drop
     * what it sends for a moment, then close. */
    if (c->refused && !c->closed) {
        c->pending = 0;
        c->refused = false;
        if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_drain_read) != 0) {
            conn_close(c);
            return;
        }
        uv_timer_start(&c->idle, on_drain_timeout, 1000, 0);
        return;
    }
    int shutdown = c->fell_all;
    orch_daemon *d = c->d;
    conn_done(c);
    if (shutdown)
        orch_daemon_shutdown(d);
}

static void after_write(uv_write_t *w, int status)
{
    write_req *wr = (write_req *)w;
    conn *c = wr->c;
    free(wr->data);
    free(wr);
    reply_finished(c);
}

/* Sends the generated JSON object as the reply and then closes. */
static void reply(conn *c, yajl_gen g)
{
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    if (c->closed) {
        yajl_gen_free(g);
        reply_finished(c);
        return;
    }
    write_req *wr = xcalloc(1, sizeof *wr);
    wr->data = xmalloc(len + 1);
    memcpy(wr->data, buf, len);
    wr->data[len] = '\n';
    wr->c = c;
    yajl_gen_free(g);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)(len + 1));
    c->pending = 1;
    if (uv_write(&wr->w, (uv_stream_t *)&c->pipe, &b, 1, after_write) != 0) {
        free(wr->data);
        free(wr);
        reply_finished(c);
    }
}

static void gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static yajl_gen reply_begin(int ok)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    gen_str(g, "ok");
    yajl_gen_bool(g, ok);
    return g;
}

static void reply_simple(conn *c, int ok, const char *key, const char *msg)
{
    yajl_gen g = reply_begin(ok);
    if (key && msg) {
        gen_str(g, key);
        gen_str(g, msg);
    }
    yajl_gen_map_close(g);
    reply(c, g);
}

static void reply_error(conn *c, const char *msg)
{
    reply_simple(c, 0, "error", msg);
}

static void gen_diags(yajl_gen g, const char *key, const orch_diags *dg, orch_diag_level level)
{
    gen_str(g, key);
    yajl_gen_array_open(g);
    for (size_t i = 0; i < dg->n; i++) {
        if (dg->items[i].level != level)
            continue;
        char *line = orch_diag_format(&dg->items[i]);
        gen_str(g, line);
        free(line);
    }
    /* what was dropped past ORCH_DIAGS_MAX, counted with the errors */
    char *more = level == ORCH_DIAG_ERROR ? orch_diags_more(dg) : NULL;
    if (more)
        gen_str(g, more);
    free(more);
    yajl_gen_array_close(g);
}

static void on_settled(void *arg, bool ok, char *report)
{
    conn *c = arg;
    yajl_gen g = reply_begin(ok);
    if (report) {
        gen_str(g, "report");
        gen_str(g, report);
    }
    yajl_gen_map_close(g);
    free(report);
    reply(c, g);
    /* The grow freed the model it replaced: at 10,000 services ~12 MB of
     * large blocks, which glibc then keeps in the heap (its trim threshold
     * rises once a large block is freed). Handing the free pages back keeps
     * the daemon's RSS after a reload where it was after the start (39 MB
     * at 10,000 rather than 65 MB), for 0.4 ms at 10,000. */
    malloc_trim(0);
}

static int same_setting(const char *asked, const char *ours)
{
    return !asked || strcmp(asked, ours) == 0;
}

/* The containerd module, loaded on the first FROM service or import. */
static int load_container_runtime(orch_daemon *d, char **err)
{
    if (d->container_runtime)
        return 0;
    orch_module_config cfg = {.socket_path = d->opts.containerd_socket,
                              .namespace_ = d->ctx.namespace_,
                              .vm_kernel = d->opts.vm_kernel,
                              .reaper_watch = orch_reaper_watch,
                              .reaper_unwatch = orch_reaper_unwatch};
    const char *name = d->opts.runtime && *d->opts.runtime ? d->opts.runtime : "containerd";
    d->container_runtime = orch_runtime_module_load(d->loop, name, &cfg, err);
    if (!d->container_runtime)
        return -1;
    orch_supervisor_set_container_runtime(d->sv, d->container_runtime);
    return 0;
}

static int needs_container_runtime(const orch_model *m)
{
    for (size_t i = 0; i < m->n_services; i++)
        if (orch_service_mode(&m->services[i]) == ORCH_MODE_CONTAINER)
            return 1;
    return 0;
}

/* orch_origin.file points at the file names orch_diags interned, and dg dies
 * with this request while the supervisor keeps the model (the containerd
 * runtime names FILE:LINE in errors long after): point the model's origins
 * at copies that live as long as the daemon, one per distinct name. */
static const char *kept_file(const char *name)
{
    static char **kept;
    static size_t n_kept;
    if (!name)
        return NULL;
    for (size_t i = 0; i < n_kept; i++)
        if (strcmp(kept[i], name) == 0)
            return kept[i];
    kept = xrealloc(kept, (n_kept + 1) * sizeof *kept);
    kept[n_kept] = xstrdup(name);
    return kept[n_kept++];
}

static void keep_strv_files(orch_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        v->v[i].at.file = kept_file(v->v[i].at.file);
}

static void keep_origin_files(orch_model *m)
{
    for (size_t i = 0; i < m->n_args; i++)
        m->args[i].at.file = kept_file(m->args[i].at.file);
    for (size_t i = 0; i < m->n_services; i++) {
        orch_service *s = &m->services[i];
        s->at.file = kept_file(s->at.file);
        for (int f = 0; f < ORCH_F__COUNT; f++)
            s->field_at[f].file = kept_file(s->field_at[f].file);
        for (size_t k = 0; k < s->n_publish; k++)
            s->publish[k].at.file = kept_file(s->publish[k].at.file);
        for (size_t k = 0; k < s->n_volumes; k++)
            s->volumes[k].at.file = kept_file(s->volumes[k].at.file);
        for (size_t k = 0; k < s->n_env; k++)
            s->env[k].at.file = kept_file(s->env[k].at.file);
        keep_strv_files(&s->env_files);
        keep_strv_files(&s->requires);
        keep_strv_files(&s->after);
    }
}

/* The settings the request must share with the daemon (grow, pull). */
static int check_settings(conn *c)
{
    orch_daemon *d = c->d;
    orch_request *r = &c->req;
    if (!same_setting(r->namespace_, d->ctx.namespace_) ||
        !same_setting(r->project_dir, d->ctx.project_dir) ||
        !same_setting(r->data_dir, d->ctx.data_dir) ||
        !same_setting(r->port_offset, d->ctx.port_offset)) {
        char *msg = xasprintf("the daemon on %s serves namespace %s, project %s, data %s, "
                              "port offset %s; run 'orchd fell' first to change them, or use "
                              "another --state-dir",
                              d->opts.state_dir, d->ctx.namespace_, d->ctx.project_dir,
                              d->ctx.data_dir, d->ctx.port_offset);
        reply_error(c, msg);
        free(msg);
        return -1;
    }
    return 0;
}

/* Loads the request's files into *m (and the container runtime if the model
 * needs it). Replies and returns -1 on failure. */
static int load_model(conn *c, orch_model *m)
{
    orch_daemon *d = c->d;
    orch_request *r = &c->req;
    orch_arg_override *args = xcalloc(r->n_args + 1, sizeof *args);
    for (size_t i = 0; i < r->n_args; i++)
        args[i] = (orch_arg_override){r->arg_names[i], r->arg_values[i]};
    orch_load_opts lo = {.files = (const char *const *)r->files, .n_files = r->n_files,
                         .cli_args = args, .n_cli_args = r->n_args, .environ = r->env};
    orch_diags dg;
    orch_diags_init(&dg);
    int rc = orch_load(&lo, m, &dg);
    free(args);
    if (rc != 0) {
        yajl_gen g = reply_begin(0);
        gen_diags(g, "errors", &dg, ORCH_DIAG_ERROR);
        gen_diags(g, "warnings", &dg, ORCH_DIAG_WARNING);
        yajl_gen_map_close(g);
        orch_diags_free(&dg);
        reply(c, g);
        return -1;
    }
    keep_origin_files(m);
    orch_diags_free(&dg);
    char *err = NULL;
    if (needs_container_runtime(m) && load_container_runtime(d, &err) != 0) {
        orch_model_free(m);
        reply_error(c, err);
        free(err);
        return -1;
    }
    return 0;
}

/* ---- images: progress lines, then the reply (docs/IMAGES.md) ---- */

static void after_progress_write(uv_write_t *w, int status)
{
    write_req *wr = (write_req *)w;
    free(wr->data);
    free(wr);
    (void)status; /* a client that left: the reply finds the conn closed */
}

/* {"progress": EVENT} on its own line, when the client asked for them. */
static void on_image_progress(void *arg, const char *json)
{
    conn *c = arg;
    if (c->closed || !c->req.progress)
        return;
    write_req *wr = xcalloc(1, sizeof *wr);
    wr->data = xasprintf("{\"progress\":%s}\n", json);
    wr->c = c;
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)strlen(wr->data));
    if (uv_write(&wr->w, (uv_stream_t *)&c->pipe, &b, 1, after_progress_write) != 0) {
        free(wr->data);
        free(wr);
    }
}

static const orch_image_ops *image_ops(orch_daemon *d)
{
    return d->container_runtime ? d->container_runtime->images : NULL;
}

/* The container services a grow or pull is about: the named ones and what
 * they REQUIRE (transitively), or every enabled one. */
static size_t wanted_images(const orch_model *m, char **names, size_t n_names, bool with_disabled,
                            const orch_service ***out)
{
    const orch_service **v = xcalloc(m->n_services + 1, sizeof *v);
    bool *want = xcalloc(m->n_services + 1, sizeof *want);
    for (size_t i = 0; i < m->n_services; i++)
        want[i] = n_names == 0 && (with_disabled || !m->services[i].disabled);
    for (size_t k = 0; k < n_names; k++)
        for (size_t i = 0; i < m->n_services; i++)
            if (strcmp(m->services[i].name, names[k]) == 0)
                want[i] = true;
    for (bool grew = n_names > 0; grew;) {
        grew = false;
        for (size_t i = 0; i < m->n_services; i++) {
            if (!want[i])
                continue;
            const orch_strv *req = &m->services[i].requires;
            for (size_t q = 0; q < req->n; q++)
                for (size_t k = 0; k < m->n_services; k++)
                    if (!want[k] && strcmp(m->services[k].name, req->v[q].s) == 0)
                        want[k] = grew = true;
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < m->n_services; i++)
        if (want[i] && orch_service_mode(&m->services[i]) == ORCH_MODE_CONTAINER)
            v[n++] = &m->services[i];
    free(want);
    *out = v;
    return n;
}

static bool names_known(const orch_model *m, char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!orch_model_find(m, names[i]))
            return false;
    return true;
}

/* ---- grow ---- */

static void grow_apply(conn *c, orch_model *m)
{
    orch_daemon *d = c->d;
    orch_request *r = &c->req;
    char *err = NULL;
    if (d->shutting_down) {
        orch_model_free(m);
        reply_error(c, "the daemon is shutting down");
        return;
    }
    /* --rerun names are checked before anything changes */
    for (size_t i = 0; i < r->n_rerun; i++) {
        const orch_service *s = orch_model_find(m, r->rerun[i]);
        if (!s || !s->oneshot) {
            err = xasprintf(s ? "--rerun %s: not a ONESHOT" : "--rerun %s: no service named %s",
                            r->rerun[i], r->rerun[i]);
            orch_model_free(m);
            reply_error(c, err);
            free(err);
            return;
        }
    }
    if (orch_supervisor_apply(d->sv, m, (const char *const *)r->names, r->n_names, &err) != 0) {
        orch_model_free(m);
        reply_error(c, err);
        free(err);
        return;
    }
    for (size_t i = 0; i < r->n_rerun; i++)
        orch_supervisor_rerun(d->sv, r->rerun[i]);
    c->pending = 1;
    orch_supervisor_when_settled(d->sv, (const char *const *)r->names, r->n_names, on_settled, c);
}

/* The images are pulled (or failed: those services fail at their start with
 * the same error): now converge. */
static void on_grow_pulled(void *arg, const orch_error *err)
{
    conn *c = arg;
    orch_model *m = c->model;
    c->model = NULL;
    (void)err;
    grow_apply(c, m);
    free(m);
}

static void do_grow(conn *c)
{
    orch_daemon *d = c->d;
    orch_request *r = &c->req;
    if (check_settings(c) != 0)
        return;
    orch_model m;
    if (load_model(c, &m) != 0)
        return;
    const orch_image_ops *img = image_ops(d);
    const char *policy = r->pull ? r->pull : "missing";
    if (img)
        img->set_pull_policy(policy);
    /* Images first, so TIMEOUT_START does not count the download; each image
     * once, however many services want it. */
    if (img && strcmp(policy, "never") != 0 && names_known(&m, r->names, r->n_names)) {
        const orch_service **svcs = NULL;
        size_t n = wanted_images(&m, r->names, r->n_names, false, &svcs);
        if (n > 0) {
            c->model = xmalloc(sizeof *c->model);
            *c->model = m;
            orch_error *err = NULL;
            c->pending = 1;
            int rc = img->pull(svcs, n, policy, d->ctx.project_dir, on_image_progress,
                               on_grow_pulled, c, &err);
            free(svcs);
            if (rc == 0)
                return;
            orch_error_free(err);
            c->pending = 0;
            m = *c->model;
            free(c->model);
            c->model = NULL;
        } else {
            free(svcs);
        }
    }
    grow_apply(c, &m);
}

/* ---- pull, import ---- */

static void on_images_done(void *arg, const orch_error *err)
{
    conn *c = arg;
    yajl_gen g = reply_begin(err == NULL);
    if (err) {
        gen_str(g, "report");
        gen_str(g, err->msg);
    }
    yajl_gen_map_close(g);
    reply(c, g);
}

static void do_pull(conn *c)
{
    orch_daemon *d = c->d;
    orch_request *r = &c->req;
    if (check_settings(c) != 0)
        return;
    orch_model m;
    if (load_model(c, &m) != 0)
        return;
    for (size_t i = 0; i < r->n_names; i++) {
        if (!orch_model_find(&m, r->names[i])) {
            char *msg = xasprintf("no service named %s", r->names[i]);
            orch_model_free(&m);
            reply_error(c, msg);
            free(msg);
            return;
        }
    }
    const orch_service **svcs = NULL;
    size_t n = wanted_images(&m, r->names, r->n_names, true, &svcs);
    const orch_image_ops *img = image_ops(d);
    orch_error *err = NULL;
    if (n == 0 || !img) {
        free(svcs);
        orch_model_free(&m);
        reply_simple(c, 1, "report", "no FROM service: nothing to pull");
        return;
    }
    c->pending = 1;
    /* the services are copied by the runtime where it needs them */
    int rc = img->pull(svcs, n, r->pull ? r->pull : "always", d->ctx.project_dir, on_image_progress,
                       on_images_done, c, &err);
    free(svcs);
    orch_model_free(&m);
    if (rc != 0) {
        c->pending = 0;
        reply_error(c, err->msg);
        orch_error_free(err);
    }
}

static void do_import(conn *c)
{
    orch_daemon *d = c->d;
    char *err = NULL;
    if (load_container_runtime(d, &err) != 0) {
        reply_error(c, err);
        free(err);
        return;
    }
    const orch_image_ops *img = image_ops(d);
    if (!img) {
        reply_error(c, "the container runtime cannot import images");
        return;
    }
    c->pending = 1;
    orch_error *ierr = NULL;
    if (img->import(c->req.files[0], on_image_progress, on_images_done, c, &ierr) != 0) {
        c->pending = 0;
        reply_error(c, ierr->msg);
        orch_error_free(ierr);
    }
}

/* A full fell leaves nothing behind: the named volumes orchd created under
 * <data>/volumes go too, unless --keep-data. Services write into them, so
 * the removal must not follow their symlinks nor cross their mounts
 * (common/rmtree.h), and a large volume takes long: it runs on libuv's
 * thread pool while the loop carries on (survey answers meanwhile). One
 * removal at a time; a fell that arrives during one waits for it and gets
 * its verdict. */
typedef struct removal {
    uv_work_t work;
    char *path;    /* <data>/volumes */
    char *records; /* <data>/oneshots */
    char *err; /* set by the worker */
    int rc;
    conn **waiting; /* the fells to answer when it is done */
    size_t n_waiting, cap_waiting;
} removal;

static removal *volumes_removal;

/* The named volumes, and with them the record of which ONESHOTs succeeded
 * (<data>/oneshots): a migration recorded against a volume that is gone
 * must run again. fell --keep-data keeps both. */
static void remove_volumes(uv_work_t *w)
{
    removal *r = w->data;
    r->rc = orch_rmtree(r->path, &r->err);
    if (r->rc == 0)
        r->rc = orch_rmtree(r->records, &r->err);
}

static void volumes_removed(uv_work_t *w, int status)
{
    removal *r = w->data;
    volumes_removal = NULL;
    char *msg = NULL;
    if (status != 0)
        msg = xasprintf("services stopped, but %s could not be removed: %s", r->path,
                        uv_strerror(status));
    else if (r->rc != 0)
        msg = xasprintf("services stopped, but the named volumes were not all removed: %s",
                        r->err);
    for (size_t i = 0; i < r->n_waiting; i++) {
        if (msg)
            reply_error(r->waiting[i], msg);
        else
            reply_simple(r->waiting[i], 1, NULL, NULL);
    }
    free(msg);
    free(r->waiting);
    free(r->err);
    free(r->path);
    free(r->records);
    free(r);
}

static void on_fell_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void fell_timer_stop(conn *c)
{
    if (!c->fell_timer)
        return;
    uv_close((uv_handle_t *)c->fell_timer, on_fell_timer_closed);
    c->fell_timer = NULL;
}

/* fell waits for every stop this long at most: the longest TIMEOUT_STOP,
 * then time for the runtime to clean up. A stop that cannot finish (the
 * container runtime unreachable) goes on in the background; the next fell
 * finds it done or waits for it again. */
#define FELL_CLEANUP_GRACE_MS 20000
static uint64_t fell_bound_ms(const orch_daemon *d)
{
    return (uint64_t)orch_supervisor_max_timeout_stop(d->sv) * 1000 + FELL_CLEANUP_GRACE_MS;
}

static void on_fell_bound(uv_timer_t *t)
{
    conn *c = t->data;
    fell_timer_stop(c);
    char *left = orch_supervisor_stop_abandon(c->d->sv, c);
    c->fell_all = 0; /* the daemon stays: what runs still has an owner */
    char *msg = xasprintf("not stopped within %llus: %s; they go on stopping, run 'orchd fell' "
                          "again to wait for them",
                          (unsigned long long)(fell_bound_ms(c->d) / 1000),
                          left ? left : "(unknown)");
    reply_error(c, msg);
    free(msg);
    free(left);
}

static void on_stopped(void *arg)
{
    conn *c = arg;
    fell_timer_stop(c);
    if (!c->fell_all || c->req.keep_data) {
        reply_simple(c, 1, NULL, NULL);
        return;
    }
    removal *r = volumes_removal;
    if (!r) {
        r = xcalloc(1, sizeof *r);
        r->path = xasprintf("%s/volumes", c->d->ctx.data_dir);
        r->records = xasprintf("%s/oneshots", c->d->ctx.data_dir);
        r->work.data = r;
        int e = uv_queue_work(c->d->loop, &r->work, remove_volumes, volumes_removed);
        if (e != 0) {
            char *msg = xasprintf("services stopped, but %s could not be removed: %s", r->path,
                                  uv_strerror(e));
            free(r->path);
            free(r->records);
            free(r);
            reply_error(c, msg);
            free(msg);
            return;
        }
        volumes_removal = r;
    }
    xgrow((void **)&r->waiting, &r->cap_waiting, r->n_waiting + 1, sizeof *r->waiting);
    r->waiting[r->n_waiting++] = c;
}

static void do_fell(conn *c)
{
    char *err = NULL;
    if (c->req.poweroff) {
        /* Only orchd init can power the machine off (docs/PID1.md). */
        if (c->req.n_names > 0) {
            reply_error(c, "--poweroff stops everything: give no SERVICE names");
            return;
        }
        if (c->d->opts.init_pid <= 0 || getppid() != c->d->opts.init_pid) {
            reply_error(c, "--poweroff: this daemon does not run under orchd init; "
                           "nothing was stopped");
            return;
        }
        c->d->poweroff = 1;
    }
    c->fell_all = c->req.n_names == 0;
    c->pending = 1;
    if (orch_supervisor_stop(c->d->sv, (const char *const *)c->req.names, c->req.n_names,
                             on_stopped, c, &err) != 0) {
        c->fell_all = 0;
        c->pending = 0;
        reply_error(c, err);
        free(err);
        return;
    }
    if (!c->pending)
        return; /* already done (nothing to stop) */
    c->fell_timer = xmalloc(sizeof *c->fell_timer);
    uv_timer_init(c->d->loop, c->fell_timer);
    c->fell_timer->data = c;
    uv_timer_start(c->fell_timer, on_fell_bound, fell_bound_ms(c->d), 0);
}

static void do_survey(conn *c)
{
    yajl_gen g = reply_begin(1);
    gen_str(g, "services");
    orch_supervisor_survey(c->d->sv, g);
    yajl_gen_map_close(g);
    reply(c, g);
}

static void do_reload(conn *c)
{
    char *err = NULL;
    if (orch_supervisor_reload(c->d->sv, c->req.names[0], &err) != 0) {
        reply_error(c, err);
        free(err);
        return;
    }
    reply_simple(c, 1, NULL, NULL);
}

static void do_log_path(conn *c)
{
    const char *p = orch_supervisor_log_path(c->d->sv, c->req.names[0]);
    if (!p) {
        char *msg = xasprintf("no service named %s", c->req.names[0]);
        reply_error(c, msg);
        free(msg);
        return;
    }
    reply_simple(c, 1, "path", p);
}

static void handle_request(conn *c)
{
    char *err = NULL;
    if (orch_request_decode(c->buf, c->len, &c->req, &err) != 0) {
        reply_error(c, err);
        free(err);
        return;
    }
    if (c->d->shutting_down && c->req.kind != ORCH_REQ_SURVEY && c->req.kind != ORCH_REQ_PING) {
        reply_error(c, "the daemon is shutting down");
        return;
    }
    if (volumes_removal && c->req.kind == ORCH_REQ_GROW) {
        /* the new services' volumes would be removed under them */
        reply_error(c, "the named volumes are being removed (orchd fell); grow again once it is "
                       "done");
        return;
    }
    switch (c->req.kind) {
    case ORCH_REQ_PING: {
        char pid[32];
        snprintf(pid, sizeof pid, "%ld", (long)getpid());
        reply_simple(c, 1, "pid", pid);
        break;
    }
    case ORCH_REQ_GROW: do_grow(c); break;
    case ORCH_REQ_FELL: do_fell(c); break;
    case ORCH_REQ_SURVEY: do_survey(c); break;
    case ORCH_REQ_RELOAD: do_reload(c); break;
    case ORCH_REQ_LOG_PATH: do_log_path(c); break;
    case ORCH_REQ_PULL: do_pull(c); break;
    case ORCH_REQ_IMPORT: do_import(c); break;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    conn *c = h->data;
    xgrow((void **)&c->buf, &c->cap, c->len + 4096, 1);
    *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    conn *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    /* Only the new bytes: rescanning the whole buffer on every read is
     * quadratic in a request that arrives in many pieces. */
    char *nl = memchr(c->buf + c->len, '\n', (size_t)n);
    c->len += (size_t)n;
    if (!nl) {
        if (c->len > ORCH_REQUEST_MAX) {
            uv_read_stop(s);
            uv_timer_stop(&c->idle);
            reply_error(c, "request too large");
        }
        return;
    }
    uv_read_stop(s);
    uv_timer_stop(&c->idle); /* busy now, however long the request takes */
    c->len = (size_t)(nl - c->buf);
    handle_request(c);
}

static void on_drain_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    conn *c = s->data;
    c->len = 0; /* dropped */
    if (n < 0)
        conn_close(c);
}

/* 0 when the peer may talk to us, else its uid (or -1 unknown). */
static long peer_refused(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return -1;
    return cred.uid == 0 || cred.uid == geteuid() ? 0 : (long)cred.uid;
}

static void on_idle_timeout(uv_timer_t *t)
{
    conn *c = t->data;
    fprintf(stderr, "orchd: control: closing a connection that sent no request within %llu ms\n",
            (unsigned long long)idle_ms);
    uv_read_stop((uv_stream_t *)&c->pipe);
    char *msg = xasprintf("no request within %llu ms: closing the connection",
                          (unsigned long long)idle_ms);
    reply_error(c, msg);
    free(msg);
}

static void accept_one(orch_daemon *d, int fd)
{
    conn *c = xcalloc(1, sizeof *c);
    c->d = d;
    uv_pipe_init(d->loop, &c->pipe, 0);
    uv_timer_init(d->loop, &c->idle);
    c->handles = 2;
    c->pipe.data = c;
    c->idle.data = c;
    c->next = open_conns;
    if (open_conns)
        open_conns->prev = c;
    open_conns = c;
    if (uv_pipe_open(&c->pipe, fd) != 0) {
        close(fd);
        fprintf(stderr, "orchd: control: refused a connection: cannot watch it\n");
        conn_close(c);
        return;
    }
    long uid = peer_refused(fd);
    if (uid != 0) {
        char *msg = uid > 0 ? xasprintf("permission denied: uid %ld is neither root nor the "
                                        "daemon's user (uid %ld)", uid, (long)geteuid())
                            : xstrdup("permission denied: cannot tell who the peer is");
        fprintf(stderr, "orchd: control: refused a connection: %s\n", msg);
        c->refused = true;
        reply_error(c, msg);
        free(msg);
        return;
    }
    if (n_conns >= ORCH_CONN_MAX) {
        c->refused = true;
        fprintf(stderr, "orchd: control: refused a connection: %d connections are open, the "
                        "most there may be\n", ORCH_CONN_MAX);
        char *msg = xasprintf("too many connections to the daemon (%d are open): try again "
                              "later", ORCH_CONN_MAX);
        reply_error(c, msg);
        free(msg);
        return;
    }
    c->counted = true;
    n_conns++;
    uv_timer_start(&c->idle, on_idle_timeout, idle_ms, 0);
    if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0)
        conn_close(c);
}

static void on_server_readable(uv_poll_t *p, int status, int events);

static void on_accept_retry(uv_timer_t *t)
{
    orch_daemon *d = t->data;
    uv_poll_start(&d->server, UV_READABLE, on_server_readable);
}

/* Accepts every pending connection. Out of file descriptors: they stay in
 * the backlog and we try again shortly. */
static void on_server_readable(uv_poll_t *p, int status, int events)
{
    (void)status, (void)events;
    orch_daemon *d = p->data;
    for (;;) {
        int fd = accept4(d->server_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            accept_one(d, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        int e = errno;
        fprintf(stderr, "orchd: control: cannot accept a connection: %s; %s in %d ms\n",
                strerror(e),
                e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM ? "retrying" : "trying again",
                ACCEPT_RETRY_MS);
        uv_poll_stop(&d->server);
        uv_timer_start(&d->accept_retry, on_accept_retry, ACCEPT_RETRY_MS, 0);
        return;
    }
}

void orch_control_close(orch_daemon *d)
{
    for (conn *c = open_conns; c; c = c->next) {
        fell_timer_stop(c);
        conn_close(c);
    }
    uv_close((uv_handle_t *)&d->server, NULL);
    uv_close((uv_handle_t *)&d->accept_retry, NULL);
    if (d->server_fd >= 0)
        close(d->server_fd);
    d->server_fd = -1;
}

static int listen_socket(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return -ENAMETOOLONG;
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    mode_t old = umask(0077);
    int r = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 128) == 0 ? 0 : -errno;
    umask(old);
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

int orch_control_listen(orch_daemon *d, char **err)
{
    const char *env = getenv("ORCH_CONN_IDLE_MS");
    if (env && *env) {
        char *end;
        unsigned long long v = strtoull(env, &end, 10);
        if (*end == '\0' && v > 0)
            idle_ms = v;
    }
    d->server_fd = -1;
    unlink(d->socket_path); /* stale: we hold the lock, so no daemon owns it */
    int fd = listen_socket(d->socket_path);
    if (fd < 0) {
        *err = xasprintf("cannot listen on %s: %s", d->socket_path, strerror(-fd));
        return -1;
    }
    d->server_fd = fd;
    uv_poll_init(d->loop, &d->server, fd);
    d->server.data = d;
    uv_timer_init(d->loop, &d->accept_retry);
    d->accept_retry.data = d;
    uv_poll_start(&d->server, UV_READABLE, on_server_readable);
    chmod(d->socket_path, 0600);
    return 0;
}
