/* libcurl's multi socket API on libuv (http.h). The pattern is curl's own
 * (docs/examples/multi-uv.c): curl says which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION -> uv_poll) and when to wake it
 * (CURLMOPT_TIMERFUNCTION -> uv_timer); the loop hands readiness back with
 * curl_multi_socket_action; finished transfers come out of
 * curl_multi_info_read. User callbacks run only from those entry points,
 * outside curl's own callbacks, except on_data, which runs inside curl's
 * write callback and must not call into curl. */
#include "containerd/fetch/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/curl_dl.h"
#include "common/xalloc.h"

#define DEFAULT_MAX_BODY (64u << 10)
#define LINGER_MS 5000

typedef struct engine {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t *timer;  /* curl's timeout */
    uv_timer_t *linger; /* tears the engine down once idle */
    size_t pending;
    int depth;    /* inside an engine entry point */
    bool closing; /* curl_multi_cleanup runs */
} engine;

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    engine *e;
} sock_ctx;

struct http_req {
    engine *e;
    CURL *easy;
    struct curl_slist *headers;
    int (*on_data)(void *arg, const char *data, size_t len);
    void *data_arg;
    http_done_cb done;
    void *arg;
    size_t max_body;
    char *body;
    size_t body_len, body_cap;
    bool body_cut;
    bool aborted_by_user;
    long cur_status;
    int64_t streamed;
    char errbuf[CURL_ERROR_SIZE];
};

static engine *eng;

size_t http_pending(void)
{
    return eng ? eng->pending : 0;
}

/* ---------------------------------------------------------------- hosts */

static bool host_matches(const char *host_port, const char *entry)
{
    size_t n = strlen(entry);
    while (n && (entry[n - 1] == ' ' || entry[n - 1] == '\t'))
        n--;
    while (n && (*entry == ' ' || *entry == '\t'))
        entry++, n--;
    if (n == 0)
        return false;
    if (strlen(host_port) == n && strncmp(host_port, entry, n) == 0)
        return true;
    /* an entry without a port matches every port of that host */
    if (!memchr(entry, ':', n) && strncmp(host_port, entry, n) == 0 && host_port[n] == ':')
        return true;
    return false;
}

bool http_insecure_host(const char *host_port)
{
    char host[256];
    const char *hp = host_port;
    if (hp[0] == '[') { /* [::1]:5000 */
        const char *end = strchr(hp, ']');
        size_t n = end ? (size_t)(end - hp - 1) : 0;
        snprintf(host, sizeof host, "%.*s", (int)n, hp + 1);
    } else {
        size_t n = strcspn(hp, ":");
        snprintf(host, sizeof host, "%.*s", (int)n, hp);
    }
    if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
        strncmp(host, "127.", 4) == 0)
        return true;
    return http_insecure_listed(host_port);
}

bool http_insecure_listed(const char *host_port)
{
    const char *list = getenv("ORCH_INSECURE_REGISTRIES");
    if (!list || !*list)
        return false;
    char *copy = xstrdup(list), *save = NULL;
    bool hit = false;
    for (char *t = strtok_r(copy, ",", &save); t && !hit; t = strtok_r(NULL, ",", &save))
        hit = host_matches(host_port, t);
    free(copy);
    return hit;
}

/* ---------------------------------------------------------------- engine */

static void check_done(engine *e);
static void maybe_linger(engine *e);

static void on_handle_closed(uv_handle_t *h)
{
    free(h);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_ctx *s = p->data;
    engine *e = s->e;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running = 0;
    e->depth++;
    orch_curl.curl_multi_socket_action(e->multi, s->fd, flags, &running);
    check_done(e);
    e->depth--;
    maybe_linger(e);
}

static void on_timeout(uv_timer_t *t)
{
    engine *e = t->data;
    int running = 0;
    e->depth++;
    orch_curl.curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(e);
    e->depth--;
    maybe_linger(e);
}

