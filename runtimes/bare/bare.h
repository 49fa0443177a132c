/* The `bare` runtime: a host service is `/bin/sh -c RUN` in its own session
 * and cgroup, with a clean environment, USER, WORKDIR, rlimits and log files
 * (docs/RUNTIME-BARE.md). Its ops table is orch_runtime_bare (runtime.h). */
#ifndef ORCH_BARE_H
#define ORCH_BARE_H

#include <sys/types.h>

#include "runtime/runtime.h"

/* The ops table's exec and exec_cancel (runtimes/bare/exec.c). */
orch_exec *orch_bare_exec(orch_instance *inst, const orch_service *svc, const orch_env_ctx *ctx,
                          const char *command, uint64_t timeout_ms, orch_exec_cb cb, void *owner,
                          char **err);
void orch_bare_exec_cancel(orch_exec *x);
/* ops->identity (identity.c): the digest of the environment a start gets. */
int orch_bare_identity(uv_loop_t *loop, const orch_service *svc, const orch_env_ctx *ctx,
                       orch_identity_cb cb, void *owner);

#endif
