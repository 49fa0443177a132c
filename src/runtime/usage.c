#include "runtime/usage.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

/* A small file, NUL-terminated (at most len-1 bytes). */
static int read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

/* The first line of the v2 file, else of the v1 one; returns which (0, 1) or -1. */
static int read_value(orch_usage_file_fn file_of, void *ctx, const char *v2, const char *v1,
                      char *buf, size_t len)
{
    const char *names[2] = {v2, v1};
    for (int i = 0; i < 2; i++) {
        if (!names[i])
            continue;
        char *p = file_of(names[i], ctx);
        int r = p ? read_small(p, buf, len) : -1;
        free(p);
        if (r == 0) {
            buf[strcspn(buf, "\n")] = '\0';
            return i;
        }
    }
    return -1;
}

void orch_usage_describe(orch_usage_file_fn file_of, void *ctx, orch_describe_put put, void *arg)
{
    char b[4096];
    if (read_value(file_of, ctx, "memory.current", "memory.usage_in_bytes", b, sizeof b) >= 0)
        put(arg, "memory", b);
    int which = read_value(file_of, ctx, "memory.max", "memory.limit_in_bytes", b, sizeof b);
    if (which == 1 && strtoull(b, NULL, 10) >= (1ull << 62)) /* v1's "no limit" */
        snprintf(b, sizeof b, "max");
    if (which >= 0)
        put(arg, "memory_max", b);
    char *p = file_of("cpu.stat", ctx);
    char st[4096];
    const char *u;
    if (p && read_small(p, st, sizeof st) == 0 && (u = strstr(st, "usage_usec "))) {
        snprintf(b, sizeof b, "%llu", strtoull(u + 11, NULL, 10));
        put(arg, "cpu_usec", b);
    } else if (read_value(file_of, ctx, NULL, "cpuacct.usage", b, sizeof b) == 1) {
        snprintf(b, sizeof b, "%llu", strtoull(b, NULL, 10) / 1000); /* ns */
        put(arg, "cpu_usec", b);
    }
    free(p);
    if (read_value(file_of, ctx, "pids.current", NULL, b, sizeof b) >= 0)
        put(arg, "pids", b);
    if (read_value(file_of, ctx, "pids.max", NULL, b, sizeof b) >= 0)
        put(arg, "pids_max", b);
}

char *orch_usage_container_file(const char *name, void *ctx)
{
    const char *rel = ctx;
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
        return xasprintf("/sys/fs/cgroup%s/%s", rel, name);
    /* v1: each controller's own hierarchy */
    const char *ctrl = strncmp(name, "memory.", 7) == 0    ? "memory"
                       : strncmp(name, "pids.", 5) == 0    ? "pids"
                       : strncmp(name, "cpuacct.", 8) == 0 ? "cpuacct"
                                                           : NULL;
    return ctrl ? xasprintf("/sys/fs/cgroup/%s%s/%s", ctrl, rel, name) : NULL;
}
