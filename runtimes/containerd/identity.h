/* ops->identity of the containerd runtime (identity.c). */
#ifndef ORCH_CTD_IDENTITY_H
#define ORCH_CTD_IDENTITY_H

#include "containerd/core/core.h"
#include "runtime/runtime.h"

int ctd_identity_query(ctd_rt *rt, uv_loop_t *loop, const orch_service *svc,
                       const orch_env_ctx *ctx, orch_identity_cb cb, void *owner);

#endif
