/* The one error type carried upward (after crun's libcrun_error_t): a code
 * that callers may branch on, the errno when a system call failed, and a
 * message that grows context as it travels up ("service web: image x:
 * containerd not reachable at /run/c.sock: No such file or directory").
 *
 * Code decides, text informs: no caller ever inspects msg to choose what to
 * do. A function that can fail takes `orch_error **err` last, returns -1 (or
 * NULL) and sets *err to a new error; the caller either handles it
 * (orch_error_free) or adds its context and passes it on
 * (orch_error_prefix). */
#ifndef ORCH_COMMON_ERROR_H
#define ORCH_COMMON_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum orch_errc {
    ORCH_E_INTERNAL = 1, /* a bug or an impossible state */
    ORCH_E_INVALID,      /* the input is wrong: the user must change something */
    ORCH_E_NOT_FOUND,    /* what was named does not exist */
    ORCH_E_EXISTS,       /* something is in the way */
    ORCH_E_PERMISSION,   /* refused: credentials, ownership, modes */
    ORCH_E_UNAVAILABLE,  /* a peer (containerd, a registry) cannot be reached now: retry */
    ORCH_E_EXHAUSTED,    /* out of a resource that may come back (fds, memory, processes) */
    ORCH_E_NO_SPACE,     /* a full disk */
    ORCH_E_TIMEOUT,      /* no answer in time */
    ORCH_E_CANCELLED,    /* stopped because it was asked to stop */
    ORCH_E_UNSUPPORTED,  /* cannot be done this way here (e.g. a snapshotter not loaded) */
    ORCH_E_CORRUPT,      /* data failed a check (digest, size, format) */
    ORCH_E_IO,           /* any other failed system call: sys_errno says which */
} orch_errc;

typedef struct orch_error {
    orch_errc code;
    int sys_errno; /* the errno behind it, 0 if none */
    char *msg;
} orch_error;

/* A new error (never NULL: allocation failure aborts, as xalloc does). */
orch_error *orch_error_new(orch_errc code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same from a va_list: for a module's own printf-like fail helper. */
orch_error *orch_error_vnew(orch_errc code, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* From a failed system call: the code follows errnum (ENOENT -> NOT_FOUND,
 * EACCES/EPERM -> PERMISSION, ENOSPC/EDQUOT -> NO_SPACE, EMFILE/ENFILE/
 * ENOMEM/EAGAIN -> EXHAUSTED, ...) and the message ends ": strerror". */
orch_error *orch_error_errno(int errnum, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Adds context in front: "<context>: <msg>". Returns e (NULL stays NULL). */
orch_error *orch_error_prefix(orch_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sets *out (if out is not NULL; else frees e) and returns -1: the usual
 * last line of a failing function, `return orch_error_set(err, e);`. */
int orch_error_set(orch_error **out, orch_error *e);
void orch_error_free(orch_error *e);
/* The message, taken out of e (which is freed): for interfaces that carry
 * plain text (the control protocol's replies). NULL for NULL. */
char *orch_error_take_msg(orch_error *e);
/* A condition that may pass by itself: worth retrying with backoff
 * (UNAVAILABLE, EXHAUSTED, NO_SPACE, TIMEOUT). */
bool orch_error_is_transient(const orch_error *e);
/* "unavailable", "not-found", ...: for logs and JSON. */
const char *orch_errc_name(orch_errc code);
/* The code a system call's errno means. */
orch_errc orch_errc_from_errno(int errnum);

#endif
