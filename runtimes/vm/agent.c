/* The host end of the agent channel (agent.h). */
#include "vm/agent.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "common/xalloc.h"

#define LINE_MAX_GUEST (256 * 1024) /* a capture: 32 KiB, JSON-escaped */
#define GRACE_MS 3000         /* past the command's own timeout */
#define CONNECT_RETRY_MS 250

struct orch_exec {
    vm_agent *a;
    long long id;
    orch_exec_cb cb;
    vm_capture_cb ccb; /* a capture: this instead of cb */
    bool stop;         /* a stop request (vm_agent_stop) */
    void *owner;
    char *line; /* not yet written */
    uv_timer_t timer;
    bool has_timer;
    struct orch_exec *next;
};

struct vm_agent {
    uv_loop_t *loop;
    char *sock;
    uv_pipe_t *pipe; /* NULL: not connected */
    bool connecting, retry_closed;
    uv_timer_t retry;
    long long next_id;
    orch_exec *pending;
    char *in; /* LINE_MAX_GUEST */
    size_t in_len;
    bool discarding;
};

typedef struct wreq {
    uv_write_t w;
    char *text;
} wreq;

static void connect_now(vm_agent *a);
static void on_retry(uv_timer_t *t);

static void exec_free(uv_handle_t *h)
{
    orch_exec *x = h->data;
    free(x->line);
    free(x);
}

/* Unlinks x and frees it (after its timer closes). */
static void exec_drop(orch_exec *x)
{
    for (orch_exec **p = &x->a->pending; *p; p = &(*p)->next)
        if (*p == x) {
            *p = x->next;
            break;
        }
    uv_close((uv_handle_t *)&x->timer, exec_free);
}

static void exec_end_out(orch_exec *x, bool timed_out, int status, const char *err,
                         const char *output)
{
    orch_exec_result r = {.timed_out = timed_out, .status = status, .err = err};
    orch_exec_cb cb = x->cb;
    vm_capture_cb ccb = x->ccb;
    void *owner = x->owner;
    exec_drop(x);
    if (ccb)
        ccb(owner, &r, output);
    else
        cb(owner, &r);
}

static void exec_end(orch_exec *x, bool timed_out, int status, const char *err)
{
    exec_end_out(x, timed_out, status, err, NULL);
}

static void written(uv_write_t *w, int status)
{
    wreq *r = (wreq *)w;
    (void)status; /* a broken connection shows as a read error */
    free(r->text);
    free(r);
}

static void send_line(vm_agent *a, char *text)
{
    wreq *r = xcalloc(1, sizeof *r);
    r->text = text;
    uv_buf_t b = uv_buf_init(text, (unsigned)strlen(text));
    if (uv_write(&r->w, (uv_stream_t *)a->pipe, &b, 1, written) < 0) {
        free(text);
        free(r);
    }
}

static void flush(vm_agent *a)
{
    for (orch_exec *x = a->pending; x && a->pipe; x = x->next)
        if (x->line) {
            send_line(a, x->line);
            x->line = NULL;
        }
}

static void pipe_closed(uv_handle_t *h)
{
    free(h);
}

static void disconnect(vm_agent *a, const char *why)
{
    if (a->pipe) {
        uv_close((uv_handle_t *)a->pipe, pipe_closed);
        a->pipe = NULL;
    }
    /* sent requests are lost with the connection; unsent ones wait */
    orch_exec *x = a->pending;
    while (x) {
        orch_exec *next = x->next;
        if (!x->line)
            exec_end(x, false, 0, why);
        x = next;
    }
    if (a->pending)
        uv_timer_start(&a->retry, on_retry, CONNECT_RETRY_MS, 0);
}

