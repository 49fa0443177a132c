/* Loads runtime modules (orchd-<name>.so, runtime/module.h) on first use, so
 * a daemon that supervises only host services never maps libgrpc and its
 * ~55 libraries (docs/ARCHITECTURE.md, "What gRPC costs"). */
#ifndef ORCH_RUNTIME_LOADER_H
#define ORCH_RUNTIME_LOADER_H

#include <uv.h>

#include "runtime/module.h"

/* Returns the ops table of runtime `name` ("containerd"), loading and
 * starting its module the first time. On failure returns NULL with *err
 * (malloc'ed) naming the file: not found, not loadable, or built for
 * another module ABI version (both versions named). */
const orch_runtime_ops *orch_runtime_module_load(uv_loop_t *loop, const char *name,
                                                 const orch_module_config *cfg, char **err);

/* For a clean exit, after every service stopped: shuts every loaded module
 * down (one after the other), then calls done (may be NULL) on the loop; at
 * once when none was loaded. The ops tables must not be used afterwards. */
void orch_runtime_modules_unload(void (*done)(void *arg), void *arg);

#endif
