/* Writing one blob into containerd's content store (Content.Write, a
 * lockstep stream: ctd_write.h), the way containerd's own client does
 * (content/helpers.go WriteBlob, content/proxy):
 *
 *   Content.Info(digest): there already -> Leases.AddResource (so the pull's
 *   lease protects it too) -> INGEST_EXISTS;
 *   otherwise Write(ref, STAT, total, expected): the offset an earlier,
 *   interrupted write of this ref reached -> ready(offset): the source
 *   (HTTP, a file, memory) feeds the bytes from there on -> WRITE messages
 *   of up to 1 MiB at the store's offset -> COMMIT with the expected size,
 *   digest and labels: containerd verifies both -> INGEST_OK.
 *
 * A failure aborts the ref (Content.Abort) unless asked to keep it for a
 * resume, so nothing half-written stays in the store. All on the loop
 * thread; callbacks never run from inside the call that caused them. */
#ifndef ORCH_PULL_INGEST_H
#define ORCH_PULL_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "containerd/store/store.h"

typedef struct ingest ingest;

enum { INGEST_OK, INGEST_EXISTS, INGEST_FAILED };

typedef struct ingest_cbs {
    /* Feed the blob's bytes from offset on (0 <= offset <= size). */
    void (*ready)(void *arg, int64_t offset);
    /* Called after ingest_feed answered "full" once the buffer has room. */
    void (*drained)(void *arg);
    /* Over (the ingest is gone afterwards). err: for INGEST_FAILED. */
    void (*done)(void *arg, int result, const orch_error *err);
} ingest_cbs;

/* The ingest ref of a digest: "orchd-pull-<hex>" (the same ref resumes). */
char *ingest_ref(const char *digest);

/* labels: key, value, key, value, ..., NULL (copied); set at the commit.
 * lease: the lease every call carries. Returns NULL only when the containerd
 * connection is closing. */
ingest *ingest_start(ctd_rt *rt, const char *lease, const char *digest, int64_t size,
                     const char *const *labels, const ingest_cbs *cbs, void *arg);
/* True when the buffer is full: hold the data, and wait for drained. */
bool ingest_full(ingest *g);
/* Takes len bytes (copied). */
void ingest_feed(ingest *g, const void *data, size_t len);
/* The source starts again from offset 0 (it could not resume). */
void ingest_rewind(ingest *g);
/* Bytes the store has plus those buffered: where the source stands. */
int64_t ingest_position(const ingest *g);
/* Every byte was fed: commit. */
void ingest_end(ingest *g);
/* The source failed: done follows with INGEST_FAILED and err (taken).
 * keep_ref leaves the written part for a resume instead of aborting it. */
void ingest_fail(ingest *g, orch_error *err, bool keep_ref);

#endif
