/* containerd's answers -> orch_error (runtimes/containerd/core/ctd_status.c):
 * every status code, and the texts containerd gives no code of their own
 * (a snapshotter not loaded, a content commit that does not match). The
 * strings are containerd 1.6's own (see the comment in ctd_status.c). */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "containerd/core/ctd_status.h"
#include "containerd/transport/ctd_transport.h" /* ctd_status_name */

int main(void)
{
    struct {
        grpc_status_code st;
        const char *details;
        orch_errc code;
    } map[] = {
        {GRPC_STATUS_UNAVAILABLE, "connection refused", ORCH_E_UNAVAILABLE},
        {GRPC_STATUS_NOT_FOUND, "container \"x\": not found", ORCH_E_NOT_FOUND},
        {GRPC_STATUS_ALREADY_EXISTS, "image \"x\": already exists", ORCH_E_EXISTS},
        {GRPC_STATUS_DEADLINE_EXCEEDED, "Deadline Exceeded", ORCH_E_TIMEOUT},
        {GRPC_STATUS_PERMISSION_DENIED, "", ORCH_E_PERMISSION},
        {GRPC_STATUS_UNAUTHENTICATED, "", ORCH_E_PERMISSION},
        {GRPC_STATUS_RESOURCE_EXHAUSTED, "too many", ORCH_E_EXHAUSTED},
        {GRPC_STATUS_UNIMPLEMENTED, "unknown service", ORCH_E_UNSUPPORTED},
        {GRPC_STATUS_CANCELLED, "Cancelled", ORCH_E_CANCELLED},
        {GRPC_STATUS_DATA_LOSS, "", ORCH_E_CORRUPT},
        {GRPC_STATUS_INVALID_ARGUMENT, "bad key", ORCH_E_INVALID},
        {GRPC_STATUS_FAILED_PRECONDITION, "lease in use", ORCH_E_INVALID},
        {GRPC_STATUS_OUT_OF_RANGE, "", ORCH_E_INVALID},
        {GRPC_STATUS_UNKNOWN, "runc create failed: mkdir x: file exists", ORCH_E_IO},
        {GRPC_STATUS_INTERNAL, "", ORCH_E_IO},
        {GRPC_STATUS_ABORTED, "", ORCH_E_IO},
        {GRPC_STATUS_OK, "", ORCH_E_INTERNAL},
        /* services/snapshots/service.go: InvalidArgument with a text */
        {GRPC_STATUS_INVALID_ARGUMENT, "snapshotter not loaded: overlayfs: invalid argument",
         ORCH_E_UNSUPPORTED},
        {GRPC_STATUS_FAILED_PRECONDITION, "snapshotter not loaded: overlayfs", ORCH_E_UNSUPPORTED},
        /* content/local/writer.go, metadata/content.go: a commit that does not match */
        {GRPC_STATUS_FAILED_PRECONDITION,
         "unexpected commit digest sha256:aa, expected sha256:bb: failed precondition",
         ORCH_E_CORRUPT},
        {GRPC_STATUS_FAILED_PRECONDITION,
         "unexpected commit size 3, expected 4: failed precondition", ORCH_E_CORRUPT},
        {GRPC_STATUS_FAILED_PRECONDITION,
         "\"orchd-pull-aa\" failed size validation: 3 != 4: failed precondition", ORCH_E_CORRUPT},
        {GRPC_STATUS_FAILED_PRECONDITION, "\"orchd-pull-aa\" unexpected digest: failed precondition",
         ORCH_E_CORRUPT},
        /* the text alone decides nothing: only where containerd gives no code */
        {GRPC_STATUS_NOT_FOUND, "snapshotter not loaded", ORCH_E_NOT_FOUND},
        {GRPC_STATUS_UNAVAILABLE, "unexpected commit digest", ORCH_E_UNAVAILABLE},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        orch_errc got = ctd_status_errc(map[i].st, map[i].details);
        if (got != map[i].code)
            fprintf(stderr, "case %zu: %s \"%s\" -> %s, want %s\n", i,
                    ctd_status_name(map[i].st), map[i].details, orch_errc_name(got),
                    orch_errc_name(map[i].code));
        CHECK(got == map[i].code);
        orch_error *e = ctd_status_error(map[i].st, map[i].details);
        CHECK(e->code == map[i].code && e->sys_errno == 0);
        if (*map[i].details)
            CHECK_STR(e->msg, map[i].details);
        orch_error_free(e);
    }
    CHECK(ctd_status_errc(GRPC_STATUS_INVALID_ARGUMENT, NULL) == ORCH_E_INVALID);
    CHECK(ctd_status_errc((grpc_status_code)99, "x") == ORCH_E_IO);

    /* no details: the status names itself; context goes in front */
    orch_error *e = ctd_status_error(GRPC_STATUS_DEADLINE_EXCEEDED, "");
    CHECK_STR(e->msg, "containerd answered DEADLINE_EXCEEDED");
    CHECK(orch_error_is_transient(e));
    orch_error_prefix(e, "creating task %s", "orch-web");
    CHECK_STR(e->msg, "creating task orch-web: containerd answered DEADLINE_EXCEEDED");
    orch_error_free(e);
    e = ctd_status_error(GRPC_STATUS_UNAVAILABLE, NULL);
    CHECK_STR(e->msg, "containerd answered UNAVAILABLE");
    CHECK(orch_error_is_transient(e));
    orch_error_free(e);
    CHECK_STR(ctd_status_name((grpc_status_code)99), "UNKNOWN_STATUS");

    /* a commit containerd refused: what the bytes were, or the call's words */
    e = ctd_commit_error(GRPC_STATUS_FAILED_PRECONDITION,
                         "unexpected commit digest sha256:aa, expected sha256:bb: failed "
                         "precondition",
                         "sha256:bb", 4);
    CHECK(e->code == ORCH_E_CORRUPT);
    CHECK_STR(e->msg, "digest mismatch: the bytes received for sha256:bb have digest sha256:aa");
    orch_error_free(e);
    e = ctd_commit_error(GRPC_STATUS_FAILED_PRECONDITION,
                         "\"r\" failed size validation: 3 != 4: failed precondition", "sha256:bb", 4);
    CHECK(e->code == ORCH_E_CORRUPT);
    CHECK_CONTAINS(e->msg, "size mismatch: sha256:bb should be 4 bytes");
    orch_error_free(e);
    e = ctd_commit_error(GRPC_STATUS_UNAVAILABLE, "gone", "sha256:bb", 4);
    CHECK(e->code == ORCH_E_UNAVAILABLE);
    CHECK_STR(e->msg, "committing sha256:bb into containerd's content store: gone");
    orch_error_free(e);
    CHECK(ctd_error_dup(NULL) == NULL);
    return check_done();
}
