/* The containerd transport: gRPC (C core) calls over containerd's unix
 * socket, with protobuf-c messages, completed on a libuv loop.
 *
 * One ctd_conn holds one grpc_channel (gRPC reconnects it with backoff when
 * containerd restarts) and one completion queue. A thread blocks in
 * grpc_completion_queue_next and hands every finished operation to the loop
 * through a locked queue and uv_async_send; every callback below runs on the
 * loop thread, never from inside the call that caused it. All functions must
 * be called on the loop thread.
 *
 * Every call carries the `containerd-namespace` metadata header (the
 * connection's namespace unless the call overrides it) and, when given, a
 * `containerd-lease` header. Unary calls get a deadline (30 s unless told
 * otherwise); Tasks.Wait and streams usually want none (CTD_NO_DEADLINE).
 *
 * Errors reach callbacks as a gRPC status code plus a message. Transport
 * failures are rewritten to say what is wrong, e.g. "containerd not reachable
 * at /run/containerd/containerd.sock: no such file (is containerd running?)";
 * errors that containerd itself returns (NOT_FOUND, ALREADY_EXISTS, ...) keep
 * containerd's own text. */
#ifndef ORCH_CTD_TRANSPORT_H
#define ORCH_CTD_TRANSPORT_H

#include <grpc/status.h> /* grpc_status_code: a header only, no link */
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct ctd_conn ctd_conn;
typedef struct ctd_req ctd_req; /* one call in flight */

#define CTD_DEFAULT_TIMEOUT_MS 30000
#define CTD_NO_DEADLINE (-1)

typedef struct ctd_call_opts {
    /* `containerd-lease` header, or NULL for none. */
    const char *lease;
    /* Overrides the connection's namespace for this call, or NULL. */
    const char *namespace_;
    /* 0: the connection's default (CTD_DEFAULT_TIMEOUT_MS); > 0: this many
     * milliseconds; CTD_NO_DEADLINE: wait as long as it takes. */
    int64_t timeout_ms;
    /* false (default): fail at once with UNAVAILABLE while containerd is
     * unreachable; true: wait for the channel to (re)connect, up to the
     * deadline. */
    bool wait_for_ready;
} ctd_call_opts;

/* A unary call finished. status is GRPC_STATUS_OK (0) on success; details is
 * never NULL ("" on success). reply is the decoded reply when status is OK and
 * a reply descriptor was given, else NULL. reply is freed when the callback
 * returns: copy what you keep. */
typedef void (*ctd_reply_cb)(void *arg, grpc_status_code status, const char *details,
                             ProtobufCMessage *reply);

/* One message of a server stream; freed when the callback returns. */
typedef void (*ctd_msg_cb)(void *arg, ProtobufCMessage *msg);
/* A stream ended (cancelled, failed, or closed by containerd). Called once,
 * last; the ctd_req is gone afterwards. */
typedef void (*ctd_end_cb)(void *arg, grpc_status_code status, const char *details);

/* Creates the connection. address: "unix:/path", "unix:///path" or a plain
 * path. namespace_: the containerd namespace every call carries (e.g. "orch").
 * Does not connect yet: gRPC connects on the first call. Returns NULL with
 * *err (malloc'ed) when address is malformed or resources are exhausted. */
ctd_conn *ctd_conn_new(uv_loop_t *loop, const char *address, const char *namespace_, char **err);

/* The socket path (without "unix:") and the namespace. */
const char *ctd_conn_path(const ctd_conn *c);
const char *ctd_conn_namespace(const ctd_conn *c);

/* Sets the deadline used when ctd_call_opts.timeout_ms is 0. */
void ctd_conn_set_default_timeout(ctd_conn *c, int64_t ms);

/* Number of calls and streams in flight. */
size_t ctd_conn_pending(const ctd_conn *c);

/* True while gRPC's last attempt to (re)connect failed: containerd is down
 * or restarting (a call made now fails, or waits with wait_for_ready).
 * Only asks the channel; never connects or blocks. */
bool ctd_conn_down(ctd_conn *c);

/* Closes the connection: cancels every pending call and stream (their
 * callbacks run with GRPC_STATUS_CANCELLED), stops the completion-queue
 * thread, destroys the channel, then calls done (may be NULL) on the loop.
 * The connection must not be used after this call. */
void ctd_conn_close(ctd_conn *c, void (*done)(void *arg), void *arg);

/* Starts a unary call. method is the full path, e.g.
 * "/containerd.services.version.v1.Version/Version". req may be NULL for
 * google.protobuf.Empty (a zero-length message); reply_desc may be NULL when
 * the reply is Empty or not wanted. opts may be NULL (defaults). If handle is
 * not NULL it receives the call, valid until cb has run (for ctd_cancel).
 * Returns 0 and cb runs exactly once later; or a negative errno (-EINVAL bad
 * arguments, -ESHUTDOWN connection closing, -EIO gRPC refused the call) and
 * cb never runs. */
int ctd_call(ctd_conn *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *reply_desc, ctd_reply_cb cb, void *arg);
int ctd_call_ex(ctd_conn *c, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *reply_desc, const ctd_call_opts *opts,
                ctd_reply_cb cb, void *arg, ctd_req **handle);

/* Starts a server-streaming call (e.g.
 * "/containerd.services.events.v1.Events/Subscribe"): on_msg for every message
 * (decoded with msg_desc), then on_end once. The default deadline for streams
 * is none (opts->timeout_ms 0 means CTD_NO_DEADLINE here). Returns as
 * ctd_call_ex; on success on_end runs exactly once. */
int ctd_stream(ctd_conn *c, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *msg_desc, const ctd_call_opts *opts,
               ctd_msg_cb on_msg, ctd_end_cb on_end, void *arg, ctd_req **handle);

/* Cancels a call or stream in flight: its callback (cb or on_end) then runs
 * with GRPC_STATUS_CANCELLED, unless it had already finished and its callback
 * is merely queued (then it reports what happened). Must not be called after
 * the callback has run. */
void ctd_cancel(ctd_req *r);

/* The name of a status code ("NOT_FOUND", ...). */
const char *ctd_status_name(grpc_status_code status);

#endif
