/* https:// health probes with a dlopen()ed libcurl on the loop (see
 * https_probe.h). One curl multi handle serves every probe of the daemon;
 * curl tells which sockets to watch (socket_cb) and when to call it back
 * (timer_cb), and each finished transfer is collected in collect(). curl is
 * never called from inside one of its own callbacks. */
#include "daemon/https_probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#ifdef ORCH_HAVE_CURL_HEADERS

#include "common/curl_dl.h"

/* A body is not needed: up to this much is read and dropped; past it the
 * transfer is cut and the status decides. */
#define BODY_MAX (64 * 1024)

static struct {
    CURLM *multi;
    bool cleaning; /* inside curl_multi_cleanup */
    uv_loop_t *loop;
    uv_timer_t *timer; /* malloc'ed: closing is asynchronous */
    size_t active; /* probes added to multi */
} G;

struct orch_https_probe {
    CURL *easy;
    orch_https_cb cb;
    void *owner;
    char *url;
    size_t body; /* bytes read and dropped */
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
} sock_ctx;

static int load_curl(char **err)
{
    const char *why;
    if (orch_curl_load(&why) != 0) {
        *err = xasprintf("https health checks need libcurl (Debian: libcurl4): %s", why);
        return -1;
    }
    return 0;
}

static void collect(void);

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void on_sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_ctx *s = h->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running;
    orch_curl.curl_multi_socket_action(G.multi, s->fd, flags, &running);
    collect();
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)userp;
    sock_ctx *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
            if (!G.cleaning)
                orch_curl.curl_multi_assign(G.multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = xcalloc(1, sizeof *s);
        if (uv_poll_init_socket(G.loop, &s->poll, fd) != 0) {
            free(s);
            return -1; /* curl fails the transfer */
        }
        s->fd = fd;
        s->poll.data = s;
        orch_curl.curl_multi_assign(G.multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    (void)t;
    int running;
    orch_curl.curl_multi_socket_action(G.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect();
}

/* curl asks to be called back: -1 means never, 0 means soon (on the next
 * loop iteration, not from inside curl). */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    (void)userp;
    if (G.cleaning)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(G.timer);
    else
        uv_timer_start(G.timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static int ensure_multi(uv_loop_t *loop)
{
    if (G.multi && G.loop == loop)
        return 0;
    if (G.multi) {
        /* Another loop (tests run several): only once the old one is idle. */
        if (G.active > 0)
            return -1;
        orch_https_shutdown();
    }
    G.multi = orch_curl.curl_multi_init();
    if (!G.multi)
        return -1;
    G.loop = loop;
    G.timer = xmalloc(sizeof *G.timer);
    uv_timer_init(loop, G.timer);
    orch_curl.curl_multi_setopt(G.multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    orch_curl.curl_multi_setopt(G.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    return 0;
}

static size_t drop_body(char *data, size_t size, size_t n, void *userp)
{
    (void)data;
    orch_https_probe *p = userp;
    size_t len = size * n;
    p->body += len;
    return p->body > BODY_MAX ? 0 : len; /* 0: curl stops with a write error */
}

static void probe_free(orch_https_probe *p)
{
    orch_curl.curl_multi_remove_handle(G.multi, p->easy);
    orch_curl.curl_easy_cleanup(p->easy);
    G.active--;
    free(p->url);
    free(p);
}

static void finish(orch_https_probe *p, CURLcode result)
{
    long code = 0;
    orch_curl.curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
    bool got_status = code > 0 && (result == CURLE_OK || (result == CURLE_WRITE_ERROR &&
                                                           p->body > BODY_MAX));
    char *detail = NULL;
    bool ok = got_status && code >= 200 && code <= 299;
    if (got_status && !ok)
        detail = xasprintf("%s: HTTP %ld", p->url, code);
    else if (!got_status)
        detail = xasprintf("%s: %s", p->url,
                           p->errbuf[0] ? p->errbuf : orch_curl.curl_easy_strerror(result));
    orch_https_cb cb = p->cb;
    void *owner = p->owner;
    probe_free(p); /* before the callback, which may start the next probe */
    cb(owner, ok, detail ? detail : "");
    free(detail);
}

static void collect(void)
{
    CURLMsg *m;
    int left;
    while (G.multi && (m = orch_curl.curl_multi_info_read(G.multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        orch_https_probe *p = NULL;
        orch_curl.curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
        CURLcode result = m->data.result;
        if (p)
            finish(p, result); /* m is not used past here: finish removes the handle */
    }
}

orch_https_probe *orch_https_probe_start(uv_loop_t *loop, const char *url, long timeout_ms,
                                         orch_https_cb cb, void *owner, char **err)
{
    if (load_curl(err) != 0)
        return NULL;
    if (ensure_multi(loop) != 0) {
        *err = xstrdup("https health checks: cannot set up libcurl");
        return NULL;
    }
    CURL *e = orch_curl.curl_easy_init();
    if (!e) {
        *err = xstrdup("https health checks: cannot set up libcurl");
        return NULL;
    }
    orch_https_probe *p = xcalloc(1, sizeof *p);
    *p = (orch_https_probe){.easy = e, .cb = cb, .owner = owner, .url = xstrdup(url)};
    CURLcode r = CURLE_OK;
#define SET(opt, val)                                                                          \
    if (r == CURLE_OK)                                                                         \
        r = orch_curl.curl_easy_setopt(e, opt, val);
    SET(CURLOPT_URL, p->url)
    SET(CURLOPT_PRIVATE, (char *)p)
    SET(CURLOPT_ERRORBUFFER, p->errbuf)
    SET(CURLOPT_NOSIGNAL, 1L)
    SET(CURLOPT_FORBID_REUSE, 1L) /* a fresh connection per probe, none idle between */
    SET(CURLOPT_PROTOCOLS_STR, "https")
    SET(CURLOPT_FOLLOWLOCATION, 0L)
    SET(CURLOPT_HTTPGET, 1L)
    SET(CURLOPT_TIMEOUT_MS, timeout_ms)
    SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms)
    /* Kubernetes does not verify a probe's certificate: neither does orchd. */
    SET(CURLOPT_SSL_VERIFYPEER, 0L)
    SET(CURLOPT_SSL_VERIFYHOST, 0L)
    /* The service is probed directly, never through the daemon's proxy. */
    SET(CURLOPT_PROXY, "")
    SET(CURLOPT_USERAGENT, "orchd")
    SET(CURLOPT_WRITEFUNCTION, drop_body)
    SET(CURLOPT_WRITEDATA, (void *)p)
#undef SET
    if (r != CURLE_OK || orch_curl.curl_multi_add_handle(G.multi, e) != CURLM_OK) {
        *err = xasprintf("https health checks: libcurl refused the request: %s",
                         orch_curl.curl_easy_strerror(r));
        orch_curl.curl_easy_cleanup(e);
        free(p->url);
        free(p);
        return NULL;
    }
    G.active++;
    return p;
}

void orch_https_probe_cancel(orch_https_probe *p)
{
    if (p)
        probe_free(p);
}

void orch_https_shutdown(void)
{
    if (!G.multi)
        return;
    G.cleaning = true;
    orch_curl.curl_multi_cleanup(G.multi);
    G.cleaning = false;
    G.multi = NULL;
    uv_close((uv_handle_t *)G.timer, free_handle);
    G.timer = NULL;
    G.loop = NULL;
}

#else /* built without libcurl's headers */

orch_https_probe *orch_https_probe_start(uv_loop_t *loop, const char *url, long timeout_ms,
                                         orch_https_cb cb, void *owner, char **err)
{
    (void)loop;
    (void)url;
    (void)timeout_ms;
    (void)cb;
    (void)owner;
    *err = xstrdup("https health checks are not available: this orchd was built without "
                   "libcurl's headers");
    return NULL;
}

void orch_https_probe_cancel(orch_https_probe *p)
{
    (void)p;
}

void orch_https_shutdown(void) {}

#endif
