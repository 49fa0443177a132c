/* The containerd transport: see ctd_transport.h.
 *
 * Threads: the loop thread does everything except grpc_completion_queue_next,
 * which the cq thread runs. The cq thread touches only the done queue (under
 * done_lock) and uv_async_send. A ctd_req is owned by the loop thread; each
 * of its batches has a ctd_tag, which travels through the completion queue
 * and then through the done queue (one tag is in flight at most once, so its
 * queue link can live inside it). */
#include "containerd/transport/ctd_transport.h"
#include "containerd/transport/ctd_transport_ext.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

/* ------------------------------------------------------------ allocation */

static void *ctd_oom(void)
{
    fputs("orchd: out of memory\n", stderr);
    abort();
}

static void *zalloc(size_t n)
{
    void *p = calloc(1, n);
    return p ? p : ctd_oom();
}

static char *sdup(const char *s)
{
    char *p = strdup(s);
    return p ? p : ctd_oom();
}

static char *sfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    return n < 0 ? ctd_oom() : p;
}

/* ------------------------------------------------------------ types */

enum { TAG_MAIN, TAG_MSG, TAG_STATUS };
enum { KIND_UNARY, KIND_STREAM, KIND_EXT };

typedef struct ctd_tag {
    ctd_req *req;
    int which;
    int success;
    struct ctd_tag *next; /* done queue link */
} ctd_tag;

struct ctd_req {
    ctd_conn *conn;
    ctd_req *prev, *next; /* pending list */
    int kind;
    char *method;
    int64_t timeout_ms;
    grpc_call *call;
    const ProtobufCMessageDescriptor *desc;
    ctd_reply_cb reply_cb;
    ctd_msg_cb msg_cb;
    ctd_end_cb end_cb;
    void *arg;
    ctd_ext_handler ext; /* KIND_EXT: gets every batch (ctd_transport_ext.h) */
    grpc_metadata md[2];
    size_t n_md;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_byte_buffer *send_buf;
    grpc_byte_buffer *recv_buf;
    grpc_status_code status;
    grpc_slice status_details;
    const char *error_string;
    bool got_status;
    bool cancelled;
    int inflight; /* batches started and not yet handled on the loop */
    ctd_tag tags[3];
};

struct ctd_conn {
    uv_loop_t *loop;
    char *path;   /* socket path */
    char *target; /* "unix:<path>" */
    char *ns;
    int64_t default_timeout_ms;
    grpc_channel *channel;
    grpc_completion_queue *cq;
    pthread_t thread;
    bool thread_started;
    uv_async_t async;
    pthread_mutex_t done_lock;
    ctd_tag *done_head, *done_tail;
    ctd_req *pending;
    size_t n_pending;
    bool closing;
    bool finished; /* channel and cq destroyed */
    void (*close_done)(void *arg);
    void *close_arg;
};

/* ------------------------------------------------------------ cq thread */

static void *cq_thread(void *p)
{
    ctd_conn *c = p;
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        ctd_tag *t = ev.tag;
        t->success = ev.success;
        t->next = NULL;
        pthread_mutex_lock(&c->done_lock);
        if (c->done_tail)
            c->done_tail->next = t;
        else
            c->done_head = t;
        c->done_tail = t;
        pthread_mutex_unlock(&c->done_lock);
        uv_async_send(&c->async);
    }
    return NULL;
}

/* ------------------------------------------------------------ errors */

