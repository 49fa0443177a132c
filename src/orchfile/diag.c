#include "orchfile/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

void orch_diags_init(orch_diags *d)
{
    memset(d, 0, sizeof *d);
}

void orch_diags_free(orch_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->items[i].message);
    free(d->items);
    for (size_t i = 0; i < d->n_files; i++)
        free(d->files[i]);
    free(d->files);
    memset(d, 0, sizeof *d);
}

const char *orch_diags_intern_file(orch_diags *d, const char *name)
{
    for (size_t i = 0; i < d->n_files; i++)
        if (strcmp(d->files[i], name) == 0)
            return d->files[i];
    d->files = xrealloc(d->files, (d->n_files + 1) * sizeof *d->files);
    d->files[d->n_files] = xstrdup(name);
    return d->files[d->n_files++];
}

bool orch_diags_room(const orch_diags *d)
{
    return d->n < ORCH_DIAGS_MAX;
}

void orch_diags_drop(orch_diags *d, orch_diag_level level)
{
    d->n_dropped++;
    if (level == ORCH_DIAG_ERROR)
        d->n_errors++;
}

char *orch_diags_more(const orch_diags *d)
{
    return d->n_dropped ? xasprintf("... and %zu more", d->n_dropped) : NULL;
}

static void add(orch_diags *d, orch_diag_level level, orch_origin at, const char *fmt,
                va_list ap)
{
    if (!orch_diags_room(d)) {
        orch_diags_drop(d, level);
        return;
    }
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = xstrdup("(message lost: out of memory)");
    xgrow((void **)&d->items, &d->cap, d->n + 1, sizeof *d->items);
    d->items[d->n++] = (orch_diag){.level = level, .at = at, .message = msg};
    if (level == ORCH_DIAG_ERROR)
        d->n_errors++;
}

void orch_diag_error(orch_diags *d, orch_origin at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add(d, ORCH_DIAG_ERROR, at, fmt, ap);
    va_end(ap);
}

void orch_diag_warn(orch_diags *d, orch_origin at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add(d, ORCH_DIAG_WARNING, at, fmt, ap);
    va_end(ap);
}

char *orch_diag_format(const orch_diag *g)
{
    const char *level = g->level == ORCH_DIAG_WARNING ? "warning: " : "";
    if (!g->at.file)
        return xasprintf("orchd: %s%s", level, g->message);
    if (g->at.line <= 0)
        return xasprintf("%s: %s%s", g->at.file, level, g->message);
    if (g->at.col > 0)
        return xasprintf("%s:%d:%d: %s%s", g->at.file, g->at.line, g->at.col, level,
                         g->message);
    return xasprintf("%s:%d: %s%s", g->at.file, g->at.line, level, g->message);
}

static size_t file_rank(const orch_diags *d, const char *file)
{
    for (size_t i = 0; i < d->n_files; i++)
        if (d->files[i] == file)
            return i + 1;
    return 0; /* not tied to a file: first */
}

void orch_diags_sort(orch_diags *d)
{
    /* Insertion sort: stable, and diagnostics are few and nearly ordered. */
    for (size_t i = 1; i < d->n; i++) {
        orch_diag g = d->items[i];
        size_t rank = file_rank(d, g.at.file);
        size_t j = i;
        while (j > 0) {
            const orch_diag *p = &d->items[j - 1];
            size_t prank = file_rank(d, p->at.file);
            if (prank < rank || (prank == rank && p->at.line <= g.at.line))
                break;
            d->items[j] = *p;
            j--;
        }
        d->items[j] = g;
    }
}
