/* A set of group ids that keeps insertion order, for collecting a user's
 * supplementary groups from a group database in one linear pass: adding is
 * O(1) on average (open addressing), where a search of the list for each
 * new gid made a large /etc/group quadratic. */
#ifndef ORCH_GIDSET_H
#define ORCH_GIDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct orch_gidset {
    uint32_t *v;     /* the gids, in the order they were first added */
    size_t n, cap;   /* v's length and allocation */
    uint32_t *slots; /* index into v plus one; 0 is empty */
    size_t n_slots;  /* a power of two, at least twice n */
} orch_gidset;

/* Adds gid unless present; returns true when it was new. */
bool orch_gidset_add(orch_gidset *s, uint32_t gid);

/* Hands over the gids (malloc'ed, NULL when none) and their count, and
 * empties the set. */
uint32_t *orch_gidset_take(orch_gidset *s, size_t *n);

void orch_gidset_free(orch_gidset *s);

/* How many supplementary groups a process may have: sysconf(_SC_NGROUPS_MAX),
 * or NGROUPS_MAX from <limits.h> when sysconf cannot say. setgroups(2) (and
 * so runc) refuses more. */
size_t orch_ngroups_max(void);

#endif
