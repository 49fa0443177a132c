/* containerd's status codes and texts -> orch_error (ctd_status.h). */
#include "containerd/core/ctd_status.h"

#include "containerd/transport/ctd_transport.h" /* ctd_status_name: pure, no gRPC link */

#include <string.h>

/* The texts containerd 1.6 puts on errors it gives no code of their own
 * (errdefs.ErrInvalidArgument / ErrFailedPrecondition with a message):
 * services/snapshots/service.go, content/local/writer.go,
 * metadata/content.go, content/proxy/content_writer.go. */
static bool snapshotter_missing(const char *d)
{
    return strstr(d, "snapshotter not loaded") != NULL;
}

static bool content_mismatch(const char *d)
{
    return strstr(d, "unexpected commit digest") || strstr(d, "unexpected digest") ||
           strstr(d, "unexpected commit size") || strstr(d, "failed size validation");
}

orch_errc ctd_status_errc(grpc_status_code st, const char *details)
{
    const char *d = details ? details : "";
    switch (st) {
    case GRPC_STATUS_OK:
        return ORCH_E_INTERNAL;
    case GRPC_STATUS_CANCELLED:
        return ORCH_E_CANCELLED;
    case GRPC_STATUS_UNAVAILABLE:
        return ORCH_E_UNAVAILABLE;
    case GRPC_STATUS_NOT_FOUND:
        return ORCH_E_NOT_FOUND;
    case GRPC_STATUS_ALREADY_EXISTS:
        return ORCH_E_EXISTS;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return ORCH_E_TIMEOUT;
    case GRPC_STATUS_PERMISSION_DENIED:
    case GRPC_STATUS_UNAUTHENTICATED:
        return ORCH_E_PERMISSION;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return ORCH_E_EXHAUSTED;
    case GRPC_STATUS_UNIMPLEMENTED:
        return ORCH_E_UNSUPPORTED;
    case GRPC_STATUS_DATA_LOSS:
        return ORCH_E_CORRUPT;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_FAILED_PRECONDITION:
        if (snapshotter_missing(d))
            return ORCH_E_UNSUPPORTED;
        if (content_mismatch(d))
            return ORCH_E_CORRUPT;
        return ORCH_E_INVALID;
    case GRPC_STATUS_OUT_OF_RANGE:
        return ORCH_E_INVALID;
    default: /* UNKNOWN, INTERNAL, ABORTED */
        return ORCH_E_IO;
    }
}

orch_error *ctd_status_error(grpc_status_code st, const char *details)
{
    orch_errc code = ctd_status_errc(st, details);
    if (details && *details)
        return orch_error_new(code, "%s", details);
    return orch_error_new(code, "containerd answered %s", ctd_status_name(st));
}

orch_error *ctd_commit_error(grpc_status_code st, const char *details, const char *digest,
                             int64_t size)
{
    const char *d = details ? details : "";
    if (ctd_status_errc(st, d) != ORCH_E_CORRUPT)
        return orch_error_prefix(ctd_status_error(st, d),
                                 "committing %s into containerd's content store", digest);
    /* "unexpected commit digest sha256:X, expected sha256:Y: failed precondition" */
    const char *u = strstr(d, "unexpected commit digest ");
    if (u) {
        u += strlen("unexpected commit digest ");
        return orch_error_new(ORCH_E_CORRUPT,
                              "digest mismatch: the bytes received for %s have digest %.*s",
                              digest, (int)strcspn(u, ", "), u);
    }
    if (strstr(d, "unexpected digest"))
        return orch_error_new(ORCH_E_CORRUPT,
                              "digest mismatch: the bytes received for %s have another digest (%s)",
                              digest, d);
    return orch_error_new(ORCH_E_CORRUPT, "size mismatch: %s should be %lld bytes (%s)", digest,
                          (long long)size, d);
}

orch_error *ctd_error_dup(const orch_error *e)
{
    if (!e)
        return NULL;
    orch_error *c = orch_error_new(e->code, "%s", e->msg);
    c->sys_errno = e->sys_errno;
    return c;
}

bool ctd_status_shim_gone(grpc_status_code st, const char *details)
{
    return st == GRPC_STATUS_UNKNOWN && details && strstr(details, "ttrpc: closed") != NULL;
}
