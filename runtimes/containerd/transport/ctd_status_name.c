/* The names of gRPC status codes (ctd_transport.h): apart from the
 * transport so that pure code (core/ctd_status.c, unit tests) links it
 * without gRPC. */
#include "containerd/transport/ctd_transport.h"

const char *ctd_status_name(grpc_status_code s)
{
    static const char *const names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
        "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    };
    if ((unsigned)s < sizeof names / sizeof names[0])
        return names[s];
    return "UNKNOWN_STATUS";
}
