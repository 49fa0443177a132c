/* USER for host services, resolved before fork (the child may not call
 * getpwnam: it is not async-signal-safe and may load NSS modules). */
#ifndef ORCH_BARE_USER_H
#define ORCH_BARE_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct orch_bare_user {
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary groups */
    size_t n_groups;
    char *name;  /* NULL for a numeric uid without a passwd entry */
    char *home;  /* "/" without a passwd entry */
    char *shell; /* NULL without a passwd entry */
} orch_bare_user;

/* spec is "name", "uid", "name:group" or "uid:gid"; NULL means the daemon's
 * own user. A name that does not exist is an error (*why, malloc'ed, e.g.
 * "USER 'bob' does not exist"). A numeric uid needs no passwd entry; without
 * one the gid defaults to the same number and there are no supplementary
 * groups. */
int orch_bare_user_resolve(const char *spec, orch_bare_user *u, char **why);
void orch_bare_user_free(orch_bare_user *u);

#endif