/* Why the socket cannot be used, or NULL when something listens there. */
static char *probe_socket(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return sdup("no such file (is containerd running, and is this its socket?)");
        return sfmt("%s", strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return sdup("not a unix socket");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return NULL; /* gRPC reports this one itself */
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
        return NULL;
    if (e == ECONNREFUSED)
        return sdup("connection refused (a stale socket: is containerd running?)");
    return sfmt("%s", strerror(e));
}

/* The message a callback gets for a failed call. */
static char *error_text(ctd_req *r)
{
    ctd_conn *c = r->conn;
    char *raw = GRPC_SLICE_LENGTH(r->status_details) ? grpc_slice_to_c_string(r->status_details)
                                                     : NULL;
    const char *d = raw ? raw : (r->error_string ? r->error_string : "");
    char *out;
    switch (r->status) {
    case GRPC_STATUS_UNAVAILABLE: {
        char *why = probe_socket(c->path);
        if (why)
            out = sfmt("containerd not reachable at %s: %s", c->path, why);
        else
            /* Something listens: not containerd, or containerd dropped the
             * connection (it may be restarting). */
            out = sfmt("containerd not reachable at %s: %s (the socket accepts connections: "
                       "is it containerd's, and is containerd restarting?)",
                       c->path, *d ? d : "unavailable");
        free(why);
        break;
    }
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        if (r->cancelled)
            out = sfmt("%s", *d ? d : "deadline exceeded");
        else
            out = sfmt("containerd at %s did not answer %s within %lld ms", c->path, r->method,
                       (long long)r->timeout_ms);
        break;
    case GRPC_STATUS_UNIMPLEMENTED:
        out = sfmt("the service at %s does not implement %s (is it containerd 1.6 or later?)%s%s",
                   c->path, r->method, *d ? ": " : "", d);
        break;
    case GRPC_STATUS_CANCELLED:
        out = sfmt("%s", *d ? d : "cancelled");
        break;
    case GRPC_STATUS_INTERNAL:
    case GRPC_STATUS_UNKNOWN:
        if (!*d) {
            out = sfmt("%s %s from containerd at %s", r->method, ctd_status_name(r->status),
                       c->path);
            break;
        }
        /* fall through */
    default:
        out = sfmt("%s", *d ? d : ctd_status_name(r->status));
        break;
    }
    if (raw)
        gpr_free(raw);
    return out;
}

/* ------------------------------------------------------------ requests */

static void pending_add(ctd_conn *c, ctd_req *r)
{
    r->prev = NULL;
    r->next = c->pending;
    if (c->pending)
        c->pending->prev = r;
    c->pending = r;
    if (c->n_pending++ == 0)
        uv_ref((uv_handle_t *)&c->async);
}

static void pending_remove(ctd_conn *c, ctd_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->pending = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    if (--c->n_pending == 0 && !c->closing)
        uv_unref((uv_handle_t *)&c->async);
}

static void req_free(ctd_req *r)
{
    if (r->call)
        grpc_call_unref(r->call);
    for (size_t i = 0; i < r->n_md; i++) {
        grpc_slice_unref(r->md[i].key);
        grpc_slice_unref(r->md[i].value);
    }
    grpc_metadata_array_destroy(&r->initial_md);
    grpc_metadata_array_destroy(&r->trailing_md);
    if (r->send_buf)
        grpc_byte_buffer_destroy(r->send_buf);
    if (r->recv_buf)
        grpc_byte_buffer_destroy(r->recv_buf);
    grpc_slice_unref(r->status_details);
    if (r->error_string)
        gpr_free((void *)r->error_string);
    free(r->method);
    free(r);
}

static ProtobufCMessage *decode(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
                                size_t *len)
{
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, bb)) {
        *len = 0;
        return NULL;
    }
    grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    *len = GRPC_SLICE_LENGTH(s);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, *len, GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    return m;
}

static void finish_close(ctd_conn *c);

static void unary_done(ctd_req *r)
{
    ProtobufCMessage *reply = NULL;
    grpc_status_code st = r->status;
    char *msg = NULL;
    if (st == GRPC_STATUS_OK && r->desc) {
        size_t len = 0;
        if (!r->recv_buf || !(reply = decode(r->recv_buf, r->desc, &len))) {
            st = GRPC_STATUS_INTERNAL;
            msg = sfmt("cannot decode the %s reply from containerd at %s as %s (%zu bytes)",
                       r->method, r->conn->path, r->desc->name, len);
        }
    } else if (st != GRPC_STATUS_OK) {
        msg = error_text(r);
    }
    pending_remove(r->conn, r); /* not pending while its callback runs */
    r->reply_cb(r->arg, st, msg ? msg : "", reply);
    if (reply)
        protobuf_c_message_free_unpacked(reply, NULL);
    free(msg);
}

