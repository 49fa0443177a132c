/* The error type (error.h). */
#include "common/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

orch_error *orch_error_vnew(orch_errc code, const char *fmt, va_list ap)
{
    orch_error *e = xcalloc(1, sizeof *e);
    e->msg = xvasprintf(fmt, ap);
    e->code = code;
    return e;
}

orch_error *orch_error_new(orch_errc code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    orch_error *e = orch_error_vnew(code, fmt, ap);
    va_end(ap);
    return e;
}

orch_errc orch_errc_from_errno(int errnum)
{
    switch (errnum) {
    case ENOENT: case ENOTDIR: case ESRCH: return ORCH_E_NOT_FOUND;
    case EEXIST: case ENOTEMPTY: case EBUSY: return ORCH_E_EXISTS;
    case EACCES: case EPERM: case EROFS: return ORCH_E_PERMISSION;
    case ENOSPC: case EDQUOT: return ORCH_E_NO_SPACE;
    case EMFILE: case ENFILE: case ENOMEM: case EAGAIN: return ORCH_E_EXHAUSTED;
    case ETIMEDOUT: return ORCH_E_TIMEOUT;
    case ECANCELED: return ORCH_E_CANCELLED;
    case ECONNREFUSED: case ECONNRESET: case EHOSTUNREACH: case ENETUNREACH: case EPIPE:
        return ORCH_E_UNAVAILABLE;
    case EINVAL: case ENAMETOOLONG: case ELOOP: case E2BIG: return ORCH_E_INVALID;
    case ENOSYS: case EOPNOTSUPP: return ORCH_E_UNSUPPORTED;
    default: return ORCH_E_IO;
    }
}

orch_error *orch_error_errno(int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = xvasprintf(fmt, ap);
    va_end(ap);
    orch_error *e = xcalloc(1, sizeof *e);
    e->code = orch_errc_from_errno(errnum);
    e->sys_errno = errnum;
    e->msg = xasprintf("%s: %s", what, strerror(errnum));
    free(what);
    return e;
}

orch_error *orch_error_prefix(orch_error *e, const char *fmt, ...)
{
    if (!e)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    char *ctx = xvasprintf(fmt, ap);
    va_end(ap);
    char *msg = xasprintf("%s: %s", ctx, e->msg);
    free(ctx);
    free(e->msg);
    e->msg = msg;
    return e;
}

int orch_error_set(orch_error **out, orch_error *e)
{
    if (out)
        *out = e;
    else
        orch_error_free(e);
    return -1;
}

void orch_error_free(orch_error *e)
{
    if (!e)
        return;
    free(e->msg);
    free(e);
}

char *orch_error_take_msg(orch_error *e)
{
    if (!e)
        return NULL;
    char *msg = e->msg;
    free(e);
    return msg;
}

bool orch_error_is_transient(const orch_error *e)
{
    if (!e)
        return false;
    switch (e->code) {
    case ORCH_E_UNAVAILABLE: case ORCH_E_EXHAUSTED: case ORCH_E_NO_SPACE: case ORCH_E_TIMEOUT:
        return true;
    default:
        return false;
    }
}

const char *orch_errc_name(orch_errc code)
{
    static const char *const names[] = {
        [ORCH_E_INTERNAL] = "internal",       [ORCH_E_INVALID] = "invalid",
        [ORCH_E_NOT_FOUND] = "not-found",     [ORCH_E_EXISTS] = "exists",
        [ORCH_E_PERMISSION] = "permission",   [ORCH_E_UNAVAILABLE] = "unavailable",
        [ORCH_E_EXHAUSTED] = "exhausted",     [ORCH_E_NO_SPACE] = "no-space",
        [ORCH_E_TIMEOUT] = "timeout",         [ORCH_E_CANCELLED] = "cancelled",
        [ORCH_E_UNSUPPORTED] = "unsupported", [ORCH_E_CORRUPT] = "corrupt",
        [ORCH_E_IO] = "io",
    };
    if ((unsigned)code < sizeof names / sizeof *names && names[code])
        return names[code];
    return "unknown";
}
