/* Helper commands inside a container's task: not written yet (WIP). */
#include "containerd/container/container.h"
#include "containerd/fetch/fetch.h"
#include "containerd/store/store.h"
#include "common/xalloc.h"

orch_exec *ctd_exec_start(orch_instance *inst, const char *command, uint64_t timeout_ms,
                          orch_exec_cb cb, void *owner, char **err)
{
    (void)inst, (void)command, (void)timeout_ms, (void)cb, (void)owner;
    *err = xstrdup("commands inside containers are not supported yet");
    return NULL;
}

void ctd_exec_cancel(orch_exec *x)
{
    (void)x;
}