static int start_batch(ctd_req *r, const grpc_op *ops, size_t n, int which)
{
    r->tags[which].req = r;
    r->tags[which].which = which;
    grpc_call_error e = grpc_call_start_batch(r->call, ops, n, &r->tags[which], NULL);
    if (e != GRPC_CALL_OK)
        return -1;
    r->inflight++;
    return 0;
}

static void stream_recv_status(ctd_req *r)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &r->trailing_md;
    op.data.recv_status_on_client.status = &r->status;
    op.data.recv_status_on_client.status_details = &r->status_details;
    op.data.recv_status_on_client.error_string = &r->error_string;
    if (start_batch(r, &op, 1, TAG_STATUS) != 0) {
        /* Cannot happen with a well-formed call; end it rather than hang. */
        r->status = GRPC_STATUS_INTERNAL;
        r->got_status = true;
    }
}

static void stream_recv_msg(ctd_req *r)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &r->recv_buf;
    if (start_batch(r, &op, 1, TAG_MSG) != 0)
        stream_recv_status(r);
}

/* One batch of r finished (on the loop). Returns true when r is done. */
static bool handle_tag(ctd_tag *t)
{
    ctd_req *r = t->req;
    r->inflight--;
    if (r->kind == KIND_EXT)
        return r->ext(r->arg, t->which, t->success != 0);
    if (r->kind == KIND_UNARY) {
        unary_done(r);
        return true;
    }
    switch (t->which) {
    case TAG_MAIN:
        if (t->success && !r->cancelled)
            stream_recv_msg(r);
        else
            stream_recv_status(r);
        break;
    case TAG_MSG:
        if (r->recv_buf) {
            size_t len = 0;
            ProtobufCMessage *m = decode(r->recv_buf, r->desc, &len);
            grpc_byte_buffer_destroy(r->recv_buf);
            r->recv_buf = NULL;
            if (m) {
                if (!r->cancelled)
                    r->msg_cb(r->arg, m);
                protobuf_c_message_free_unpacked(m, NULL);
            } else {
                r->cancelled = true;
                grpc_call_cancel_with_status(r->call, GRPC_STATUS_INTERNAL,
                                             "cannot decode a stream message from containerd",
                                             NULL);
            }
            stream_recv_msg(r);
        } else {
            stream_recv_status(r);
        }
        break;
    case TAG_STATUS:
        r->got_status = true;
        break;
    }
    if (r->got_status && r->inflight == 0) {
        char *msg = r->status == GRPC_STATUS_OK ? NULL : error_text(r);
        pending_remove(r->conn, r);
        r->end_cb(r->arg, r->status, msg ? msg : "");
        free(msg);
        return true;
    }
    return false;
}

static void on_async(uv_async_t *h)
{
    ctd_conn *c = h->data;
    pthread_mutex_lock(&c->done_lock);
    ctd_tag *t = c->done_head;
    c->done_head = c->done_tail = NULL;
    pthread_mutex_unlock(&c->done_lock);
    while (t) {
        ctd_tag *next = t->next;
        ctd_req *r = t->req;
        if (handle_tag(t))
            req_free(r); /* handle_tag took it off the pending list */
        t = next;
    }
    if (c->closing && !c->pending && !c->finished)
        finish_close(c);
}