static int sock_cb(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    engine *e = userp;
    sock_ctx *s = socketp;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_handle_closed);
            if (!e->closing)
                orch_curl.curl_multi_assign(e->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->fd = fd;
        s->e = e;
        if (uv_poll_init_socket(e->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        orch_curl.curl_multi_assign(e->multi, fd, s);
    }
    int events = 0;
    if (action == CURL_POLL_IN || action == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    engine *e = userp;
    if (timeout_ms < 0)
        uv_timer_stop(e->timer);
    else
        uv_timer_start(e->timer, on_timeout, timeout_ms > 0 ? (uint64_t)timeout_ms : 0, 0);
    return 0;
}

static void engine_free(engine *e)
{
    if (eng == e)
        eng = NULL;
    /* closes cached connections: curl removes their sockets (sock_cb) */
    e->closing = true;
    orch_curl.curl_multi_cleanup(e->multi);
    uv_timer_stop(e->timer);
    uv_close((uv_handle_t *)e->timer, on_handle_closed);
    uv_timer_stop(e->linger);
    uv_close((uv_handle_t *)e->linger, on_handle_closed);
    free(e);
}

static void on_linger(uv_timer_t *t)
{
    engine *e = t->data;
    if (e->pending == 0 && e->depth == 0)
        engine_free(e);
}

static void maybe_linger(engine *e)
{
    if (e->depth == 0 && e->pending == 0 && eng == e)
        uv_timer_start(e->linger, on_linger, LINGER_MS, 0);
}

int http_load(orch_error **err)
{
    const char *why;
    if (orch_curl_load(&why) == 0)
        return 0;
    /* Not transient: the failure is kept, a retry would meet it again. */
    return orch_error_set(err, orch_error_new(ORCH_E_UNSUPPORTED,
                                              "cannot load libcurl (%s): registry pulls need it "
                                              "(Debian: libcurl4)",
                                              why));
}

static engine *engine_get(uv_loop_t *loop, char **err)
{
    if (eng)
        return eng;
    orch_error *lerr = NULL;
    if (http_load(&lerr) != 0) {
        *err = orch_error_take_msg(lerr);
        return NULL;
    }
    engine *e = xcalloc(1, sizeof *e);
    e->loop = loop;
    e->multi = orch_curl.curl_multi_init();
    if (!e->multi) {
        free(e);
        *err = xstrdup("cannot initialise libcurl's multi interface");
        return NULL;
    }
    e->timer = xcalloc(1, sizeof *e->timer);
    uv_timer_init(loop, e->timer);
    e->timer->data = e;
    e->linger = xcalloc(1, sizeof *e->linger);
    uv_timer_init(loop, e->linger);
    e->linger->data = e;
    uv_unref((uv_handle_t *)e->linger);
    orch_curl.curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    orch_curl.curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    orch_curl.curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    orch_curl.curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
    orch_curl.curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
    eng = e;
    return e;
}

/* ---------------------------------------------------------------- requests */

static void keep_body(http_req *r, const char *data, size_t len)
{
    if (r->body_len + len > r->max_body) {
        r->body_cut = true;
        len = r->max_body > r->body_len ? r->max_body - r->body_len : 0;
    }
    if (len == 0)
        return;
    xgrow((void **)&r->body, &r->body_cap, r->body_len + len + 1, 1);
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    http_req *r = userp;
    size_t len = size * nmemb;
    long status = 0;
    orch_curl.curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != r->cur_status) {
        /* a new answer (after a redirect or an auth round): drop the old body */
        r->cur_status = status;
        r->body_len = 0;
        r->body_cut = false;
    }
    if (r->on_data && status >= 200 && status < 300) {
        int a = r->on_data(r->data_arg, data, len);
        if (a == HTTP_PAUSE)
            return CURL_WRITEFUNC_PAUSE;
        if (a == HTTP_ABORT) {
            r->aborted_by_user = true;
            return 0;
        }
        r->streamed += (int64_t)len;
        return len;
    }
    keep_body(r, data, len);
    if (!r->on_data && r->body_cut && status >= 200 && status < 300)
        return 0; /* a buffered answer larger than allowed: stop now */
    return len;
}

static char *header_value(CURL *easy, const char *name)
{
    struct curl_header *h = NULL;
    if (orch_curl.curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h && h->value)
        return xstrdup(h->value);
    return NULL;
}

static void req_free(http_req *r)
{
    orch_curl.curl_easy_cleanup(r->easy);
    orch_curl.curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
}

static const char *curl_reason(http_req *r, CURLcode code)
{
    if (code == CURLE_OK)
        return "";
    return r->errbuf[0] ? r->errbuf : orch_curl.curl_easy_strerror(code);
}

static void finish(engine *e, http_req *r, CURLcode code)
{
    orch_curl.curl_multi_remove_handle(e->multi, r->easy);
    e->pending--;
    http_result res;
    memset(&res, 0, sizeof res);
    orch_curl.curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
    res.curl_code = code;
    size_t n = strlen(r->errbuf);
    while (n && r->errbuf[n - 1] == '\n')
        r->errbuf[--n] = '\0';
    if (code == CURLE_WRITE_ERROR && r->body_cut && !r->on_data)
        res.error = "the answer is larger than expected";
    else if (code == CURLE_WRITE_ERROR && r->aborted_by_user)
        res.error = "stopped";
    else
        res.error = curl_reason(r, code);
    char *ct = header_value(r->easy, "Content-Type");
    char *wa = header_value(r->easy, "WWW-Authenticate");
    char *dd = header_value(r->easy, "Docker-Content-Digest");
    char *cr = header_value(r->easy, "Content-Range");
    res.content_type = ct;
    res.www_authenticate = wa;
    res.docker_digest = dd;
    res.content_range = cr;
    res.body = r->body ? r->body : "";
    res.body_len = r->body_len;
    res.body_cut = r->body_cut;
    res.streamed = r->streamed;
    r->done(r->arg, &res);
    free(ct);
    free(wa);
    free(dd);
    free(cr);
    req_free(r);
}

static void check_done(engine *e)
{
    CURLMsg *m;
    int left = 0;
    while ((m = orch_curl.curl_multi_info_read(e->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        http_req *r = NULL;
        orch_curl.curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r)
            finish(e, r, m->data.result);
    }
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    return end && *end == '\0' && n > 0 ? n : dflt;
}

http_req *http_start(uv_loop_t *loop, const http_opts *o, http_done_cb done, void *arg,
                     char **err)
{
    engine *e = engine_get(loop, err);
    if (!e)
        return NULL;
    http_req *r = xcalloc(1, sizeof *r);
    r->e = e;
    r->easy = orch_curl.curl_easy_init();
    if (!r->easy) {
        free(r);
        *err = xstrdup("cannot create a libcurl handle");
        return NULL;
    }
    r->on_data = o->on_data;
    r->data_arg = o->data_arg;
    r->done = done;
    r->arg = arg;
    r->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
    r->cur_status = -1;
    CURL *c = r->easy;
    orch_curl.curl_easy_setopt(c, CURLOPT_URL, o->url);
    orch_curl.curl_easy_setopt(c, CURLOPT_PRIVATE, (char *)r);
    orch_curl.curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    orch_curl.curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    orch_curl.curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
    orch_curl.curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    orch_curl.curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    orch_curl.curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    orch_curl.curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    orch_curl.curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    orch_curl.curl_easy_setopt(c, CURLOPT_USERAGENT, "orchd/" ORCH_VERSION_STRING);
    orch_curl.curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    orch_curl.curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    long connect_ms = o->connect_timeout_ms ? o->connect_timeout_ms
                                            : env_long("ORCH_PULL_CONNECT_TIMEOUT", 15) * 1000;
    long stall_s = o->stall_timeout_s ? o->stall_timeout_s
                                      : env_long("ORCH_PULL_STALL_TIMEOUT", 30);
    orch_curl.curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    orch_curl.curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    orch_curl.curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_s);
    if (o->total_timeout_ms > 0)
        orch_curl.curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->total_timeout_ms);
    if (o->head)
        orch_curl.curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (o->range_from > 0) {
        char range[32];
        snprintf(range, sizeof range, "%lld-", (long long)o->range_from);
        orch_curl.curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    for (const char *const *h = o->headers; h && *h; h++) {
        struct curl_slist *n = orch_curl.curl_slist_append(r->headers, *h);
        if (n)
            r->headers = n;
    }
    if (r->headers)
        orch_curl.curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
    CURLMcode mc = orch_curl.curl_multi_add_handle(e->multi, c);
    if (mc != CURLM_OK) {
        *err = xasprintf("cannot start an HTTP request: %s", orch_curl.curl_multi_strerror(mc));
        req_free(r);
        maybe_linger(e);
        return NULL;
    }
    e->pending++;
    uv_timer_stop(e->linger);
    return r;
}

void http_resume(http_req *r)
{
    engine *e = r->e;
    e->depth++;
    orch_curl.curl_easy_pause(r->easy, CURLPAUSE_CONT);
    e->depth--;
}

void http_cancel(http_req *r)
{
    if (!r)
        return;
    engine *e = r->e;
    orch_curl.curl_multi_remove_handle(e->multi, r->easy);
    e->pending--;
    req_free(r);
    maybe_linger(e);
}

void http_shutdown(void)
{
    if (eng && eng->pending == 0 && eng->depth == 0)
        engine_free(eng);
}

long http_status(http_req *r)
{
    long status = 0;
    orch_curl.curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
}
