/* Health checks (see health.h). An HTTP probe is its own small object with
 * its own lifetime: a getaddrinfo request cannot be taken back once the
 * thread pool runs it, and a TCP handle closes asynchronously, so an
 * abandoned probe (timeout, or the checker stopped) cuts its link to the
 * checker and frees itself when its last callback has run. */
#include "daemon/health.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include "common/xalloc.h"
#include "daemon/https_probe.h"

typedef struct http_url {
    char *host;     /* without brackets */
    char *port;     /* decimal */
    char *hostport; /* for the Host header, as written */
    char *path;     /* starts with '/' */
} http_url;

typedef struct http_probe http_probe;

struct orch_health {
    uv_loop_t *loop;
    const orch_runtime_ops *ops; /* command probes run through ops->exec */
    orch_instance *inst;
    const orch_service *svc;
    const orch_env_ctx *ctx;
    orch_health_cb cb;
    void *owner;
    uint64_t interval_ms;
    bool stopped;
    int open_handles; /* tick and deadline until closed */
    bool is_http;
    bool is_https; /* is_http too: the URL parses the same way */
    http_url url;
    uv_timer_t tick;     /* pause between probes */
    uv_timer_t deadline; /* the HTTP probe in flight's timeout */
    orch_exec *cmd;      /* command probe in flight */
    http_probe *http;    /* HTTP probe in flight */
    orch_https_probe *https; /* https probe in flight */
    char *https_url;     /* what curl fetches: https://HOST[:PORT]/PATH */
};

struct http_probe {
    orch_health *h; /* NULL once abandoned */
    int pending;    /* callbacks still to come: getaddrinfo, handle close */
    bool tcp_open;
    bool gai_pending;
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    char *request;
    char resp[256];
    size_t len;
};

/* ---- URLs ----------------------------------------------------------------- */

static void url_free(http_url *u)
{
    free(u->host);
    free(u->port);
    free(u->hostport);
    free(u->path);
    memset(u, 0, sizeof *u);
}

static bool is_https(const char *check)
{
    return strncasecmp(check, "https://", 8) == 0;
}

/* http:// or https:// */
static bool is_http(const char *check)
{
    return strncasecmp(check, "http://", 7) == 0 || is_https(check);
}

