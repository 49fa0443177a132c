/* The `bare` runtime: a host service is `/bin/sh -c RUN` in its own session
 * and cgroup, with a clean environment, USER, WORKDIR, rlimits and log files
 * (docs/RUNTIME-BARE.md). Its ops table is orch_runtime_bare (runtime.h). */
#ifndef ORCH_BARE_H
#define ORCH_BARE_H

#include <sys/types.h>

#include "daemon/reaper.h"
#include "daemon/runtime.h"

/* Runs a helper command of svc (HEALTHCHECK, STOP, RELOAD) as
 * `/bin/sh -c command` with the service's environment, USER, WORKDIR and
 * rlimits, output appended to the service's STDOUT/STDERR files (/dev/null
 * when they cannot be opened), in its own session and process group (kill
 * it with kill(-pid, sig)). The reaper calls cb(owner, pid, status) when it
 * exits. Returns the pid, or -1 with *err (malloc'ed, names the service). */
pid_t orch_bare_run_command(const orch_service *svc, const orch_env_ctx *ctx,
                            const char *command, orch_reap_cb cb, void *owner, char **err);

#endif
