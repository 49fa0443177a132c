/* Constraints C1-C4 on the merged model (ORCHFILE.md). */
#include <stdlib.h>
#include <string.h>

#include "../util/xalloc.h"
#include "../util/strmap.h"
#include "apply.h"

static void check_mode(const orch_service *s, orch_diags *d)
{
    static const orch_field container_only[] = {ORCH_F_ENTRYPOINT, ORCH_F_CMD, ORCH_F_PUBLISH,
                                                ORCH_F_VOLUME};
    static const orch_field host_only[] = {ORCH_F_USER, ORCH_F_STOP, ORCH_F_RELOAD};
    orch_mode mode = orch_service_mode(s);
    if (mode == ORCH_MODE_NONE) {
        orch_error(d, s->at, "service %s has neither FROM nor RUN (C1: give exactly one)",
                   s->name);
        return;
    }
    if (mode == ORCH_MODE_HOST) {
        for (size_t i = 0; i < sizeof container_only / sizeof *container_only; i++) {
            orch_field f = container_only[i];
            if (s->set & ORCH_BIT(f))
                orch_error(d, s->field_at[f],
                           "%s is for container services (C2): service %s runs on the host "
                           "(RUN)", orch_field_keyword(f), s->name);
        }
    } else {
        for (size_t i = 0; i < sizeof host_only / sizeof *host_only; i++) {
            orch_field f = host_only[i];
            if (s->set & ORCH_BIT(f))
                orch_error(d, s->field_at[f],
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
            orch_error(d, s->requires.v[i].at,
                       "service %s REQUIRES %s, which is not defined", s->name,
                       s->requires.v[i].s);
}

/* Depth-first search over REQUIRES and AFTER edges (AFTER only to services
 * that exist). A back edge closes a cycle; the path on the stack names it. */
enum { WHITE, GREY, BLACK };

typedef struct dfs {
    const orch_model *m;
    const orch_strmap *index;
    orch_diags *d;
    int *color;
    size_t *stack;
    size_t depth;
} dfs;

static void report_cycle(dfs *g, size_t to, orch_origin at)
{
    size_t start = 0;
    while (g->stack[start] != to)
        start++;
    size_t len = 0;
    for (size_t i = start; i < g->depth; i++)
        len += strlen(g->m->services[g->stack[i]].name) + 4;
    len += strlen(g->m->services[to].name) + 1;
    char *path = xmalloc(len);
    path[0] = '\0';
    for (size_t i = start; i < g->depth; i++) {
        strcat(path, g->m->services[g->stack[i]].name);
        strcat(path, " -> ");
    }
    strcat(path, g->m->services[to].name);
    orch_error(g->d, at, "dependency cycle (C4): %s", path);
    free(path);
}

static void visit(dfs *g, size_t i);

static void follow(dfs *g, const orch_strv *edges)
{
    for (size_t k = 0; k < edges->n; k++) {
        size_t j;
        if (!orch_strmap_get(g->index, edges->v[k].s, &j))
            continue;
        if (g->color[j] == GREY)
            report_cycle(g, j, edges->v[k].at);
        else if (g->color[j] == WHITE)
            visit(g, j);
    }
}

static void visit(dfs *g, size_t i)
{
    const orch_service *s = &g->m->services[i];
    g->color[i] = GREY;
    g->stack[g->depth++] = i;
    follow(g, &s->requires);
    follow(g, &s->after);
    g->depth--;
    g->color[i] = BLACK;
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
    for (size_t i = 0; i < m->n_services; i++)
        if (g.color[i] == WHITE)
            visit(&g, i);
    free(g.color);
    free(g.stack);
    orch_strmap_free(&index);
}
