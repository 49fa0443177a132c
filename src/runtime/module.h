/* The runtime module ABI: how the daemon loads a runtime that lives in a
 * shared object of its own (orchd-<name>.so; today orchd-containerd.so).
 *
 * A runtime with heavy dependencies (gRPC C core and its ~55 libraries for
 * containerd) is a module, so that a daemon supervising only host services
 * never maps them. The daemon dlopen()s the module on first use
 * (src/daemon/runtime_loader.c) and reads one exported symbol,
 * ORCH_MODULE_SYMBOL, an orch_module_desc. Before anything else it
 * compares abi_version and service_size with its own: a module built from
 * another version of this header, of runtime/runtime.h or of the service
 * model (orchfile/model.h) is refused with a message naming both versions
 * and the file, never called. The module stays loaded for the daemon's life
 * (gRPC's threads and static state do not survive dlclose).
 *
 * Everything else in a module is hidden (-fvisibility=hidden,
 * --exclude-libs,ALL), so its copies of the shared libraries never collide
 * with the daemon's.
 *
 * Bump ORCH_MODULE_ABI_VERSION on any change to this header or to
 * runtime/runtime.h, and on any change to orch_service's layout. */
#ifndef ORCH_RUNTIME_MODULE_H
#define ORCH_RUNTIME_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "runtime/runtime.h"

/* 1 was the unversioned ABI (modules exporting orch_containerd_init); 3:
 * ops gained adopt, orch_module_config vm_kernel and the reaper; 4: start
 * errors are orch_error; 5: ops gained identity; 6: orch_service gained
 * written[] (the as-written values of typed directives); 7: image pulls and
 * imports report an orch_error; 8: orch_env_ctx gained log_max_size and
 * log_keep; 9: ops gained shutdown. */
#define ORCH_MODULE_ABI_VERSION 9u
#define ORCH_MODULE_SYMBOL "orch_runtime_module"
/* orchd-<name>.so */
#define ORCH_MODULE_FILE_PREFIX "orchd-"
#define ORCH_MODULE_FILE_SUFFIX ".so"

#define ORCH_MODULE_EXPORT __attribute__((visibility("default")))

/* What the daemon tells a module when it starts it. */
typedef struct orch_module_config {
    const char *socket_path; /* containerd: "unix:/path" or a plain path */
    const char *namespace_;  /* every object the module makes carries it */
    const char *vm_kernel;   /* vm: the kernel directory (--vm-kernel) */
    /* The daemon's one SIGCHLD reaper (runtime/reaper.h), for a module that
     * starts its own child processes (vm: qemu): the module's copy of the
     * reaper code is another one, which nobody runs. */
    void (*reaper_watch)(pid_t pid, void (*cb)(void *owner, pid_t pid, int status), void *owner);
    void (*reaper_unwatch)(pid_t pid);
} orch_module_config;

typedef struct orch_module_desc {
    uint32_t abi_version; /* ORCH_MODULE_ABI_VERSION the module was built with */
    size_t service_size;  /* sizeof(orch_service) the module was built with */
    const char *name;     /* "containerd": the file is orchd-containerd.so */
    /* Sets the runtime up on loop. Returns the ops table (static), or NULL
     * with *err (malloc'ed) for a configuration it cannot use. Called once,
     * on the loop thread; a second call returns the same table. Nothing is
     * contacted yet (containerd: gRPC connects on the first call). */
    const orch_runtime_ops *(*init)(uv_loop_t *loop, const orch_module_config *cfg, char **err);
    /* For a clean daemon exit: cancels pending calls, stops the module's
     * threads, then calls done (may be NULL) on the loop. What the runtime
     * runs keeps running. After it, the ops table must not be used. If the
     * runtime was never initialised, done runs at once. */
    void (*shutdown)(void (*done)(void *arg), void *arg);
} orch_module_desc;

/* Each module defines exactly this, with its own values:
 *   ORCH_MODULE_EXPORT const orch_module_desc orch_runtime_module = {
 *       ORCH_MODULE_ABI_VERSION, sizeof(orch_service), "containerd", init, shutdown};
 */
extern const orch_module_desc orch_runtime_module;

#endif
