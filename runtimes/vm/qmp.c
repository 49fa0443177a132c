/* The one-shot QMP client (qmp.h). qemu is the service's (trusted as much
 * as the hypervisor is), but its replies are still read bounded. */
#include "vm/qmp.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "common/xalloc.h"

#define QMP_LINE_MAX 65536

typedef struct qmp_req {
    uv_pipe_t pipe;
    uv_connect_t conn;
    uv_write_t wr;
    uv_timer_t timer;
    char *command;
    char *buf;
    size_t len;
    int stage; /* 0 greeting, 1 capabilities answer, 2 command answer */
    int closing;
    vm_qmp_cb cb;
    void *arg;
} qmp_req;

static void req_free(uv_handle_t *h)
{
    qmp_req *q = h->data;
    if (--q->closing > 0)
        return;
    free(q->command);
    free(q->buf);
    free(q);
}

static void finish(qmp_req *q, int ok, const char *why)
{
    if (q->closing)
        return;
    if (q->cb)
        q->cb(q->arg, ok, why);
    q->closing = 2;
    uv_close((uv_handle_t *)&q->timer, req_free);
    uv_close((uv_handle_t *)&q->pipe, req_free);
}

static void on_timeout(uv_timer_t *t)
{
    finish(t->data, 0, "qemu did not answer on QMP in time");
}

static void on_written(uv_write_t *w, int status)
{
    if (status < 0)
        finish(w->data, 0, uv_strerror(status));
}

static void send_text(qmp_req *q, const char *text)
{
    /* both strings outlive the write: the handshake is static, the
     * command lives in q */
    uv_buf_t b = uv_buf_init((char *)text, (unsigned)strlen(text));
    int r = uv_write(&q->wr, (uv_stream_t *)&q->pipe, &b, 1, on_written);
    if (r < 0)
        finish(q, 0, uv_strerror(r));
}

/* One complete line from qemu. Events ({"event":...}) may come at any time
 * and are skipped; greeting, then one answer per request, in order. */
static void on_line(qmp_req *q, char *line)
{
    char eb[128];
    yajl_val v = yajl_tree_parse(line, eb, sizeof eb);
    if (!v || !YAJL_IS_OBJECT(v)) {
        yajl_tree_free(v);
        finish(q, 0, "qemu sent QMP text that is not a JSON object");
        return;
    }
    const char *qp[] = {"QMP", NULL}, *rp[] = {"return", NULL}, *ep[] = {"error", NULL},
               *dp[] = {"error", "desc", NULL};
    bool greeting = yajl_tree_get(v, qp, yajl_t_any) != NULL;
    bool ret = yajl_tree_get(v, rp, yajl_t_any) != NULL;
    yajl_val err = yajl_tree_get(v, ep, yajl_t_any);
    char why[256] = "";
    if (err) {
        const char *d = YAJL_GET_STRING(yajl_tree_get(v, dp, yajl_t_string));
        snprintf(why, sizeof why, "qemu refused: %s", d ? d : "(no description)");
    }
    yajl_tree_free(v);
    if (q->stage == 0 && greeting) {
        q->stage = 1;
        send_text(q, "{\"execute\":\"qmp_capabilities\"}\n");
    } else if (q->stage == 1 && (ret || err)) {
        if (err) {
            finish(q, 0, why);
            return;
        }
        q->stage = 2;
        send_text(q, q->command);
    } else if (q->stage == 2 && (ret || err)) {
        finish(q, ret, err ? why : NULL);
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h, (void)hint;
    static char chunk[4096]; /* the loop thread only; consumed in on_read */
    *b = uv_buf_init(chunk, sizeof chunk);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    qmp_req *q = s->data;
    if (n < 0) {
        finish(q, 0, n == UV_EOF ? "qemu closed the QMP connection" : uv_strerror((int)n));
        return;
    }
    for (ssize_t i = 0; i < n && !q->closing; i++) {
        char c = b->base[i];
        if (c == '\n') {
            q->buf = xrealloc(q->buf, q->len + 1);
            q->buf[q->len] = '\0';
            q->len = 0;
            on_line(q, q->buf);
            continue;
        }
        if (q->len + 1 >= QMP_LINE_MAX) {
            finish(q, 0, "qemu sent an overlong QMP line");
            return;
        }
        q->buf = xrealloc(q->buf, q->len + 2);
        q->buf[q->len++] = c;
    }
}

static void on_connected(uv_connect_t *c, int status)
{
    qmp_req *q = c->data;
    if (status < 0) {
        finish(q, 0, uv_strerror(status));
        return;
    }
    int r = uv_read_start((uv_stream_t *)&q->pipe, on_alloc, on_read);
    if (r < 0)
        finish(q, 0, uv_strerror(r));
}

void vm_qmp_command(uv_loop_t *loop, const char *sock, const char *command, unsigned timeout_ms,
                    vm_qmp_cb cb, void *arg)
{
    qmp_req *q = xcalloc(1, sizeof *q);
    q->command = xasprintf("%s\n", command);
    q->cb = cb;
    q->arg = arg;
    uv_pipe_init(loop, &q->pipe, 0);
    uv_timer_init(loop, &q->timer);
    q->pipe.data = q->conn.data = q->wr.data = q->timer.data = q;
    uv_timer_start(&q->timer, on_timeout, timeout_ms, 0);
    uv_pipe_connect(&q->conn, &q->pipe, sock, on_connected);
}
