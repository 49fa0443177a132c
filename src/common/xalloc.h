/* Allocation that never returns NULL: orchd treats out-of-memory as fatal
 * (a supervisor that limps on without memory does more harm than one that
 * stops loudly). */
#ifndef ORCH_XALLOC_H
#define ORCH_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Grows *p (of *cap elements of size) so it holds at least need elements. */
void xgrow(void **p, size_t *cap, size_t need, size_t size);

#endif