static void answer(vm_agent *a, const char *line)
{
    char eb[64];
    yajl_val v = yajl_tree_parse(line, eb, sizeof eb);
    const char *ip[] = {"id", NULL}, *sp[] = {"status", NULL}, *tp[] = {"timed_out", NULL},
               *ep[] = {"error", NULL}, *op[] = {"output", NULL};
    yajl_val id = v ? yajl_tree_get(v, ip, yajl_t_number) : NULL;
    orch_exec *x = NULL;
    for (orch_exec *p = a->pending; id && YAJL_IS_INTEGER(id) && p; p = p->next)
        if (p->id == YAJL_GET_INTEGER(id) && !p->line)
            x = p;
    const char *kp[] = {"stopping", NULL};
    if (x && x->stop) {
        /* a stop request: taken, or the guest's reason why not */
        const char *err = YAJL_GET_STRING(yajl_tree_get(v, ep, yajl_t_string));
        char msg[200];
        snprintf(msg, sizeof msg, "the guest: %.150s", err ? err : "an answer without stopping");
        bool taken = YAJL_IS_TRUE(yajl_tree_get(v, kp, yajl_t_any));
        exec_end(x, false, 0, taken ? NULL : msg);
    } else if (x) {
        yajl_val st = yajl_tree_get(v, sp, yajl_t_number);
        const char *err = YAJL_GET_STRING(yajl_tree_get(v, ep, yajl_t_string));
        char msg[200];
        if (YAJL_IS_TRUE(yajl_tree_get(v, tp, yajl_t_any)))
            exec_end(x, true, 0, NULL);
        else if (st && YAJL_IS_INTEGER(st) && YAJL_GET_INTEGER(st) >= 0 &&
                 YAJL_GET_INTEGER(st) <= 0xffff)
            exec_end_out(x, false, (int)YAJL_GET_INTEGER(st), NULL,
                         YAJL_GET_STRING(yajl_tree_get(v, op, yajl_t_string)));
        else {
            snprintf(msg, sizeof msg, "the guest: %.150s", err ? err : "an answer without a status");
            exec_end(x, false, 0, msg);
        }
    }
    yajl_tree_free(v);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h, (void)hint;
    static char chunk[4096]; /* loop thread only */
    *b = uv_buf_init(chunk, sizeof chunk);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    vm_agent *a = s->data;
    if (n < 0) {
        disconnect(a, "the guest agent connection closed");
        return;
    }
    for (ssize_t i = 0; i < n && a->pipe; i++) {
        if (b->base[i] == '\n') {
            a->in[a->in_len] = '\0';
            if (!a->discarding && a->in_len)
                answer(a, a->in);
            a->in_len = 0;
            a->discarding = false;
        } else if (a->in_len + 1 < LINE_MAX_GUEST) /* a->in is LINE_MAX_GUEST bytes */
            a->in[a->in_len++] = b->base[i];
        else
            a->discarding = true;
    }
}

static void on_retry(uv_timer_t *t)
{
    vm_agent *a = t->data;
    if (a->pending)
        connect_now(a);
}

static void on_connected(uv_connect_t *c, int status)
{
    vm_agent *a = c->data;
    uv_pipe_t *p = (uv_pipe_t *)c->handle;
    free(c);
    a->connecting = false;
    if (!a->sock) { /* closed meanwhile */
        uv_close((uv_handle_t *)p, pipe_closed);
        if (a->retry_closed) {
            free(a->in);
            free(a);
        }
        return;
    }
    if (status < 0 || uv_read_start((uv_stream_t *)p, on_alloc, on_read) < 0) {
        /* qemu not up yet (no socket), or another client: try again */
        uv_close((uv_handle_t *)p, pipe_closed);
        uv_timer_start(&a->retry, on_retry, CONNECT_RETRY_MS, 0);
        return;
    }
    a->pipe = p;
    flush(a);
}

static void connect_now(vm_agent *a)
{
    if (a->pipe || a->connecting)
        return;
    uv_pipe_t *p = xcalloc(1, sizeof *p);
    uv_pipe_init(a->loop, p, 0);
    p->data = a;
    uv_connect_t *c = xcalloc(1, sizeof *c);
    c->data = a;
    a->connecting = true;
    uv_pipe_connect(c, p, a->sock, on_connected);
}

