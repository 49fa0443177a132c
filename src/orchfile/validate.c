/* Constraints C1-C4 on the merged model (ORCHFILE.md). */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "common/strmap.h"
#include "orchfile/apply.h"

static void check_mode(const orch_service *s, orch_diags *d)
{
    static const orch_field container_only[] = {ORCH_F_ENTRYPOINT, ORCH_F_CMD, ORCH_F_PUBLISH,
                                                ORCH_F_VOLUME};
    /* C3 names USER, STOP and RELOAD; orchd runs a container's STOP and
     * RELOAD inside it (the runtime's exec: docs/CONTAINERD.md, "Helper
     * commands"), so only USER stays host-only. */
    static const orch_field host_only[] = {ORCH_F_USER};
    orch_mode mode = orch_service_mode(s);
    if (mode == ORCH_MODE_NONE) {
        orch_diag_error(d, s->at, "service %s has neither FROM nor RUN (C1: give exactly one)",
                   s->name);
        return;
    }
    if (mode == ORCH_MODE_HOST) {
        for (size_t i = 0; i < sizeof container_only / sizeof *container_only; i++) {
            orch_field f = container_only[i];
            if (s->set & ORCH_BIT(f))
                orch_diag_error(d, s->field_at[f],
                           "%s is for container services (C2): service %s runs on the host "
                           "(RUN)", orch_field_keyword(f), s->name);
        }
    } else {
        for (size_t i = 0; i < sizeof host_only / sizeof *host_only; i++) {
            orch_field f = host_only[i];
            if (s->set & ORCH_BIT(f))
                orch_diag_error(d, s->field_at[f],
                           "%s is for host services (C3): service %s is a container (FROM)",
                           orch_field_keyword(f), s->name);
        }
    }
}

static void check_requires_exist(const orch_strmap *index, const orch_service *s, orch_diags *d)
{
    size_t unused;
    for (size_t i = 0; i < s->requires.n; i++)
        if (!orch_strmap_get(index, s->requires.v[i].s, &unused))
            orch_diag_error(d, s->requires.v[i].at,
                       "service %s REQUIRES %s, which is not defined", s->name,
                       s->requires.v[i].s);
}

/* Depth-first search over REQUIRES and AFTER edges (AFTER only to services
 * that exist). A back edge closes a cycle; the path on the stack names it. */
enum { WHITE, GREY, BLACK };

/* A service on the current path and how many of its edges (REQUIRES, then
 * AFTER) have been followed. The search keeps its own stack of these rather
 * than recursing, so a long dependency chain cannot exhaust the C stack. */
typedef struct frame {
    size_t service;
    size_t edge;
} frame;

typedef struct dfs {
    const orch_model *m;
    const orch_strmap *index;
    orch_diags *d;
    int *color;
    frame *stack; /* each service is on it at most once: n_services frames */
    size_t *pos;  /* where a GREY service is on the stack */
    size_t depth;
} dfs;

static void report_cycle(dfs *g, size_t to, orch_origin at)
{
    if (!orch_diags_room(g->d)) { /* counted only: skip building the path */
        orch_diags_drop(g->d, ORCH_DIAG_ERROR);
        return;
    }
    size_t start = g->pos[to];
    size_t len = 0;
    for (size_t i = start; i < g->depth; i++)
        len += strlen(g->m->services[g->stack[i].service].name) + 4;
    len += strlen(g->m->services[to].name) + 1;
    /* Appended at an end pointer: strcat would rescan the path each time,
     * quadratic in a long cycle. */
    char *path = xmalloc(len), *end = path;
    for (size_t i = start; i < g->depth; i++)
        end = stpcpy(stpcpy(end, g->m->services[g->stack[i].service].name), " -> ");
    stpcpy(end, g->m->services[to].name);
    orch_diag_error(g->d, at, "dependency cycle (C4): %s", path);
    free(path);
}

/* The k-th edge of s, REQUIRES first, then AFTER; NULL past the last. */
static const orch_str *edge(const orch_service *s, size_t k)
{
    if (k < s->requires.n)
        return &s->requires.v[k];
    k -= s->requires.n;
    return k < s->after.n ? &s->after.v[k] : NULL;
}

static void push(dfs *g, size_t i)
{
    g->color[i] = GREY;
    g->pos[i] = g->depth;
    g->stack[g->depth++] = (frame){.service = i, .edge = 0};
}

static void visit(dfs *g, size_t root)
{
    push(g, root);
    while (g->depth > 0) {
        frame *f = &g->stack[g->depth - 1];
        const orch_str *e = edge(&g->m->services[f->service], f->edge++);
        if (!e) {
            g->color[f->service] = BLACK;
            g->depth--;
            continue;
        }
        size_t j;
        if (!orch_strmap_get(g->index, e->s, &j))
            continue; /* AFTER a service that does not exist */
        if (g->color[j] == GREY)
            report_cycle(g, j, e->at);
        else if (g->color[j] == WHITE)
            push(g, j);
    }
}

void orch_validate(const orch_model *m, orch_diags *d)
{
    orch_strmap index;
    orch_strmap_init(&index);
    for (size_t i = 0; i < m->n_services; i++)
        orch_strmap_put(&index, m->services[i].name, i);
    for (size_t i = 0; i < m->n_services; i++) {
        check_mode(&m->services[i], d);
        check_requires_exist(&index, &m->services[i], d);
    }
    dfs g = {.m = m, .index = &index, .d = d};
    g.color = xcalloc(m->n_services, sizeof *g.color);
    g.stack = xcalloc(m->n_services, sizeof *g.stack);
    g.pos = xcalloc(m->n_services, sizeof *g.pos);
    for (size_t i = 0; i < m->n_services; i++)
        if (g.color[i] == WHITE)
            visit(&g, i);
    free(g.color);
    free(g.stack);
    free(g.pos);
    orch_strmap_free(&index);
}