static gpr_timespec deadline_for(int64_t ms)
{
    if (ms < 0)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static ctd_req *req_new(ctd_conn *c, int kind, const char *method, const ProtobufCMessage *req,
                        const ctd_call_opts *opts)
{
    ctd_req *r = zalloc(sizeof *r);
    r->conn = c;
    r->kind = kind;
    r->method = sdup(method);
    r->status_details = grpc_empty_slice();
    grpc_metadata_array_init(&r->initial_md);
    grpc_metadata_array_init(&r->trailing_md);
    int64_t ms = opts ? opts->timeout_ms : 0;
    if (ms == 0)
        ms = kind == KIND_STREAM ? CTD_NO_DEADLINE : c->default_timeout_ms;
    r->timeout_ms = ms;

    const char *ns = opts && opts->namespace_ ? opts->namespace_ : c->ns;
    r->md[r->n_md].key = grpc_slice_from_static_string("containerd-namespace");
    r->md[r->n_md].value = grpc_slice_from_copied_string(ns);
    r->n_md++;
    if (opts && opts->lease && *opts->lease) {
        r->md[r->n_md].key = grpc_slice_from_static_string("containerd-lease");
        r->md[r->n_md].value = grpc_slice_from_copied_string(opts->lease);
        r->n_md++;
    }

    size_t len = req ? protobuf_c_message_get_packed_size(req) : 0;
    grpc_slice s = grpc_slice_malloc(len);
    if (len)
        protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(s));
    r->send_buf = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);

    grpc_slice m = grpc_slice_from_copied_string(method);
    r->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, m, NULL,
                                       deadline_for(ms), NULL);
    grpc_slice_unref(m);
    return r;
}

