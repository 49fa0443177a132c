/* The runtime module loader (runtime_loader.h). */
#include "daemon/runtime_loader.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

#define MAX_MODULES 4

typedef struct loaded_module {
    char *name;
    const orch_module_desc *desc;
    const orch_runtime_ops *ops;
} loaded_module;

static loaded_module modules[MAX_MODULES];
static size_t n_modules;

/* $ORCH_MODULE_DIR, then next to the orchd binary, then ../lib/orchd (where
 * `make install` puts modules). */
static char *find_module(const char *file)
{
    const char *dir = getenv("ORCH_MODULE_DIR");
    if (dir && *dir) {
        char *p = xasprintf("%s/%s", dir, file);
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
        char *p = xasprintf("%s/%s", self, file);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
        p = xasprintf("%s/../lib/orchd/%s", self, file);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

/* The module's descriptor if it speaks our ABI; else NULL with *err. */
static const orch_module_desc *check_abi(void *h, const char *path, const char *name, char **err)
{
    const orch_module_desc *d = dlsym(h, ORCH_MODULE_SYMBOL);
    if (!d) {
        /* ABI 1 modules exported orch_<name>_init and no descriptor */
        *err = xasprintf("%s was built for runtime module ABI version 1 (it has no %s); this "
                         "orchd needs version %u: rebuild or reinstall the module",
                         path, ORCH_MODULE_SYMBOL, ORCH_MODULE_ABI_VERSION);
        return NULL;
    }
    if (d->abi_version != ORCH_MODULE_ABI_VERSION) {
        *err = xasprintf("%s was built for runtime module ABI version %u; this orchd needs "
                         "version %u: rebuild or reinstall the module",
                         path, d->abi_version, ORCH_MODULE_ABI_VERSION);
        return NULL;
    }
    if (d->service_size != sizeof(orch_service)) {
        *err = xasprintf("%s was built with another service model (orch_service is %zu bytes "
                         "there, %zu here) under the same ABI version %u: rebuild the module",
                         path, d->service_size, sizeof(orch_service), ORCH_MODULE_ABI_VERSION);
        return NULL;
    }
    if (!d->name || strcmp(d->name, name) != 0 || !d->init) {
        *err = xasprintf("%s is not the %s runtime (it says it is %s)", path, name,
                         d->name ? d->name : "nameless");
        return NULL;
    }
    return d;
}

const orch_runtime_ops *orch_runtime_module_load(uv_loop_t *loop, const char *name,
                                                 const orch_module_config *cfg, char **err)
{
    *err = NULL;
    for (size_t i = 0; i < n_modules; i++)
        if (strcmp(modules[i].name, name) == 0)
            return modules[i].ops;
    if (n_modules == MAX_MODULES) {
        *err = xasprintf("cannot load the %s runtime: too many runtime modules", name);
        return NULL;
    }
    char *file = xasprintf(ORCH_MODULE_FILE_PREFIX "%s" ORCH_MODULE_FILE_SUFFIX, name);
    char *path = find_module(file);
    if (!path) {
        *err = xasprintf("the %s runtime module %s was not found (looked in $ORCH_MODULE_DIR, "
                         "next to orchd, and in ../lib/orchd)", name, file);
        free(file);
        return NULL;
    }
    free(file);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        *err = xasprintf("cannot load %s: %s", path, dlerror());
        free(path);
        return NULL;
    }
    const orch_module_desc *d = check_abi(h, path, name, err);
    free(path);
    if (!d) {
        dlclose(h);
        return NULL;
    }
    /* The module stays loaded for the daemon's life (even if init fails):
     * gRPC's threads and static state do not survive dlclose. */
    const orch_runtime_ops *ops = d->init(loop, cfg, err);
    if (!ops)
        return NULL;
    modules[n_modules++] = (loaded_module){.name = xstrdup(name), .desc = d, .ops = ops};
    return ops;
}

typedef struct unload_op {
    size_t next; /* modules[next..] still to shut down, from the last */
    void (*done)(void *arg);
    void *arg;
} unload_op;

static void unload_next(void *arg)
{
    unload_op *op = arg;
    if (op->next == 0) {
        void (*done)(void *) = op->done;
        void *done_arg = op->arg;
        free(op);
        if (done)
            done(done_arg);
        return;
    }
    loaded_module *m = &modules[--op->next];
    free(m->name);
    const orch_module_desc *d = m->desc;
    *m = (loaded_module){0};
    n_modules = op->next;
    /* The module stays mapped (see above); only its connections go. */
    if (d->shutdown)
        d->shutdown(unload_next, op);
    else
        unload_next(op);
}

void orch_runtime_modules_unload(void (*done)(void *arg), void *arg)
{
    unload_op *op = xmalloc(sizeof *op);
    *op = (unload_op){.next = n_modules, .done = done, .arg = arg};
    unload_next(op);
}
