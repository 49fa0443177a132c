/* Loads the containerd runtime module (orchd-containerd.so) on first use, so
 * a daemon that supervises only host services never maps libgrpc and its
 * ~55 libraries (DESIGN.md, "What gRPC costs"). */
#ifndef ORCH_RUNTIME_LOADER_H
#define ORCH_RUNTIME_LOADER_H

#include <uv.h>

#include "runtime.h"

/* Returns the ops table, loading the module the first time. On failure
 * returns NULL with *err (malloc'ed) naming the module path tried. */
const orch_runtime_ops *orch_container_runtime_load(uv_loop_t *loop, const char *socket_path,
                                                    const char *namespace_, char **err);

/* For a clean exit, after every service stopped: lets the module close its
 * connection (its optional orch_containerd_shutdown), then calls done (may be
 * NULL) on the loop; at once when the module was never loaded. The ops table
 * must not be used afterwards. */
void orch_container_runtime_unload(void (*done)(void *arg), void *arg);

#endif
