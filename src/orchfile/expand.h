/* ${var} expansion. */
#ifndef ORCH_EXPAND_H
#define ORCH_EXPAND_H

#include <stdbool.h>
#include <stddef.h>

/* Returns the value for name, or NULL to keep `${name}` as written. */
typedef const char *(*orch_lookup_fn)(void *ctx, const char *name);

/* Returns the byte offset of the first unterminated "${" in s, or -1. */
long orch_find_unterminated(const char *s);
/* Expands every ${name} that lookup resolves; leaves the others (and any $x
 * without braces) untouched. Returns a malloc'ed string (never NULL). An
 * unterminated "${" is copied as is; check it with orch_find_unterminated. */
char *orch_expand(const char *s, orch_lookup_fn lookup, void *ctx);
/* True for the built-ins kept for the engine (ORCH_PROJECT, ...). */
bool orch_is_builtin_var(const char *name);

#endif
