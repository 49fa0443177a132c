/* HTTP for image pulls: libcurl's multi socket API driven by the libuv loop
 * (uv_poll per socket, one uv_timer), so a transfer never blocks the loop.
 * Everything runs on the loop thread; callbacks never run from inside the
 * call that caused them.
 *
 * libcurl itself is dlopen()ed at the first pull (http_load), not linked.
 *
 * The engine exists while requests do: it is made on the first request and
 * torn down (connections closed, handles closed) once none is left, so an
 * idle daemon holds no socket, timer or thread for it. */
#ifndef ORCH_PULL_HTTP_H
#define ORCH_PULL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/error.h"

typedef struct http_req http_req;

/* on_data's answer: take the bytes, or hold them and pause the transfer
 * until http_resume (the same bytes come again then). */
enum { HTTP_TAKEN = 0, HTTP_PAUSE = 1, HTTP_ABORT = 2 };

typedef struct http_opts {
    const char *url;
    bool head;                 /* HEAD instead of GET */
    const char *const *headers; /* "Name: value", NULL-terminated, or NULL */
    int64_t range_from;        /* > 0: "Range: bytes=N-" */
    size_t max_body;           /* bodies kept in memory are cut here (default 64 KiB) */
    /* Streaming: gets the body of a 2xx answer (others are kept in memory
     * for the error message). NULL: the body is kept in memory (max_body;
     * more is an error). */
    int (*on_data)(void *arg, const char *data, size_t len);
    void *data_arg; /* on_data's arg */
    /* 0: defaults (connect 15 s; stall: less than 1 byte/s for 30 s; no total) */
    long connect_timeout_ms;
    long stall_timeout_s;
    long total_timeout_ms;
} http_opts;

typedef struct http_result {
    long status;       /* the final HTTP status, 0 without an answer */
    int curl_code;     /* CURLE_OK or why the transfer failed */
    const char *error; /* a sentence for curl_code (never NULL; "" when OK) */
    const char *content_type, *www_authenticate, *docker_digest, *content_range;
    const char *body;  /* kept body (buffered requests and non-2xx answers) */
    size_t body_len;
    bool body_cut;     /* the body was longer than max_body */
    int64_t streamed;  /* bytes given to on_data */
} http_result;

typedef void (*http_done_cb)(void *arg, const http_result *res);

/* Loads libcurl (dlopen, curl_global_init), the first time it is called
 * (common/curl_dl.h): a daemon that never pulls never maps it. 0, or -1
 * with *err (ORCH_E_UNSUPPORTED, naming why) when it cannot be loaded; the
 * failure is kept. Before any other call here that reaches curl. */
int http_load(orch_error **err);

/* Starts a request; done runs once, later, unless http_cancel comes first.
 * Returns NULL only when libcurl cannot be set up (with *err). */
http_req *http_start(uv_loop_t *loop, const http_opts *o, http_done_cb done, void *arg,
                     char **err);
/* The status of the answer being received (inside on_data: that answer's). */
long http_status(http_req *r);
/* Continues a transfer that on_data paused. */
void http_resume(http_req *r);
/* Stops a request; its done never runs. */
void http_cancel(http_req *r);
/* Requests in flight. */
size_t http_pending(void);
/* Frees the engine now (no request may be in flight): for the module's
 * shutdown. */
void http_shutdown(void);

/* Plain http is used for localhost, 127.0.0.0/8, ::1 and the hosts of
 * ORCH_INSECURE_REGISTRIES (comma-separated host or host:port); https
 * (verified against the system CAs) for everything else. */
bool http_insecure_host(const char *host_port);
/* host_port is named in ORCH_INSECURE_REGISTRIES (loopback alone is not enough). */
bool http_insecure_listed(const char *host_port);

#endif
