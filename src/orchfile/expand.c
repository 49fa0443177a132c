/* ${var} expansion (see expand.h). A reference is "${" up to the first '}'
 * after it; whatever lies between is the name handed to lookup, so text like
 * "${HOME:-/root}" or "${a ${b}" simply looks up a name no ARG can have and is
 * kept as written. There is no escape syntax ("$${x}" is '$' then "${x}") and
 * substituted values are not rescanned, so an ARG value containing "${...}"
 * comes through verbatim and expansion always terminates. */
#include "orchfile/expand.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Out of memory is fatal in orchd; the orchfile library does not link the
 * util helpers, so it carries its own tiny copy. */
static void *xrealloc_(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fputs("orchd: out of memory\n", stderr);
        abort();
    }
    return p;
}

typedef struct buf {
    char *s;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (n >= b->cap - b->len) { /* keep room for the final NUL */
        size_t cap = b->cap;
        while (n >= cap - b->len) {
            if (cap > SIZE_MAX / 2) {
                fputs("orchd: out of memory\n", stderr);
                abort();
            }
            cap *= 2;
        }
        b->s = xrealloc_(b->s, cap);
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

long orch_find_unterminated(const char *s)
{
    for (const char *p = s; (p = strstr(p, "${")) != NULL;) {
        const char *close = strchr(p + 2, '}');
        if (!close)
            return (long)(p - s);
        p = close + 1;
    }
    return -1;
}

char *orch_expand(const char *s, orch_lookup_fn lookup, void *ctx)
{
    size_t len = strlen(s);
    buf b = {xrealloc_(NULL, len + 1), 0, len + 1};
    b.s[0] = '\0';
    const char *p = s;
    const char *ref;
    while ((ref = strstr(p, "${")) != NULL) {
        const char *close = strchr(ref + 2, '}');
        if (!close)
            break; /* unterminated: the rest is copied as is */
        buf_add(&b, p, (size_t)(ref - p));
        size_t nlen = (size_t)(close - (ref + 2));
        bool found = false;
        if (nlen > 0) { /* "${}" names nothing: kept literally */
            char *name = xrealloc_(NULL, nlen + 1);
            memcpy(name, ref + 2, nlen);
            name[nlen] = '\0';
            const char *value = lookup(ctx, name);
            if (value) {
                buf_add(&b, value, strlen(value));
                found = true;
            }
            free(name);
        }
        if (!found)
            buf_add(&b, ref, (size_t)(close + 1 - ref));
        p = close + 1;
    }
    buf_add(&b, p, strlen(p));
    return b.s;
}

bool orch_is_builtin_var(const char *name)
{
    static const char *const builtins[] = {
        "ORCH_PROJECT", "ORCH_DATA",   "ORCH_STATE_DIR",   "ORCH_CONTAINERS_DIR",
        "SERVICE_NAME", "PORT_OFFSET", "CONTAINER_PREFIX",
    };
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(name, builtins[i]) == 0)
            return true;
    return false;
}
