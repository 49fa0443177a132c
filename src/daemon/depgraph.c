/* Dependency links (see depgraph.h). Lookups go through a name index sorted
 * once per relink, so a relink costs O(n log n) and a daemon with 1,000
 * services never scans the whole list per edge. */
#include "daemon/depgraph.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

static int cmp_entry(const void *a, const void *b)
{
    const sv_name_entry *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static void build_index(orch_supervisor *sv)
{
    free(sv->by_name);
    sv->by_name = xcalloc(sv->n_units, sizeof *sv->by_name);
    for (size_t i = 0; i < sv->n_units; i++)
        sv->by_name[i] = (sv_name_entry){sv->units[i]->spec.name, sv->units[i]};
    qsort(sv->by_name, sv->n_units, sizeof *sv->by_name, cmp_entry);
}

unit *dg_find(const orch_supervisor *sv, const char *name)
{
    if (!name || sv->n_units == 0)
        return NULL;
    sv_name_entry key = {name, NULL};
    sv_name_entry *e = bsearch(&key, sv->by_name, sv->n_units, sizeof key, cmp_entry);
    return e ? e->u : NULL;
}

static void push(unit ***v, size_t *n, size_t *cap, unit *u)
{
    xgrow((void **)v, cap, *n + 1, sizeof **v);
    (*v)[(*n)++] = u;
}

static void link_unit(orch_supervisor *sv, unit *u)
{
    u->n_req = u->spec.requires.n;
    u->req = xcalloc(u->n_req, sizeof *u->req);
    for (size_t i = 0; i < u->n_req; i++) {
        unit *d = dg_find(sv, u->spec.requires.v[i].s);
        u->req[i] = d;
        if (d)
            push(&d->rdeps, &d->n_rdeps, &d->cap_rdeps, u);
    }
    u->aft = xcalloc(u->spec.after.n, sizeof *u->aft);
    u->n_aft = 0;
    for (size_t i = 0; i < u->spec.after.n; i++) {
        unit *d = dg_find(sv, u->spec.after.v[i].s);
        if (!d)
            continue; /* AFTER may name a service that does not exist */
        u->aft[u->n_aft++] = d;
        push(&d->adeps, &d->n_adeps, &d->cap_adeps, u);
    }
}

void dg_relink(orch_supervisor *sv)
{
    build_index(sv);
    for (size_t i = 0; i < sv->n_units; i++) {
        unit *u = sv->units[i];
        free(u->req);
        free(u->aft);
        u->req = u->aft = NULL;
        u->n_req = u->n_aft = u->n_rdeps = u->n_adeps = 0;
    }
    for (size_t i = 0; i < sv->n_units; i++)
        link_unit(sv, sv->units[i]);
}

unsigned dg_new_mark(orch_supervisor *sv)
{
    if (++sv->mark_gen == 0) { /* wrapped: old marks could collide */
        for (size_t i = 0; i < sv->n_units; i++)
            sv->units[i]->mark = 0;
        sv->mark_gen = 1;
    }
    return sv->mark_gen;
}

void dg_mark_requirers(orch_supervisor *sv, unit *const *seeds, size_t n, unsigned mark)
{
    /* Explicit stack: a chain of 1,000 services must not recurse 1,000 deep. */
    unit **stack = xcalloc(sv->n_units + 1, sizeof *stack);
    size_t top = 0;
    for (size_t i = 0; i < n; i++) {
        if (seeds[i]->mark == mark)
            continue;
        seeds[i]->mark = mark;
        stack[top++] = seeds[i];
        while (top > 0) {
            unit *u = stack[--top];
            for (size_t j = 0; j < u->n_rdeps; j++) {
                unit *r = u->rdeps[j];
                if (r->mark != mark) {
                    r->mark = mark;
                    stack[top++] = r;
                }
            }
        }
    }
    free(stack);
}

typedef struct model_entry {
    const char *name;
    size_t index;
} model_entry;

static int cmp_model_entry(const void *a, const void *b)
{
    return strcmp(((const model_entry *)a)->name, ((const model_entry *)b)->name);
}

void dg_model_requires_closure(const orch_model *m, bool *selected)
{
    size_t n = m->n_services;
    if (n == 0)
        return;
    model_entry *index = xcalloc(n, sizeof *index);
    for (size_t i = 0; i < n; i++)
        index[i] = (model_entry){m->services[i].name, i};
    qsort(index, n, sizeof *index, cmp_model_entry);
    size_t *stack = xcalloc(n, sizeof *stack);
    size_t top = 0;
    for (size_t i = 0; i < n; i++)
        if (selected[i])
            stack[top++] = i;
    while (top > 0) {
        const orch_service *s = &m->services[stack[--top]];
        for (size_t j = 0; j < s->requires.n; j++) {
            model_entry key = {s->requires.v[j].s, 0};
            model_entry *e = bsearch(&key, index, n, sizeof key, cmp_model_entry);
            if (e && !selected[e->index]) {
                selected[e->index] = true;
                stack[top++] = e->index;
            }
        }
    }
    free(stack);
    free(index);
}

static char *required_failure(const unit *u, size_t i)
{
    const unit *d = u->req[i];
    const char *name = u->spec.requires.v[i].s;
    if (!d)
        return xasprintf("REQUIRES %s, which does not exist", name);
    if (d->state == ORCH_ST_STOPPED)
        return xasprintf("REQUIRES %s, which is stopped", name);
    if (d->error)
        return xasprintf("REQUIRES %s, which failed: %s", name, d->error);
    return xasprintf("REQUIRES %s, which is %s", name, orch_state_name(d->state));
}

dg_verdict dg_check_deps(const unit *u, char **why, const unit **blocker)
{
    *blocker = NULL;
    bool wait = false;
    for (size_t i = 0; i < u->n_req; i++) {
        const unit *d = u->req[i];
        if (!d || unit_has_given_up(d)) {
            *why = required_failure(u, i);
            return DG_FAILED;
        }
        if (!unit_is_satisfied(d) && !wait) {
            wait = true;
            *blocker = d;
        }
    }
    if (wait)
        return DG_WAIT;
    if (u->ignore_after)
        return DG_START;
    for (size_t i = 0; i < u->n_aft; i++) {
        const unit *d = u->aft[i];
        if (d->wanted && !unit_is_settled(d))
            return DG_WAIT;
    }
    return DG_START;
}

static bool is_being_stopped(const unit *d)
{
    return (d->stop_requested || d->state == ORCH_ST_STOPPING) && unit_has_process(d);
}

bool dg_dependents_still_stopping(const unit *u)
{
    for (size_t i = 0; i < u->n_rdeps; i++)
        if (is_being_stopped(u->rdeps[i]))
            return true;
    for (size_t i = 0; i < u->n_adeps; i++)
        if (is_being_stopped(u->adeps[i]))
            return true;
    return false;
}
