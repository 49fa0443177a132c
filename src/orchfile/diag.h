/* Diagnostics: every error or warning the Orchfile pipeline finds, with the
 * place it came from. Nothing in the parser prints directly; callers decide
 * how (orchd parse prints "FILE:LINE: message", the daemon replies in JSON). */
#ifndef ORCH_DIAG_H
#define ORCH_DIAG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct orch_origin {
    const char *file; /* borrowed: lives as long as the orch_diags/orch_model */
    int line;         /* 1-based; 0 when not tied to a line */
    int col;          /* 1-based; 0 when unknown (text form) */
} orch_origin;

typedef enum { ORCH_DIAG_ERROR, ORCH_DIAG_WARNING } orch_diag_level;

typedef struct orch_diag {
    orch_diag_level level;
    orch_origin at;
    char *message;
} orch_diag;

/* At most this many diagnostics are kept; past it they are only counted
 * (n_dropped), so a hostile or generated Orchfile (600 services each AFTER
 * every other: 179,702 cycles) costs bounded memory and output. Printers end
 * with orch_diags_more(). */
#define ORCH_DIAGS_MAX 100

typedef struct orch_diags {
    orch_diag *items;
    size_t n, cap;
    size_t n_errors;  /* every error, kept or dropped */
    size_t n_dropped; /* past ORCH_DIAGS_MAX: counted, not kept */
    /* File names are interned here so origins can point at them. */
    char **files;
    size_t n_files;
} orch_diags;

void orch_diags_init(orch_diags *d);
void orch_diags_free(orch_diags *d);
/* Returns a stable copy of name, owned by d. */
const char *orch_diags_intern_file(orch_diags *d, const char *name);

void orch_diag_error(orch_diags *d, orch_origin at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void orch_diag_warn(orch_diags *d, orch_origin at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* False once ORCH_DIAGS_MAX are kept: a caller whose message is costly to
 * build may then call orch_diags_drop instead. */
bool orch_diags_room(const orch_diags *d);
void orch_diags_drop(orch_diags *d, orch_diag_level level);

/* "... and N more" (malloc'ed) when diagnostics were dropped, else NULL. */
char *orch_diags_more(const orch_diags *d);

/* Orders diagnostics by file (in the order files were interned) and line,
 * keeping the order of equal ones, so a file's errors read top to bottom. */
void orch_diags_sort(orch_diags *d);

/* Formats one diagnostic as "FILE:LINE[:COL]: [warning: ]message" into a
 * freshly allocated string. */
char *orch_diag_format(const orch_diag *g);

#endif