static bool valid_port(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return false;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* Splits "host", "host:port", "[v6]" or "[v6]:port". */
static int split_authority(const char *a, size_t n, const char *default_port, http_url *u)
{
    const char *host = a, *port = NULL;
    size_t host_len = n, port_len = 0;
    if (n > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (!close)
            return -1;
        host = a + 1;
        host_len = (size_t)(close - host);
        size_t rest = n - (size_t)(close + 1 - a);
        if (rest > 0) {
            if (close[1] != ':')
                return -1;
            port = close + 2;
            port_len = rest - 1;
        }
    } else {
        const char *colon = memrchr(a, ':', n);
        if (colon) {
            host_len = (size_t)(colon - a);
            port = colon + 1;
            port_len = n - host_len - 1;
        }
    }
    if (host_len == 0 || (port && !valid_port(port, port_len)))
        return -1;
    u->host = xstrndup(host, host_len);
    u->port = port ? xstrndup(port, port_len) : xstrdup(default_port);
    u->hostport = xstrndup(a, n);
    return 0;
}

static int parse_http_url(const char *url, http_url *u, char **err)
{
    bool tls = is_https(url);
    const char *auth = url + (tls ? 8 : 7);
    size_t auth_len = strcspn(auth, "/?#");
    const char *path = auth + auth_len;
    if (memchr(auth, '@', auth_len)) {
        *err = xasprintf("healthcheck %s: user names in URLs are not supported", url);
        return -1;
    }
    if (split_authority(auth, auth_len, tls ? "443" : "80", u) != 0) {
        *err = xasprintf("healthcheck %s: expected %s://HOST[:PORT][/PATH]", url,
                         tls ? "https" : "http");
        url_free(u);
        return -1;
    }
    size_t path_len = strcspn(path, "#");
    if (path_len == 0)
        u->path = xstrdup("/");
    else if (path[0] == '?')
        u->path = xasprintf("/%.*s", (int)path_len, path);
    else
        u->path = xstrndup(path, path_len);
    return 0;
}

int orch_health_check_spec(const char *check, char **err)
{
    if (!is_http(check))
        return 0;
    http_url u = {0};
    if (parse_http_url(check, &u, err) != 0)
        return -1;
    url_free(&u);
    return 0;
}

/* ---- reporting ------------------------------------------------------------ */

static void on_tick(uv_timer_t *t);

/* The probe in flight finished: schedule the next one, then report. */
static void deliver(orch_health *h, bool ok, const char *detail)
{
    uv_timer_stop(&h->deadline);
    h->cmd = NULL;
    h->http = NULL;
    h->https = NULL;
    if (h->stopped)
        return;
    uv_timer_start(&h->tick, on_tick, h->interval_ms, 0);
    h->cb(h->owner, ok, detail); /* may stop h: it stays allocated until closed */
}

/* ---- HTTP probes ---------------------------------------------------------- */

static void probe_release(http_probe *p)
{
    if (--p->pending > 0)
        return;
    free(p->request);
    free(p);
}

static void on_tcp_closed(uv_handle_t *handle)
{
    probe_release(handle->data);
}

/* Cuts the probe loose: no more reports; it frees itself when done. */
static void probe_abandon(http_probe *p)
{
    p->h = NULL;
    if (p->tcp_open) {
        p->tcp_open = false;
        uv_close((uv_handle_t *)&p->tcp, on_tcp_closed);
    }
    if (p->gai_pending)
        uv_cancel((uv_req_t *)&p->gai); /* fails harmlessly once it runs */
}

static void probe_finish(http_probe *p, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void probe_finish(http_probe *p, bool ok, const char *fmt, ...)
{
    orch_health *h = p->h;
    char *detail = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&detail, fmt, ap) < 0)
            detail = NULL;
        va_end(ap);
    }
    probe_abandon(p);
    if (h)
        deliver(h, ok, detail ? detail : "");
    free(detail);
}

static int parse_status(const char *resp, size_t len)
{
    int major, minor, code;
    char line[sizeof ((http_probe *)0)->resp];
    memcpy(line, resp, len);
    line[len] = '\0';
    if (sscanf(line, "HTTP/%d.%d %3d", &major, &minor, &code) != 3)
        return -1;
    return code;
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    http_probe *p = handle->data;
    size_t room = sizeof p->resp - 1 - p->len;
    *buf = uv_buf_init(p->resp + p->len, (unsigned)room);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    http_probe *p = stream->data;
    if (!p->h)
        return;
    const char *url = p->h->svc->healthcheck;
    if (nread > 0)
        p->len += (size_t)nread;
    const char *eol = memchr(p->resp, '\n', p->len);
    if (eol || nread == UV_EOF || p->len == sizeof p->resp - 1) {
        int code = parse_status(p->resp, eol ? (size_t)(eol - p->resp) : p->len);
        if (p->len == 0)
            probe_finish(p, false, "%s: connection closed without a response", url);
        else if (code < 0)
            probe_finish(p, false, "%s: not an HTTP response", url);
        else if (code >= 200 && code <= 299)
            probe_finish(p, true, NULL);
        else
            probe_finish(p, false, "%s: HTTP %d", url, code);
    } else if (nread < 0) {
        probe_finish(p, false, "%s: read: %s", url, uv_strerror((int)nread));
    }
}

static void on_written(uv_write_t *req, int status)
{
    http_probe *p = req->data;
    if (p->h && status < 0)
        probe_finish(p, false, "%s: send: %s", p->h->svc->healthcheck, uv_strerror(status));
}

static void send_request(http_probe *p)
{
    http_url *u = &p->h->url;
    p->request = xasprintf("GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: orchd\r\n"
                           "Connection: close\r\n\r\n",
                           u->path, u->hostport);
    uv_buf_t b = uv_buf_init(p->request, (unsigned)strlen(p->request));
    p->wr.data = p;
    int r = uv_write(&p->wr, (uv_stream_t *)&p->tcp, &b, 1, on_written);
    if (r == 0)
        r = uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
    if (r < 0)
        probe_finish(p, false, "%s: send: %s", p->h->svc->healthcheck, uv_strerror(r));
}

