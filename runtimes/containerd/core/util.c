/* Small helpers of the containerd runtime: URIs for log destinations,
 * containerd identifiers and image references (SHA-256 is orch_sha256.c). */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "containerd/core/core.h"
#include "common/xalloc.h"

/* ---------------------------------------------------------------- paths, URIs */

char *ctd_path_join(const char *base, const char *rel)
{
    if (rel[0] == '/' || !base || !*base)
        return xstrdup(rel);
    size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/')
        n--;
    const char *r = rel;
    while (r[0] == '.' && r[1] == '/')
        r += 2;
    return xasprintf("%.*s/%s", (int)n, base, r);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static char *escape(const char *s, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = xmalloc(3 * n + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = digits[*p >> 4];
            *o++ = digits[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

char *ctd_uri_path(const char *path)
{
    return escape(path, true);
}

char *ctd_uri_query(const char *s)
{
    return escape(s, false);
}

static bool alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool ctd_valid_identifier(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 76 || !alnum(id[0]) || !alnum(id[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (alnum(id[i]))
            continue;
        if ((id[i] != '.' && id[i] != '_' && id[i] != '-') || !alnum(id[i + 1]))
            return false;
    }
    return true;
}

/* docker's normalisation (reference/docker/normalize.go): a first component
 * without '.' or ':' that is not "localhost" is a Docker Hub path; official
 * images live under library/; no tag and no digest means :latest. */
char *ctd_normalize_ref(const char *ref)
{
    const char *slash = strchr(ref, '/');
    char *full;
    if (!slash) {
        full = xasprintf("docker.io/library/%s", ref);
    } else {
        size_t n = (size_t)(slash - ref);
        bool domain = memchr(ref, '.', n) || memchr(ref, ':', n) ||
                      (n == 9 && strncmp(ref, "localhost", 9) == 0);
        if (!domain)
            full = xasprintf("docker.io/%s", ref);
        else if (n == 9 && strncmp(ref, "docker.io", 9) == 0 && !strchr(slash + 1, '/'))
            full = xasprintf("docker.io/library/%s", slash + 1);
        else
            full = xstrdup(ref);
    }
    const char *last = strrchr(full, '/');
    if (!strchr(last ? last : full, ':') && !strchr(full, '@')) {
        char *t = xasprintf("%s:latest", full);
        free(full);
        full = t;
    }
    if (strcmp(full, ref) == 0) {
        free(full);
        return NULL;
    }
    return full;
}

char *ctd_random_hex(size_t n)
{
    uint8_t buf[32];
    if (n > sizeof buf)
        n = sizeof buf;
    if (getrandom(buf, n, GRND_NONBLOCK) != (ssize_t)n) {
        /* no entropy yet (early boot): time and pid are unique enough for keys */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid() << 48;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)(v >> (8 * (i % 8))) ^ (uint8_t)i;
    }
    char *out = xmalloc(2 * n + 1);
    orch_hex(buf, n, out);
    return out;
}

orch_error *ctd_uv_error(int uverr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = xvasprintf(fmt, ap);
    va_end(ap);
    orch_error *e = orch_error_new(orch_errc_from_errno(-uverr), "%s: %s", m, uv_strerror(uverr));
    e->sys_errno = -uverr;
    free(m);
    return e;
}

orch_error *ctd_closing_error(void)
{
    return orch_error_new(ORCH_E_CANCELLED, "the containerd connection is closing");
}
