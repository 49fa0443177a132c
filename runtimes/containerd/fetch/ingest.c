/* Content.Write from the client side (ingest.h). */
#include "containerd/fetch/ingest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerd/services/content/v1/content.pb-c.h"
#include "containerd/services/leases/v1/leases.pb-c.h"
#include "containerd/fetch/pull_internal.h"
#include "containerd/transport/ctd_write.h"
#include "common/xalloc.h"

#define CHUNK (1u << 20)
#define HIGH_WATER (8u << 20)
#define LOW_WATER (2u << 20)
#define WRITE_TIMEOUT_MS (60 * 60 * 1000)


typedef enum { ST_INFO, ST_STAT, ST_WRITING, ST_COMMITTING, ST_ENDING, ST_ABORTING } state;

struct ingest {
    ctd_rt *rt;
    char *lease, *digest, *ref;
    int64_t size;
    char **labels; /* k, v, ..., NULL */
    size_t n_labels;
    ingest_cbs cbs;
    void *arg;
    state st;
    ctd_bidi *w;
    int64_t stored;   /* the store's offset (acknowledged) */
    int64_t sending;  /* bytes in the exchange in flight */
    char *buf;        /* fed, not yet sent */
    size_t len, cap;
    bool ended;       /* the source is done */
    bool want_drain;  /* the source waits for room */
    bool committed;
    bool failed, keep_ref;
    int result;
    orch_error *err;
};

char *ingest_ref(const char *digest)
{
    const char *hex = strchr(digest, ':');
    return xasprintf("orchd-pull-%s", hex ? hex + 1 : digest);
}

static void ingest_free(ingest *g)
{
    for (size_t i = 0; g->labels && g->labels[i]; i++)
        free(g->labels[i]);
    free(g->labels);
    free(g->lease);
    free(g->digest);
    free(g->ref);
    free(g->buf);
    orch_error_free(g->err);
    free(g);
}

static void complete(ingest *g)
{
    ingest_cbs cbs = g->cbs;
    void *arg = g->arg;
    int result = g->result;
    orch_error *err = g->err;
    g->err = NULL;
    ingest_free(g);
    cbs.done(arg, result, err);
    orch_error_free(err);
}

/* The ingest failed with e (taken); the first reason is the one that counts. */
static void set_error(ingest *g, orch_error *e)
{
    if (g->err) {
        orch_error_free(e);
        return;
    }
    g->err = e;
    g->result = INGEST_FAILED;
    g->failed = true;
}

static void on_aborted(void *arg, grpc_status_code st, const char *details,
                       ProtobufCMessage *reply)
{
    ingest *g = arg;
    if (st != GRPC_STATUS_OK && st != GRPC_STATUS_NOT_FOUND)
        fprintf(stderr, "orchd: containerd: aborting the ingest %s: %s\n", g->ref, details);
    complete(g);
}

/* After a failure with the stream closed: drop the ref unless kept. */
static void abort_ref(ingest *g)
{
    if (g->keep_ref || !g->rt->conn) {
        complete(g);
        return;
    }
    g->st = ST_ABORTING;
    Containerd__Services__Content__V1__AbortRequest req =
        CONTAINERD__SERVICES__CONTENT__V1__ABORT_REQUEST__INIT;
    req.ref = g->ref;
    if (ctd_rt_call(g->rt, CTD_M_CONTENT_ABORT, &req.base, NULL, g->lease, 0, false, on_aborted, g) != 0)
        complete(g);
}

static void on_end(void *arg, grpc_status_code st, const char *details)
{
    ingest *g = arg;
    g->w = NULL;
    if (g->failed) { /* ingest_fail or an error of ours cancelled it */
        abort_ref(g);
        return;
    }
    if (st == GRPC_STATUS_OK && g->committed) {
        g->result = INGEST_OK;
        complete(g);
        return;
    }
    if (st == GRPC_STATUS_ALREADY_EXISTS) {
        /* written meanwhile (or by someone else): containerd leased it */
        g->result = INGEST_EXISTS;
        complete(g);
        return;
    }
    if (st == GRPC_STATUS_OK)
        set_error(g, orch_error_new(ORCH_E_IO, "containerd ended the write of %s before it was committed", g->digest));
    else if (g->st == ST_COMMITTING) {
        set_error(g, ctd_commit_error(st, details, g->digest, g->size));
    } else
        set_error(g, orch_error_prefix(ctd_status_error(st, details), "writing %s into containerd's content store", g->digest));
    abort_ref(g);
}

static void fail_now(ingest *g)
{
    if (g->w)
        ctd_bidi_cancel(g->w); /* on_end aborts the ref */
}

