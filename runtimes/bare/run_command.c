/* Helper commands (HEALTHCHECK, STOP, RELOAD) of a host service. */
#include "bare/bare.h"

#include <errno.h>

#include "bare/launch.h"

pid_t orch_bare_run_command(const orch_service *svc, const orch_env_ctx *ctx,
                            const char *command, orch_reap_cb cb, void *owner, char **err)
{
    orch_bare_launch l;
    if (orch_bare_launch_prepare(svc, ctx, command, false, &l, err) < 0)
        return -1;
    const char *stage;
    pid_t pid = orch_spawn(&l.opts, &stage);
    if (pid < 0)
        *err = orch_bare_spawn_error(svc, &l, stage, errno);
    else
        orch_reaper_watch(pid, cb, owner);
    orch_bare_launch_free(&l);
    return pid;
}
