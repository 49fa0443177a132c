#include "runtime_loader.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/xalloc.h"

#define MODULE_NAME "orchd-containerd.so"
#define MODULE_INIT "orch_containerd_init"
#define MODULE_SHUTDOWN "orch_containerd_shutdown"

typedef void (*shutdown_fn)(void (*done)(void *arg), void *arg);

typedef const orch_runtime_ops *(*init_fn)(uv_loop_t *loop, const char *socket_path,
                                           const char *namespace_, char **err);

static const orch_runtime_ops *loaded;
static void *module; /* the dlopen handle, once loaded */

/* $ORCH_MODULE_DIR, then next to the orchd binary, then ../lib/orchd. */
static char *find_module(void)
{
    const char *dir = getenv("ORCH_MODULE_DIR");
    if (dir && *dir) {
        char *p = xasprintf("%s/" MODULE_NAME, dir);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        char *p = xasprintf("%s/" MODULE_NAME, self);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
        p = xasprintf("%s/../lib/orchd/" MODULE_NAME, self);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

const orch_runtime_ops *orch_container_runtime_load(uv_loop_t *loop, const char *socket_path,
                                                    const char *namespace_, char **err)
{
    if (loaded)
        return loaded;
    char *path = find_module();
    if (!path) {
        *err = xstrdup("the containerd runtime module " MODULE_NAME " was not found (looked in "
                       "$ORCH_MODULE_DIR, next to orchd, and in ../lib/orchd)");
        return NULL;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        *err = xasprintf("cannot load %s: %s", path, dlerror());
        free(path);
        return NULL;
    }
    init_fn init = (init_fn)(uintptr_t)dlsym(h, MODULE_INIT);
    if (!init) {
        *err = xasprintf("%s has no %s", path, MODULE_INIT);
        free(path);
        dlclose(h);
        return NULL;
    }
    free(path);
    /* The module stays loaded for the daemon's life: gRPC's threads and
     * static state do not survive dlclose. */
    loaded = init(loop, socket_path, namespace_, err);
    if (loaded)
        module = h;
    return loaded;
}

void orch_container_runtime_unload(void (*done)(void *arg), void *arg)
{
    shutdown_fn fn = module ? (shutdown_fn)(uintptr_t)dlsym(module, MODULE_SHUTDOWN) : NULL;
    loaded = NULL;
    if (!fn) {
        if (done)
            done(arg);
        return;
    }
    /* The module stays mapped (see above); only its connection goes. */
    fn(done, arg);
}
