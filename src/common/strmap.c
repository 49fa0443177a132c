#include "common/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void orch_strmap_init(orch_strmap *m)
{
    memset(m, 0, sizeof *m);
}

void orch_strmap_free(orch_strmap *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

static size_t slot(const orch_strmap *m, const char *key)
{
    size_t i = (size_t)hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void grow(orch_strmap *m)
{
    orch_strmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 16;
    m->keys = xcalloc(m->cap, sizeof *m->keys);
    m->values = xcalloc(m->cap, sizeof *m->values);
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i])
            orch_strmap_put(m, old.keys[i], old.values[i]);
    free(old.keys);
    free(old.values);
}

void orch_strmap_put(orch_strmap *m, const char *key, size_t value)
{
    if ((m->n + 1) * 2 > m->cap)
        grow(m);
    size_t i = slot(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->n++;
    }
    m->values[i] = value;
}

int orch_strmap_get(const orch_strmap *m, const char *key, size_t *value)
{
    if (m->cap == 0)
        return 0;
    size_t i = slot(m, key);
    if (!m->keys[i])
        return 0;
    *value = m->values[i];
    return 1;
}
