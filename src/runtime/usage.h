/* What a service's cgroup uses, for survey (ops->describe): read when
 * survey asks, never on a timer. The files are a few small kernel files in
 * cgroupfs, which never block: reading them on the loop is fine. */
#ifndef ORCH_RUNTIME_USAGE_H
#define ORCH_RUNTIME_USAGE_H

#include "runtime/runtime.h"

/* The path of cgroup control file name for the service (malloc'ed), or
 * NULL when it has none. */
typedef char *(*orch_usage_file_fn)(const char *name, void *ctx);

/* Puts, for each that can be read: "memory" and "memory_max" (bytes;
 * "max" for none), "cpu_usec" (CPU time used, microseconds), "pids" and
 * "pids_max". cgroup v2 names first, then the v1 ones (memory.usage_in_bytes,
 * memory.limit_in_bytes, cpuacct.usage). */
void orch_usage_describe(orch_usage_file_fn file_of, void *ctx, orch_describe_put put, void *arg);

/* A file_of for a container's cgroup, "/orchd/<ns>/<service>" below the
 * root of each hierarchy: ctx is that path. */
char *orch_usage_container_file(const char *name, void *ctx);

#endif