static void pump(ingest *g);

static void on_written(void *arg, ProtobufCMessage *msg)
{
    ingest *g = arg;
    Containerd__Services__Content__V1__WriteContentResponse *r =
        (Containerd__Services__Content__V1__WriteContentResponse *)msg;
    if (g->failed)
        return;
    int64_t want = g->stored + g->sending;
    if (r->offset != want) {
        set_error(g, orch_error_new(ORCH_E_CORRUPT, "containerd's content store is at offset %lld of %s, expected %lld", (long long)r->offset, g->digest, (long long)want));
        fail_now(g);
        return;
    }
    g->stored = r->offset;
    g->sending = 0;
    if (g->st == ST_COMMITTING) {
        g->committed = true; /* the stream ends by itself (half-closed) */
        g->st = ST_ENDING;
        return;
    }
    pump(g);
    if (g->want_drain && g->len < LOW_WATER && !g->failed) {
        g->want_drain = false;
        g->cbs.drained(g->arg);
    }
}

static void send_write(ingest *g, bool commit)
{
    size_t n = g->len < CHUNK ? g->len : CHUNK;
    Containerd__Services__Content__V1__WriteContentRequest req =
        CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__INIT;
    req.action = commit ? CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT
                        : CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__WRITE;
    req.offset = g->stored;
    req.data.data = (uint8_t *)g->buf;
    req.data.len = n;
    Containerd__Services__Content__V1__WriteContentRequest__LabelsEntry *entries = NULL;
    Containerd__Services__Content__V1__WriteContentRequest__LabelsEntry **eps = NULL;
    if (commit) {
        req.total = g->size;
        req.expected = g->digest;
        if (g->n_labels) {
            entries = xcalloc(g->n_labels, sizeof *entries);
            eps = xcalloc(g->n_labels, sizeof *eps);
            for (size_t i = 0; i < g->n_labels; i++) {
                Containerd__Services__Content__V1__WriteContentRequest__LabelsEntry e =
                    CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__LABELS_ENTRY__INIT;
                e.key = g->labels[2 * i];
                e.value = g->labels[2 * i + 1];
                entries[i] = e;
                eps[i] = &entries[i];
            }
            req.n_labels = g->n_labels;
            req.labels = eps;
        }
    }
    int rc = ctd_bidi_exchange(g->w, &req.base, commit, on_written);
    free(entries);
    free(eps);
    if (rc != 0) {
        set_error(g, orch_error_errno(-rc, "writing %s into containerd's content store", g->digest));
        fail_now(g);
        return;
    }
    g->sending = (int64_t)n;
    memmove(g->buf, g->buf + n, g->len - n);
    g->len -= n;
    if (commit)
        g->st = ST_COMMITTING;
}

static void pump(ingest *g)
{
    if (g->st != ST_WRITING || g->failed || !g->w || ctd_bidi_busy(g->w))
        return;
    int64_t total = g->stored + (int64_t)g->len;
    if (total > g->size) {
        set_error(g, orch_error_new(ORCH_E_CORRUPT, "%s: received more than its %lld bytes", g->digest, (long long)g->size));
        fail_now(g);
        return;
    }
    if (g->ended) {
        if (total < g->size) {
            set_error(g, orch_error_new(ORCH_E_CORRUPT, "%s is truncated: received %lld of %lld bytes", g->digest, (long long)total, (long long)g->size));
            fail_now(g);
            return;
        }
        send_write(g, g->len <= CHUNK);
    } else if (g->len >= CHUNK) {
        send_write(g, false);
    }
}

static void on_stat(void *arg, ProtobufCMessage *msg)
{
    ingest *g = arg;
    Containerd__Services__Content__V1__WriteContentResponse *r =
        (Containerd__Services__Content__V1__WriteContentResponse *)msg;
    if (g->failed)
        return;
    g->st = ST_WRITING;
    int64_t off = r->offset;
    if (off < 0 || off > g->size)
        off = 0; /* not resumable: the first write at 0 truncates it */
    g->stored = off;
    g->cbs.ready(g->arg, off);
}

