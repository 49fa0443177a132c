/* The interface between the daemon and the containerd runtime module.
 *
 * The containerd runtime (gRPC C core, protobuf-c, the OCI spec generator) is
 * built as a separate shared object, orchd-containerd.so, so that the daemon
 * never links libgrpc and its ~55 libraries (DESIGN.md, "What gRPC costs"): a
 * daemon that supervises only host services never maps them. The daemon
 * dlopen()s the module on the first FROM service (src/daemon/runtime_loader.c)
 * and calls one exported symbol, orch_containerd_init. The module stays
 * loaded for the daemon's life (gRPC's threads and static state do not
 * survive dlclose).
 *
 * Everything else in the module is hidden (-fvisibility=hidden,
 * --exclude-libs,ALL), so the module's copies of helper code never collide
 * with the daemon's. */
#ifndef ORCH_CONTAINERD_MODULE_H
#define ORCH_CONTAINERD_MODULE_H

#include <uv.h>

#include "daemon/runtime.h"

#define ORCH_CONTAINERD_MODULE_NAME "orchd-containerd.so"
#define ORCH_CONTAINERD_INIT_SYMBOL "orch_containerd_init"
#define ORCH_CONTAINERD_SHUTDOWN_SYMBOL "orch_containerd_shutdown"

#define ORCH_MODULE_EXPORT __attribute__((visibility("default")))

/* Sets up the runtime on loop: one gRPC channel to socket_path ("unix:/path"
 * or a plain path; containerd is not contacted yet, gRPC connects on the
 * first call), every call in containerd namespace namespace_. Returns the ops
 * table (static; ops->name is "containerd"), or NULL with *err (malloc'ed)
 * for a malformed socket address. Call once, on the loop thread; a second
 * call returns the same table. */
typedef const orch_runtime_ops *(*orch_containerd_init_fn)(uv_loop_t *loop,
                                                           const char *socket_path,
                                                           const char *namespace_, char **err);

/* Optional, for a clean daemon exit: cancels pending calls, stops the gRPC
 * thread, destroys the channel, then calls done (may be NULL) on the loop.
 * Containers keep running (they are containerd's). After it, the ops table
 * must not be used. If the runtime was never initialised, done runs at once. */
typedef void (*orch_containerd_shutdown_fn)(void (*done)(void *arg), void *arg);

ORCH_MODULE_EXPORT const orch_runtime_ops *orch_containerd_init(uv_loop_t *loop,
                                                                const char *socket_path,
                                                                const char *namespace_,
                                                                char **err);
ORCH_MODULE_EXPORT void orch_containerd_shutdown(void (*done)(void *arg), void *arg);

#endif
