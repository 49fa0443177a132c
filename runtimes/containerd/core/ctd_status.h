/* containerd's answers as orch_error: the one place that reads what a
 * finished call's status (and, where containerd gives no code, its text)
 * means. Everything above decides by the orch_error's code. Pure C: the
 * status enum is a header only (no gRPC link), so unit tests build it. */
#ifndef ORCH_CTD_STATUS_H
#define ORCH_CTD_STATUS_H

#include <stdbool.h>
#include <grpc/status.h>
#include <stdint.h>

#include "common/error.h"

/* The code a failed call's status and details mean:
 *   UNAVAILABLE -> UNAVAILABLE, NOT_FOUND -> NOT_FOUND,
 *   ALREADY_EXISTS -> EXISTS, DEADLINE_EXCEEDED -> TIMEOUT,
 *   PERMISSION_DENIED, UNAUTHENTICATED -> PERMISSION,
 *   RESOURCE_EXHAUSTED -> EXHAUSTED, UNIMPLEMENTED -> UNSUPPORTED,
 *   CANCELLED -> CANCELLED, DATA_LOSS -> CORRUPT,
 *   INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE -> INVALID, except:
 *     "snapshotter not loaded" (the snapshots service) -> UNSUPPORTED,
 *     a content commit whose digest or size does not match -> CORRUPT;
 *   anything else (UNKNOWN: runc's errors, INTERNAL, ABORTED) -> IO.
 * OK is not an error: INTERNAL. */
orch_errc ctd_status_errc(grpc_status_code st, const char *details);

/* The shim of the task answered "ttrpc: closed" (UNKNOWN): the task, and
 * its shim with every process record, were deleted meanwhile. */
bool ctd_status_shim_gone(grpc_status_code st, const char *details);

/* A failed call as an error: containerd's details (or "containerd answered
 * <STATUS>" when it gave none), coded by ctd_status_errc. Add context with
 * orch_error_prefix. */
orch_error *ctd_status_error(grpc_status_code st, const char *details);

/* A Content.Write commit that failed (st, details), for blob digest of size
 * bytes: a mismatch containerd found (ORCH_E_CORRUPT) says what the bytes
 * received were ("digest mismatch: the bytes received for <digest> have
 * digest <got>", "size mismatch: ..."); anything else is ctd_status_error
 * with the commit as context. */
orch_error *ctd_commit_error(grpc_status_code st, const char *details, const char *digest,
                             int64_t size);

/* A copy of e (callbacks lend theirs; a caller that keeps or passes one on
 * copies it). NULL for NULL. */
orch_error *ctd_error_dup(const orch_error *e);

#endif