static void fill_send_ops(ctd_req *r, grpc_op *ops, const ctd_call_opts *opts)
{
    memset(ops, 0, 4 * sizeof *ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = r->n_md;
    ops[0].data.send_initial_metadata.metadata = r->md;
    if (opts && opts->wait_for_ready)
        ops[0].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY |
                       GRPC_INITIAL_METADATA_WAIT_FOR_READY_EXPLICITLY_SET;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = r->send_buf;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &r->initial_md;
}

static int check_args(ctd_conn *c, const char *method, const void *cb)
{
    if (!c || !method || method[0] != '/' || !cb)
        return -EINVAL;
    if (c->closing)
        return -ESHUTDOWN;
    return 0;
}

int ctd_call_ex(ctd_conn *c, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *reply_desc, const ctd_call_opts *opts,
                ctd_reply_cb cb, void *arg, ctd_req **handle)
{
    int e = check_args(c, method, (const void *)cb);
    if (e)
        return e;
    ctd_req *r = req_new(c, KIND_UNARY, method, req, opts);
    if (!r->call) {
        req_free(r);
        return -EIO;
    }
    r->desc = reply_desc;
    r->reply_cb = cb;
    r->arg = arg;
    grpc_op ops[6];
    fill_send_ops(r, ops, opts);
    memset(&ops[4], 0, 2 * sizeof ops[0]);
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &r->recv_buf;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &r->trailing_md;
    ops[5].data.recv_status_on_client.status = &r->status;
    ops[5].data.recv_status_on_client.status_details = &r->status_details;
    ops[5].data.recv_status_on_client.error_string = &r->error_string;
    if (start_batch(r, ops, 6, TAG_MAIN) != 0) {
        req_free(r);
        return -EIO;
    }
    pending_add(c, r);
    if (handle)
        *handle = r;
    return 0;
}

int ctd_call(ctd_conn *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *reply_desc, ctd_reply_cb cb, void *arg)
{
    return ctd_call_ex(c, method, req, reply_desc, NULL, cb, arg, NULL);
}

int ctd_stream(ctd_conn *c, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *msg_desc, const ctd_call_opts *opts,
               ctd_msg_cb on_msg, ctd_end_cb on_end, void *arg, ctd_req **handle)
{
    int e = check_args(c, method, (const void *)on_end);
    if (e)
        return e;
    if (!msg_desc || !on_msg)
        return -EINVAL;
    ctd_req *r = req_new(c, KIND_STREAM, method, req, opts);
    if (!r->call) {
        req_free(r);
        return -EIO;
    }
    r->desc = msg_desc;
    r->msg_cb = on_msg;
    r->end_cb = on_end;
    r->arg = arg;
    grpc_op ops[4];
    fill_send_ops(r, ops, opts);
    if (start_batch(r, ops, 4, TAG_MAIN) != 0) {
        req_free(r);
        return -EIO;
    }
    pending_add(c, r);
    if (handle)
        *handle = r;
    return 0;
}

void ctd_cancel(ctd_req *r)
{
    if (!r || r->cancelled)
        return;
    r->cancelled = true;
    grpc_call_cancel_with_status(r->call, GRPC_STATUS_CANCELLED, "cancelled", NULL);
}

/* ------------------------------------------------------------ connection */

/* "unix:/p", "unix:///p", "unix://p" and "/p" (or "p") -> "p". */
static char *parse_address(const char *address, char **err)
{
    const char *p = address;
    if (!p || !*p) {
        *err = sdup("containerd socket address is empty");
        return NULL;
    }
    if (strncmp(p, "unix://", 7) == 0)
        p += 7;
    else if (strncmp(p, "unix:", 5) == 0)
        p += 5;
    else if (strstr(p, "://")) {
        *err = sfmt("containerd socket address '%s': only unix sockets are supported "
                    "(unix:/path or a plain path)",
                    address);
        return NULL;
    }
    if (!*p) {
        *err = sfmt("containerd socket address '%s' names no path", address);
        return NULL;
    }
    if (strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        *err = sfmt("containerd socket path '%s' is too long for a unix socket (max %zu bytes)",
                    p, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return NULL;
    }
    return sdup(p);
}

ctd_conn *ctd_conn_new(uv_loop_t *loop, const char *address, const char *namespace_, char **err)
{
    *err = NULL;
    char *path = parse_address(address, err);
    if (!path)
        return NULL;
    if (!namespace_ || !*namespace_) {
        *err = sdup("containerd namespace is empty");
        free(path);
        return NULL;
    }
    ctd_conn *c = zalloc(sizeof *c);
    c->loop = loop;
    c->path = path;
    c->target = sfmt("unix:%s", path);
    c->ns = sdup(namespace_);
    c->default_timeout_ms = CTD_DEFAULT_TIMEOUT_MS;
    int e = uv_async_init(loop, &c->async, on_async);
    if (e) {
        *err = sfmt("cannot set up the containerd connection: %s", uv_strerror(e));
        free(c->ns);
        free(c->target);
        free(c->path);
        free(c);
        return NULL;
    }
    c->async.data = c;
    uv_unref((uv_handle_t *)&c->async);
    pthread_mutex_init(&c->done_lock, NULL);

    grpc_init();
    grpc_arg args[] = {
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
         .value.integer = 64 << 20},
        /* After containerd restarts: retry after 100 ms, backing off to 2 s. */
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, .value.integer = 100},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, .value.integer = 2000},
        /* Despite its name, the least time one connection attempt gets (up
         * to the HTTP/2 SETTINGS frame): generous for slow (TCG) machines. */
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, .value.integer = 5000},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_RETRIES, .value.integer = 0},
    };
    grpc_channel_args cargs = {.num_args = sizeof args / sizeof args[0], .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->channel = grpc_channel_create(c->target, creds, &cargs);
    grpc_channel_credentials_release(creds);
    c->cq = grpc_completion_queue_create_for_next(NULL);
    e = pthread_create(&c->thread, NULL, cq_thread, c);
    if (e) {
        *err = sfmt("cannot start the containerd completion thread: %s", strerror(e));
        c->closing = true;
        finish_close(c); /* frees c once the loop runs the close callback */
        return NULL;
    }
    c->thread_started = true;
    return c;
}

const char *ctd_conn_path(const ctd_conn *c)
{
    return c->path;
}

const char *ctd_conn_namespace(const ctd_conn *c)
{
    return c->ns;
}

void ctd_conn_set_default_timeout(ctd_conn *c, int64_t ms)
{
    c->default_timeout_ms = ms > 0 ? ms : CTD_DEFAULT_TIMEOUT_MS;
}

size_t ctd_conn_pending(const ctd_conn *c)
{
    return c->n_pending;
}

bool ctd_conn_down(ctd_conn *c)
{
    if (!c->channel)
        return true;
    grpc_connectivity_state s = grpc_channel_check_connectivity_state(c->channel, 0);
    return s == GRPC_CHANNEL_TRANSIENT_FAILURE || s == GRPC_CHANNEL_SHUTDOWN;
}

