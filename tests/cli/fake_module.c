/* A runtime module built against another ABI than the orchd under test
 * (tests/cli/module_abi.sh): FAKE_ABI is the version it claims; FAKE_ABI 1
 * builds a module of the unversioned ABI (orch_containerd_init only). */
#include "runtime/module.h"

#if FAKE_ABI == 1
ORCH_MODULE_EXPORT const orch_runtime_ops *orch_containerd_init(void)
{
    return 0;
}
#else
static const orch_runtime_ops *fake_init(uv_loop_t *loop, const orch_module_config *cfg,
                                         char **err)
{
    (void)loop, (void)cfg, (void)err;
    __builtin_trap(); /* must never be called: the loader refuses the ABI first */
}

ORCH_MODULE_EXPORT const orch_module_desc orch_runtime_module = {
    .abi_version = FAKE_ABI,
    .service_size = sizeof(orch_service),
    .name = "containerd",
    .init = fake_init,
};
#endif