vm_agent *vm_agent_new(uv_loop_t *loop, const char *sock)
{
    vm_agent *a = xcalloc(1, sizeof *a);
    a->loop = loop;
    a->sock = xstrdup(sock);
    a->in = xmalloc(LINE_MAX_GUEST);
    uv_timer_init(loop, &a->retry);
    a->retry.data = a;
    return a;
}

static void on_timeout(uv_timer_t *t)
{
    exec_end(t->data, true, 0, NULL);
}

static orch_exec *exec_new(vm_agent *a, orch_exec_cb cb, vm_capture_cb ccb, void *owner)
{
    orch_exec *x = xcalloc(1, sizeof *x);
    x->a = a;
    x->id = ++a->next_id;
    x->cb = cb;
    x->ccb = ccb;
    x->owner = owner;
    return x;
}

/* x->line set: queue it, time it out after timer_ms (0: never). */
static orch_exec *exec_queue(orch_exec *x, uint64_t timer_ms)
{
    vm_agent *a = x->a;
    uv_timer_init(a->loop, &x->timer);
    x->timer.data = x;
    if (timer_ms)
        uv_timer_start(&x->timer, on_timeout, timer_ms, 0);
    x->next = a->pending;
    a->pending = x;
    if (a->pipe)
        flush(a);
    else
        connect_now(a);
    return x;
}

static orch_exec *send_exec(vm_agent *a, const char *command, uint64_t timeout_ms, orch_exec_cb cb,
                            vm_capture_cb ccb, void *owner)
{
    orch_exec *x = exec_new(a, cb, ccb, owner);
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    yajl_gen_string(g, (const unsigned char *)"id", 2);
    yajl_gen_integer(g, x->id);
    yajl_gen_string(g, (const unsigned char *)"exec", 4);
    yajl_gen_string(g, (const unsigned char *)command, strlen(command));
    yajl_gen_string(g, (const unsigned char *)"timeout_ms", 10);
    yajl_gen_integer(g, (long long)timeout_ms);
    if (ccb) {
        yajl_gen_string(g, (const unsigned char *)"capture", 7);
        yajl_gen_bool(g, 1);
    }
    yajl_gen_map_close(g);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    x->line = xasprintf("%.*s\n", (int)len, (const char *)buf);
    yajl_gen_free(g);
    return exec_queue(x, timeout_ms ? timeout_ms + GRACE_MS : 0);
}

orch_exec *vm_agent_stop(vm_agent *a, uint64_t timeout_ms, orch_exec_cb cb, void *owner)
{
    orch_exec *x = exec_new(a, cb, NULL, owner);
    x->stop = true;
    x->line = xasprintf("{\"id\":%lld,\"stop\":true}\n", x->id);
    return exec_queue(x, timeout_ms);
}

orch_exec *vm_agent_exec(vm_agent *a, const char *command, uint64_t timeout_ms, orch_exec_cb cb,
                         void *owner)
{
    return send_exec(a, command, timeout_ms, cb, NULL, owner);
}

orch_exec *vm_agent_capture(vm_agent *a, const char *command, uint64_t timeout_ms,
                            vm_capture_cb cb, void *owner)
{
    return send_exec(a, command, timeout_ms, NULL, cb, owner);
}

void vm_agent_cancel(orch_exec *x)
{
    vm_agent *a = x->a;
    if (!x->line && a->pipe)
        send_line(a, xasprintf("{\"id\":%lld,\"cancel\":true}\n", x->id));
    exec_drop(x);
}

static void retry_closed(uv_handle_t *h)
{
    vm_agent *a = h->data;
    a->retry_closed = true;
    if (!a->connecting) {
        free(a->in);
        free(a);
    }
    /* else on_connected frees it */
}

void vm_agent_close(vm_agent *a)
{
    while (a->pending)
        exec_end(a->pending, false, 0, "the VM stopped");
    if (a->pipe) {
        uv_close((uv_handle_t *)a->pipe, pipe_closed);
        a->pipe = NULL;
    }
    free(a->sock);
    a->sock = NULL;
    uv_close((uv_handle_t *)&a->retry, retry_closed);
}
