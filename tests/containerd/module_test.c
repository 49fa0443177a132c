/* Loads orchd-containerd.so the way the daemon does (dlopen, one symbol) and
 * checks the module interface: a malformed socket address is refused with a
 * message, a good one gives the "containerd" ops table, shutdown completes on
 * the loop. Usage: ctd_module_test MODULE_PATH */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "runtime/module.h"

static int failures;
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static void on_shutdown(void *arg)
{
    *(int *)arg = 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODULE_PATH\n", argv[0]);
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "FAIL: dlopen %s: %s\n", argv[1], dlerror());
        return 1;
    }
    const orch_module_desc *mod = dlsym(h, ORCH_MODULE_SYMBOL);
    CHECK(mod != NULL, "%s missing", ORCH_MODULE_SYMBOL);
    if (!mod)
        return 1;
    CHECK(mod->abi_version == ORCH_MODULE_ABI_VERSION, "ABI version %u", mod->abi_version);
    CHECK(mod->service_size == sizeof(orch_service), "service size %zu", mod->service_size);
    CHECK(mod->name && strcmp(mod->name, "containerd") == 0, "module name");
    CHECK(mod->init && mod->shutdown, "entry points missing");
    CHECK(dlsym(h, "ctd_conn_new") == NULL, "transport symbols are exported");
    CHECK(dlsym(h, "xmalloc") == NULL, "helper symbols are exported");

    uv_loop_t *loop = uv_default_loop();
    char *err = NULL;
    orch_module_config tcp = {.socket_path = "tcp://127.0.0.1:1", .namespace_ = "orch"};
    const orch_runtime_ops *ops = mod->init(loop, &tcp, &err);
    CHECK(ops == NULL && err, "tcp address accepted");
    printf("tcp address: %s\n", err ? err : "(no error)");
    free(err);
    err = NULL;

    orch_module_config unix_cfg = {.socket_path = "unix:/nonexistent/containerd.sock",
                                   .namespace_ = "orch"};
    ops = mod->init(loop, &unix_cfg, &err);
    CHECK(ops && !err, "init: %s", err ? err : "");
    if (ops) {
        CHECK(strcmp(ops->name, "containerd") == 0, "name %s", ops->name);
        CHECK(ops->start && ops->signal && ops->release && ops->exec && ops->exec_cancel &&
                  ops->describe && ops->log_path,
              "ops table incomplete");
        char *err2 = NULL;
        CHECK(mod->init(loop, &unix_cfg, &err2) == ops,
              "second init returned another table");
        free(err2);
    }
    int done = 0;
    mod->shutdown(on_shutdown, &done);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(done == 1, "shutdown did not complete");
    CHECK(uv_loop_close(loop) == 0, "handles left on the loop");
    printf("%s\n", failures ? "FAILED" : "PASS");
    return failures ? 1 : 0;
}
