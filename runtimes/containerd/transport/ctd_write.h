/* Client-side streams on the containerd transport: a bidirectional call
 * driven in lockstep (send one message, receive its reply), as containerd's
 * Content.Write wants it: every WriteContentRequest gets one
 * WriteContentResponse. Same threading and callback rules as
 * ctd_transport.h: call on the loop thread; callbacks run on the loop, never
 * from inside the call that caused them. */
#ifndef ORCH_CTD_WRITE_H
#define ORCH_CTD_WRITE_H

#include "containerd/transport/ctd_transport.h"

typedef struct ctd_bidi ctd_bidi;

/* The reply to one message (freed when the callback returns). */
typedef void (*ctd_bidi_reply_cb)(void *arg, ProtobufCMessage *reply);
/* The stream is over: called exactly once, last; the ctd_bidi is gone
 * afterwards. details is never NULL; its wording is the transport's. */
typedef void (*ctd_bidi_end_cb)(void *arg, grpc_status_code status, const char *details);

/* Opens the stream (method e.g. "/containerd.services.content.v1.Content/Write";
 * replies decoded with reply_desc). opts as for ctd_stream (no deadline unless
 * given). Returns 0 with *out and on_end runs once later; or a negative errno
 * and nothing runs. */
int ctd_bidi_open(ctd_conn *c, const char *method, const ProtobufCMessageDescriptor *reply_desc,
                  const ctd_call_opts *opts, ctd_bidi_end_cb on_end, void *arg, ctd_bidi **out);

/* Sends msg and receives one reply: on_reply(arg, reply) runs later, unless
 * the stream ends first (then only on_end runs). One exchange at a time
 * (-EBUSY otherwise). last also half-closes the stream: after the reply, any
 * further messages are read and dropped until the server's status reaches
 * on_end. Returns 0, or a negative errno (-EPIPE after the half-close). */
int ctd_bidi_exchange(ctd_bidi *b, const ProtobufCMessage *msg, bool last,
                      ctd_bidi_reply_cb on_reply);

/* Half-closes without a message; the server's status then reaches on_end. */
int ctd_bidi_close(ctd_bidi *b);

/* Cancels the stream: on_end follows with CANCELLED (or what had happened). */
void ctd_bidi_cancel(ctd_bidi *b);

/* True while an exchange waits for its reply. */
bool ctd_bidi_busy(const ctd_bidi *b);

#endif
