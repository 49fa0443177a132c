/* What a running host service leaves in the state directory, so that the
 * next orchd can adopt it after a crash (docs/SUPERVISION.md, "After a
 * crash"): <state>/run/<namespace>.<service>, one line
 *   <pid> <start time> <spec hash> <relay pid> <relay pipe inode>
 * where the start time is field 22 of /proc/<pid>/stat (clock ticks since
 * boot: a reused pid has another one) and the spec hash is FNV-1a 64 of the
 * service's resolved spec as JSON, in fixed-width fields; the last two name
 * its log relay (bare/log_relay.h; 0 0: none; a record of an older orchd
 * has only the first three). Written in place
 * with one pwrite (always one whole record) once the process has exec'd,
 * cleared (pid 0: no record) when its instance is released; the file stays
 * for the next start, so a restart creates and deletes no file. */
#ifndef ORCH_BARE_RUN_RECORD_H
#define ORCH_BARE_RUN_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/runtime.h"

typedef struct orch_run_record {
    pid_t pid;
    unsigned long long start_time;
    uint64_t spec_hash;
    pid_t relay_pid; /* 0: none */
    unsigned long long relay_pipe_ino;
} orch_run_record;

/* <state>/run/<namespace>.<service> (malloc'ed). */
char *orch_run_record_path(const orch_env_ctx *ctx, const char *service);
/* The identity of svc's spec; 0 when it has no JSON form (never matches). */
uint64_t orch_run_spec_hash(const orch_service *svc);
/* Field 22 of /proc/<pid>/stat, or 0 when the process is gone. */
unsigned long long orch_proc_start_time(pid_t pid);

int orch_run_record_write(const char *path, const orch_run_record *r);
/* 0 and *r, or -errno (-ENOENT: none, -EINVAL: not a record we wrote). */
int orch_run_record_read(const char *path, orch_run_record *r);
/* Clears the record if it is still about pid (a newer start may have
 * replaced it). */
void orch_run_record_remove(const char *path, pid_t pid);

#endif