static void open_write(ingest *g)
{
    if (pull_closed() || !g->rt->conn) {
        set_error(g, ctd_closing_error());
        complete(g);
        return;
    }
    g->st = ST_STAT;
    ctd_call_opts o = {.lease = g->lease, .timeout_ms = WRITE_TIMEOUT_MS};
    int rc = ctd_bidi_open(g->rt->conn, CTD_M_CONTENT_WRITE,
                           &containerd__services__content__v1__write_content_response__descriptor,
                           &o, on_end, g, &g->w);
    if (rc != 0) {
        set_error(g, orch_error_errno(-rc, "cannot write into containerd's content store"));
        complete(g);
        return;
    }
    Containerd__Services__Content__V1__WriteContentRequest req =
        CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__INIT;
    req.action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__STAT;
    req.ref = g->ref;
    req.total = g->size;
    req.expected = g->digest;
    if (ctd_bidi_exchange(g->w, &req.base, false, on_stat) != 0) {
        set_error(g, orch_error_new(ORCH_E_IO, "cannot write into containerd's content store"));
        fail_now(g);
    }
}

static void on_leased(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *reply)
{
    ingest *g = arg;
    if (st != GRPC_STATUS_OK && st != GRPC_STATUS_ALREADY_EXISTS) {
        set_error(g, orch_error_prefix(ctd_status_error(st, details), "adding %s to lease %s", g->digest, g->lease));
        complete(g);
        return;
    }
    g->result = INGEST_EXISTS;
    complete(g);
}

static void on_info(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *reply)
{
    ingest *g = arg;
    if (g->failed) {
        complete(g);
        return;
    }
    if (st == GRPC_STATUS_OK) {
        if (!g->lease || pull_closed()) {
            g->result = INGEST_EXISTS;
            complete(g);
            return;
        }
        Containerd__Services__Leases__V1__Resource res =
            CONTAINERD__SERVICES__LEASES__V1__RESOURCE__INIT;
        res.id = g->digest;
        res.type = "content";
        Containerd__Services__Leases__V1__AddResourceRequest req =
            CONTAINERD__SERVICES__LEASES__V1__ADD_RESOURCE_REQUEST__INIT;
        req.id = g->lease;
        req.resource = &res;
        if (ctd_rt_call(g->rt, CTD_M_LEASE_ADD_RESOURCE, &req.base, NULL, NULL, 0, false, on_leased, g) !=
            0) {
            set_error(g, ctd_closing_error());
            complete(g);
        }
        return;
    }
    if (st != GRPC_STATUS_NOT_FOUND) {
        set_error(g, orch_error_prefix(ctd_status_error(st, details), "looking up %s in containerd's content store", g->digest));
        complete(g);
        return;
    }
    open_write(g);
}

ingest *ingest_start(ctd_rt *rt, const char *lease, const char *digest, int64_t size,
                     const char *const *labels, const ingest_cbs *cbs, void *arg)
{
    if (pull_closed() || !rt->conn)
        return NULL;
    ingest *g = xcalloc(1, sizeof *g);
    g->rt = rt;
    g->lease = lease ? xstrdup(lease) : NULL;
    g->digest = xstrdup(digest);
    g->ref = ingest_ref(digest);
    g->size = size;
    g->cbs = *cbs;
    g->arg = arg;
    size_t n = 0;
    while (labels && labels[n])
        n++;
    g->n_labels = n / 2;
    g->labels = xcalloc(n + 1, sizeof *g->labels);
    for (size_t i = 0; i < g->n_labels * 2; i++)
        g->labels[i] = xstrdup(labels[i]);
    g->st = ST_INFO;
    Containerd__Services__Content__V1__InfoRequest req =
        CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
    req.digest = g->digest;
    if (ctd_rt_call(rt, CTD_M_CONTENT_INFO, &req.base, NULL, NULL, 0, false, on_info, g) != 0) {
        ingest_free(g);
        return NULL;
    }
    return g;
}

bool ingest_full(ingest *g)
{
    if (g->len >= HIGH_WATER) {
        g->want_drain = true;
        return true;
    }
    return false;
}

void ingest_feed(ingest *g, const void *data, size_t len)
{
    if (g->failed || len == 0)
        return;
    xgrow((void **)&g->buf, &g->cap, g->len + len, 1);
    memcpy(g->buf + g->len, data, len);
    g->len += len;
    pump(g);
}

void ingest_rewind(ingest *g)
{
    /* nothing sent since ready(): the next write says offset 0 (truncate) */
    g->stored = 0;
    g->len = 0;
}

int64_t ingest_position(const ingest *g)
{
    return g->stored + g->sending + (int64_t)g->len;
}

void ingest_end(ingest *g)
{
    g->ended = true;
    pump(g);
}

void ingest_fail(ingest *g, orch_error *err, bool keep_ref)
{
    if (g->failed) {
        orch_error_free(err);
        return;
    }
    set_error(g, err);
    g->keep_ref = keep_ref;
    if (g->w)
        ctd_bidi_cancel(g->w);
    /* else an Info or AddResource call is in flight: its callback completes */
}
