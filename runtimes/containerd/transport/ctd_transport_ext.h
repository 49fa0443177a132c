/* Internal to the transport library: lets a call shape that ctd_transport.c
 * does not implement itself (the client/bidi streams of ctd_write.c) run on
 * a connection's channel, completion queue and thread. Not for the runtime:
 * it uses ctd_transport.h and ctd_write.h.
 *
 * A call made with ctd_ext_new is pending on the connection (ctd_cancel and
 * ctd_conn_close cancel it) and carries the same metadata as every call
 * (namespace, lease). Its batches use the tags 0, 1 and 2 (at most one batch
 * in flight per tag); each finished batch reaches handler on the loop
 * thread. The handler returns true when the call is over: it must have
 * called ctd_ext_finish first, and the call is freed on return. */
#ifndef ORCH_CTD_TRANSPORT_EXT_H
#define ORCH_CTD_TRANSPORT_EXT_H

#include <grpc/grpc.h>

#include "containerd/transport/ctd_transport.h"

typedef bool (*ctd_ext_handler)(void *arg, int which, bool success);

/* Creates the call (nothing is sent yet). NULL with *err a negative errno. */
ctd_req *ctd_ext_new(ctd_conn *c, const char *method, const ctd_call_opts *opts,
                     ctd_ext_handler handler, void *arg, int *err);
/* Starts a batch under tag which (0..2). 0 or a negative errno. */
int ctd_ext_batch(ctd_req *r, const grpc_op *ops, size_t n, int which);
/* Fill one op each, pointing at the call's own metadata and status. */
void ctd_ext_initial_metadata_op(ctd_req *r, grpc_op *op, const ctd_call_opts *opts);
void ctd_ext_recv_initial_metadata_op(ctd_req *r, grpc_op *op);
void ctd_ext_recv_status_op(ctd_req *r, grpc_op *op);
/* After the status batch finished: the status and (not OK) a malloc'ed
 * message worded like every other call's errors. */
grpc_status_code ctd_ext_status(ctd_req *r, char **msg);
bool ctd_ext_cancelled(const ctd_req *r);
/* Takes the call off the pending list; call it right before the last
 * callback to the user (and return true from the handler). */
void ctd_ext_finish(ctd_req *r);

#endif
