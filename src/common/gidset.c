#include "common/gidset.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

static size_t slot_of(uint32_t gid, size_t n_slots)
{
    /* Fibonacci hashing: consecutive gids spread over the table */
    return (size_t)((gid * 2654435769u) & (uint32_t)(n_slots - 1));
}

static void rehash(orch_gidset *s, size_t n_slots)
{
    free(s->slots);
    s->slots = xcalloc(n_slots, sizeof *s->slots);
    s->n_slots = n_slots;
    for (size_t i = 0; i < s->n; i++) {
        size_t k = slot_of(s->v[i], n_slots);
        while (s->slots[k])
            k = (k + 1) & (n_slots - 1);
        s->slots[k] = (uint32_t)(i + 1);
    }
}

bool orch_gidset_add(orch_gidset *s, uint32_t gid)
{
    if (s->n_slots < 2 * (s->n + 1))
        rehash(s, s->n_slots ? 2 * s->n_slots : 64);
    size_t k = slot_of(gid, s->n_slots);
    while (s->slots[k]) {
        if (s->v[s->slots[k] - 1] == gid)
            return false;
        k = (k + 1) & (s->n_slots - 1);
    }
    xgrow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v);
    s->v[s->n++] = gid;
    s->slots[k] = (uint32_t)s->n;
    return true;
}

uint32_t *orch_gidset_take(orch_gidset *s, size_t *n)
{
    uint32_t *v = s->n ? s->v : NULL;
    *n = s->n;
    if (!v)
        free(s->v);
    free(s->slots);
    memset(s, 0, sizeof *s);
    return v;
}

void orch_gidset_free(orch_gidset *s)
{
    free(s->v);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

size_t orch_ngroups_max(void)
{
    long n = sysconf(_SC_NGROUPS_MAX);
    return n > 0 ? (size_t)n : (size_t)NGROUPS_MAX;
}
