/* A small string -> index map (open addressing, FNV-1a). Keys are borrowed:
 * they must outlive the map. Used to find services by name without O(n^2)
 * scans at 1,000 services. */
#ifndef ORCH_STRMAP_H
#define ORCH_STRMAP_H

#include <stddef.h>

typedef struct orch_strmap {
    const char **keys;
    size_t *values;
    size_t cap, n;
} orch_strmap;

void orch_strmap_init(orch_strmap *m);
void orch_strmap_free(orch_strmap *m);
/* Sets key -> value (replacing an existing value). */
void orch_strmap_put(orch_strmap *m, const char *key, size_t value);
/* Returns 1 and sets *value when key is present. */
int orch_strmap_get(const orch_strmap *m, const char *key, size_t *value);

#endif