static void on_async_closed(uv_handle_t *h)
{
    ctd_conn *c = h->data;
    void (*done)(void *) = c->close_done;
    void *arg = c->close_arg;
    pthread_mutex_destroy(&c->done_lock);
    free(c->ns);
    free(c->target);
    free(c->path);
    free(c);
    grpc_shutdown();
    if (done)
        done(arg);
}

/* Nothing is pending: stop the thread, destroy gRPC objects, close the
 * async handle (the rest happens in its close callback). */
static void finish_close(ctd_conn *c)
{
    c->finished = true;
    grpc_completion_queue_shutdown(c->cq);
    if (c->thread_started) {
        pthread_join(c->thread, NULL);
    } else {
        /* No thread: drain the queue here until it reports shutdown. */
        while (grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
    }
    grpc_completion_queue_destroy(c->cq);
    grpc_channel_destroy(c->channel);
    c->cq = NULL;
    c->channel = NULL;
    uv_close((uv_handle_t *)&c->async, on_async_closed);
}

void ctd_conn_close(ctd_conn *c, void (*done)(void *arg), void *arg)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    c->close_done = done;
    c->close_arg = arg;
    for (ctd_req *r = c->pending; r; r = r->next) {
        if (!r->cancelled) {
            r->cancelled = true;
            grpc_call_cancel_with_status(r->call, GRPC_STATUS_CANCELLED,
                                         "the containerd connection was closed", NULL);
        }
    }
    /* on_async finishes the close once the cancelled calls have reported
     * (at once if none is pending): never from inside this call, which may
     * itself run inside a callback of this connection. */
    uv_ref((uv_handle_t *)&c->async);
    uv_async_send(&c->async);
}

/* ------------------------------------------------------------ other call shapes */
/* ctd_transport_ext.h: calls whose batches are driven from another file
 * (ctd_write.c), on this connection's channel, queue and thread. */

ctd_req *ctd_ext_new(ctd_conn *c, const char *method, const ctd_call_opts *opts,
                     ctd_ext_handler handler, void *arg, int *err)
{
    *err = check_args(c, method, (const void *)handler);
    if (*err)
        return NULL;
    ctd_req *r = req_new(c, KIND_EXT, method, NULL, opts);
    if (!r->call) {
        req_free(r);
        *err = -EIO;
        return NULL;
    }
    r->ext = handler;
    r->arg = arg;
    pending_add(c, r);
    return r;
}

int ctd_ext_batch(ctd_req *r, const grpc_op *ops, size_t n, int which)
{
    if (which < 0 || which > 2)
        return -EINVAL;
    return start_batch(r, ops, n, which) == 0 ? 0 : -EIO;
}

void ctd_ext_initial_metadata_op(ctd_req *r, grpc_op *op, const ctd_call_opts *opts)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    op->data.send_initial_metadata.count = r->n_md;
    op->data.send_initial_metadata.metadata = r->md;
    if (opts && opts->wait_for_ready)
        op->flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY |
                    GRPC_INITIAL_METADATA_WAIT_FOR_READY_EXPLICITLY_SET;
}

void ctd_ext_recv_initial_metadata_op(ctd_req *r, grpc_op *op)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_RECV_INITIAL_METADATA;
    op->data.recv_initial_metadata.recv_initial_metadata = &r->initial_md;
}

void ctd_ext_recv_status_op(ctd_req *r, grpc_op *op)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op->data.recv_status_on_client.trailing_metadata = &r->trailing_md;
    op->data.recv_status_on_client.status = &r->status;
    op->data.recv_status_on_client.status_details = &r->status_details;
    op->data.recv_status_on_client.error_string = &r->error_string;
}

grpc_status_code ctd_ext_status(ctd_req *r, char **msg)
{
    *msg = r->status == GRPC_STATUS_OK ? NULL : error_text(r);
    return r->status;
}

bool ctd_ext_cancelled(const ctd_req *r)
{
    return r->cancelled;
}

void ctd_ext_finish(ctd_req *r)
{
    pending_remove(r->conn, r);
}