static void on_connect(uv_connect_t *req, int status)
{
    http_probe *p = req->data;
    if (!p->h)
        return;
    if (status < 0) {
        probe_finish(p, false, "%s: connect: %s", p->h->svc->healthcheck, uv_strerror(status));
        return;
    }
    send_request(p);
}

static void probe_connect(http_probe *p, const struct sockaddr *addr)
{
    uv_tcp_init(p->h->loop, &p->tcp);
    p->tcp.data = p;
    p->tcp_open = true;
    p->pending++; /* the close callback */
    p->conn.data = p;
    int r = uv_tcp_connect(&p->conn, &p->tcp, addr, on_connect);
    if (r < 0)
        probe_finish(p, false, "%s: connect: %s", p->h->svc->healthcheck, uv_strerror(r));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    http_probe *p = req->data;
    p->gai_pending = false;
    if (p->h) {
        if (status < 0 || !res)
            probe_finish(p, false, "%s: cannot resolve %s: %s", p->h->svc->healthcheck,
                         p->h->url.host, uv_strerror(status ? status : UV_EAI_NONAME));
        else
            probe_connect(p, res->ai_addr);
    }
    uv_freeaddrinfo(res);
    probe_release(p);
}

static void http_probe_start(orch_health *h)
{
    http_probe *p = xcalloc(1, sizeof *p);
    p->h = h;
    p->pending = 1; /* dropped by probe_release at the end of this function */
    h->http = p;
    struct sockaddr_storage ss;
    int port = atoi(h->url.port);
    if (uv_ip4_addr(h->url.host, port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(h->url.host, port, (struct sockaddr_in6 *)&ss) == 0) {
        probe_connect(p, (const struct sockaddr *)&ss);
    } else {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        p->gai.data = p;
        p->pending++;
        p->gai_pending = true;
        int r = uv_getaddrinfo(h->loop, &p->gai, on_resolved, h->url.host, h->url.port, &hints);
        if (r < 0) {
            p->pending--;
            p->gai_pending = false;
            probe_finish(p, false, "%s: cannot resolve %s: %s", h->svc->healthcheck, h->url.host,
                         uv_strerror(r));
        }
    }
    probe_release(p);
}

/* ---- https probes --------------------------------------------------------- */

static void on_https_done(void *owner, bool ok, const char *detail)
{
    orch_health *h = owner;
    h->https = NULL; /* over: orch_https_probe freed it */
    deliver(h, ok, detail);
}

static void https_probe_start(orch_health *h)
{
    char *err = NULL;
    h->https = orch_https_probe_start(h->loop, h->https_url, ORCH_HEALTH_HTTP_TIMEOUT_MS,
                                      on_https_done, h, &err);
    if (!h->https) {
        deliver(h, false, err ? err : "https health checks are not available");
        free(err);
    }
}

/* ---- command probes ------------------------------------------------------- */

/* A command probe runs where the service runs (ops->exec: on the host, or
 * inside the container), with the runtime enforcing the timeout. */
static void on_command_exit(void *owner, const orch_exec_result *r)
{
    orch_health *h = owner;
    h->cmd = NULL;
    int status = r->status;
    if (!r->err && !r->timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        deliver(h, true, NULL);
        return;
    }
    char *why = r->err ? xasprintf("healthcheck: %s", r->err)
                : r->timed_out
                    ? xasprintf("healthcheck timed out after %ds",
                                ORCH_HEALTH_COMMAND_TIMEOUT_MS / 1000)
                : WIFEXITED(status)
                    ? xasprintf("healthcheck exited with code %d", WEXITSTATUS(status))
                    : xasprintf("healthcheck killed by signal %d", WTERMSIG(status));
    deliver(h, false, why);
    free(why);
}

static void kill_command(orch_health *h)
{
    h->ops->exec_cancel(h->cmd);
    h->cmd = NULL;
}

static void command_probe_start(orch_health *h)
{
    char *err = NULL;
    orch_exec *x = h->ops->exec(h->inst, h->svc, h->ctx, h->svc->healthcheck,
                                ORCH_HEALTH_COMMAND_TIMEOUT_MS, on_command_exit, h, &err);
    if (!x) {
        char *why = xasprintf("healthcheck: %s", err ? err : "cannot run the command");
        free(err);
        deliver(h, false, why);
        free(why);
        return;
    }
    h->cmd = x;
}

/* ---- the checker ---------------------------------------------------------- */

static void on_deadline(uv_timer_t *t)
{
    orch_health *h = t->data;
    if (h->https) { /* curl's own timeout normally comes first */
        orch_https_probe_cancel(h->https);
        h->https = NULL;
        char *why = xasprintf("%s: no response within %ds", h->svc->healthcheck,
                              ORCH_HEALTH_HTTP_TIMEOUT_MS / 1000);
        deliver(h, false, why);
        free(why);
    }
    if (h->http) {
        http_probe *p = h->http;
        char *why = xasprintf("%s: no response within %ds", h->svc->healthcheck,
                              ORCH_HEALTH_HTTP_TIMEOUT_MS / 1000);
        probe_abandon(p);
        deliver(h, false, why);
        free(why);
    }
}

static void on_tick(uv_timer_t *t)
{
    orch_health *h = t->data;
    if (h->is_http && !h->url.host) {
        char *err = NULL;
        orch_health_check_spec(h->svc->healthcheck, &err);
        deliver(h, false, err ? err : "bad healthcheck URL");
        free(err);
    } else if (h->is_https) {
        /* A little after curl's own timeout, which reports the better reason. */
        uv_timer_start(&h->deadline, on_deadline, ORCH_HEALTH_HTTP_TIMEOUT_MS + 1000, 0);
        https_probe_start(h);
    } else if (h->is_http) {
        uv_timer_start(&h->deadline, on_deadline, ORCH_HEALTH_HTTP_TIMEOUT_MS, 0);
        http_probe_start(h);
    } else {
        command_probe_start(h);
    }
}

orch_health *orch_health_start(uv_loop_t *loop, const orch_runtime_ops *ops, orch_instance *inst,
                               const orch_service *svc, const orch_env_ctx *ctx,
                               uint64_t interval_ms, orch_health_cb cb, void *owner)
{
    orch_health *h = xcalloc(1, sizeof *h);
    *h = (orch_health){.loop = loop, .ops = ops, .inst = inst, .svc = svc, .ctx = ctx, .cb = cb,
                       .owner = owner, .interval_ms = interval_ms, .open_handles = 2};
    h->is_http = is_http(svc->healthcheck);
    h->is_https = is_https(svc->healthcheck);
    if (h->is_http) {
        char *err = NULL;
        if (parse_http_url(svc->healthcheck, &h->url, &err) != 0)
            free(err); /* checked by orch_health_check_spec; each probe will fail */
        else if (h->is_https)
            h->https_url = xasprintf("https://%s%s", h->url.hostport, h->url.path);
    }
    uv_timer_init(loop, &h->tick);
    uv_timer_init(loop, &h->deadline);
    h->tick.data = h->deadline.data = h;
    /* The first probe on the next loop iteration: never inside this call. */
    uv_timer_start(&h->tick, on_tick, 0, 0);
    return h;
}

void orch_health_set_interval(orch_health *h, uint64_t interval_ms)
{
    h->interval_ms = interval_ms;
    /* Called from the callback, the next tick is already armed: re-arm it. */
    if (!h->stopped && uv_is_active((uv_handle_t *)&h->tick))
        uv_timer_start(&h->tick, on_tick, interval_ms, 0);
}

static void on_closed(uv_handle_t *handle)
{
    orch_health *h = handle->data;
    if (--h->open_handles > 0)
        return;
    url_free(&h->url);
    free(h->https_url);
    free(h);
}

void orch_health_stop(orch_health *h)
{
    if (!h || h->stopped)
        return;
    h->stopped = true;
    if (h->http)
        probe_abandon(h->http);
    orch_https_probe_cancel(h->https);
    h->https = NULL;
    if (h->cmd)
        kill_command(h);
    h->http = NULL;
    uv_close((uv_handle_t *)&h->tick, on_closed);
    uv_close((uv_handle_t *)&h->deadline, on_closed);
}
