/* Lockstep bidirectional streams (ctd_write.h) on the transport's channel,
 * queue and thread (ctd_transport_ext.h). Tags: 0 sends the initial metadata
 * and receives the server's; 1 carries one exchange (send a message, receive
 * one) or, once half-closed, one read of the drain; 2 waits for the status
 * from the start. The stream is over when the status is in and no batch is
 * in flight. */
#include "containerd/transport/ctd_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>

#include "containerd/transport/ctd_transport_ext.h"

enum { TAG_MAIN, TAG_XCHG, TAG_STATUS };

struct ctd_bidi {
    ctd_req *r;
    const ProtobufCMessageDescriptor *desc;
    ctd_bidi_end_cb on_end;
    ctd_bidi_reply_cb on_reply; /* the exchange in flight wants its reply */
    void *arg;
    grpc_byte_buffer *send_buf;
    grpc_byte_buffer *recv_buf;
    int inflight;
    bool xchg;        /* tag 1 busy */
    bool half_closed; /* close sent (or being sent) */
    bool draining;    /* reading the rest after the half-close */
    bool got_status;
};

static void *bidi_oom(void)
{
    fputs("orchd: out of memory\n", stderr);
    abort();
}

static void bidi_free(ctd_bidi *b)
{
    if (b->send_buf)
        grpc_byte_buffer_destroy(b->send_buf);
    if (b->recv_buf)
        grpc_byte_buffer_destroy(b->recv_buf);
    free(b);
}

static ProtobufCMessage *bidi_decode(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc)
{
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return NULL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    ProtobufCMessage *m =
        protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    return m;
}

static int start_recv(ctd_bidi *b, bool with_close)
{
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (with_close)
        ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &b->recv_buf;
    int e = ctd_ext_batch(b->r, ops, n, TAG_XCHG);
    if (e == 0) {
        b->inflight++;
        b->xchg = true;
    }
    return e;
}

static bool on_batch(void *arg, int which, bool success)
{
    ctd_bidi *b = arg;
    b->inflight--;
    if (which == TAG_STATUS) {
        b->got_status = true;
    } else if (which == TAG_XCHG) {
        b->xchg = false;
        if (b->send_buf) {
            grpc_byte_buffer_destroy(b->send_buf);
            b->send_buf = NULL;
        }
        ctd_bidi_reply_cb cb = b->on_reply;
        b->on_reply = NULL;
        if (b->recv_buf) {
            ProtobufCMessage *m = bidi_decode(b->recv_buf, b->desc);
            grpc_byte_buffer_destroy(b->recv_buf);
            b->recv_buf = NULL;
            if (!m) {
                ctd_cancel(b->r);
            } else {
                if (cb && !ctd_ext_cancelled(b->r))
                    cb(b->arg, m);
                protobuf_c_message_free_unpacked(m, NULL);
                /* after the half-close: read (and drop) until the end */
                if (b->half_closed && !b->xchg && !b->got_status) {
                    b->draining = true;
                    if (start_recv(b, false) != 0)
                        ctd_cancel(b->r);
                }
            }
        }
        /* no message: the server ended the stream; its status follows */
    }
    (void)success;
    if (!b->got_status || b->inflight > 0)
        return false;
    char *msg = NULL;
    grpc_status_code st = ctd_ext_status(b->r, &msg);
    ctd_ext_finish(b->r);
    b->on_end(b->arg, st, msg ? msg : "");
    free(msg);
    bidi_free(b);
    return true;
}

int ctd_bidi_open(ctd_conn *c, const char *method, const ProtobufCMessageDescriptor *reply_desc,
                  const ctd_call_opts *opts, ctd_bidi_end_cb on_end, void *arg, ctd_bidi **out)
{
    if (!reply_desc || !on_end || !out)
        return -EINVAL;
    ctd_bidi *b = calloc(1, sizeof *b);
    if (!b)
        bidi_oom();
    b->desc = reply_desc;
    b->on_end = on_end;
    b->arg = arg;
    /* streams have no deadline unless given one */
    ctd_call_opts o = opts ? *opts : (ctd_call_opts){0};
    if (o.timeout_ms == 0)
        o.timeout_ms = CTD_NO_DEADLINE;
    int e = 0;
    b->r = ctd_ext_new(c, method, &o, on_batch, b, &e);
    if (!b->r) {
        free(b);
        return e;
    }
    grpc_op ops[2];
    ctd_ext_initial_metadata_op(b->r, &ops[0], &o);
    ctd_ext_recv_initial_metadata_op(b->r, &ops[1]);
    grpc_op st;
    ctd_ext_recv_status_op(b->r, &st);
    if (ctd_ext_batch(b->r, ops, 2, TAG_MAIN) != 0) {
        /* nothing in flight: end it through the status path */
        ctd_cancel(b->r);
    } else {
        b->inflight++;
    }
    if (ctd_ext_batch(b->r, &st, 1, TAG_STATUS) == 0) {
        b->inflight++;
    } else {
        /* Cannot happen with a well-formed call. */
        fputs("orchd: containerd transport: cannot wait for a stream's status\n", stderr);
        abort();
    }
    *out = b;
    return 0;
}

int ctd_bidi_exchange(ctd_bidi *b, const ProtobufCMessage *msg, bool last,
                      ctd_bidi_reply_cb on_reply)
{
    if (!b || !msg || !on_reply)
        return -EINVAL;
    if (b->xchg)
        return -EBUSY;
    if (b->half_closed || b->got_status)
        return -EPIPE;
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(len);
    if (len)
        protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    b->send_buf = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_op ops[3];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = b->send_buf;
    if (last)
        ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &b->recv_buf;
    int e = ctd_ext_batch(b->r, ops, n, TAG_XCHG);
    if (e != 0) {
        grpc_byte_buffer_destroy(b->send_buf);
        b->send_buf = NULL;
        return e;
    }
    b->inflight++;
    b->xchg = true;
    b->on_reply = on_reply;
    b->half_closed = last;
    return 0;
}

int ctd_bidi_close(ctd_bidi *b)
{
    if (!b)
        return -EINVAL;
    if (b->xchg)
        return -EBUSY;
    if (b->half_closed || b->got_status)
        return -EPIPE;
    b->half_closed = true;
    b->draining = true;
    return start_recv(b, true);
}

void ctd_bidi_cancel(ctd_bidi *b)
{
    if (b)
        ctd_cancel(b->r);
}

bool ctd_bidi_busy(const ctd_bidi *b)
{
    return b && b->xchg;
}
