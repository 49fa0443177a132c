/* Resolving an image's user ("name", "uid", "name:group", "uid:gid",
 * "uid:group", "name:gid") against the /etc/passwd and /etc/group of the
 * container's root filesystem, the way Docker and runc do (docs/OCI-SPEC.md):
 *
 *  - NULL or "" means root: as "0".
 *  - A numeric uid (0-2147483647, runc's limit) needs no passwd entry: when
 *    /etc/passwd has one, its gid is the primary group, otherwise gid 0.
 *  - A name must exist in /etc/passwd; its uid and gid come from there.
 *  - ":group" sets the primary group: a number as is, a name looked up in
 *    /etc/group (it must exist).
 *  - Supplementary groups (additional gids) only when no group was given:
 *    every /etc/group entry that lists the user's name as a member, in file
 *    order, without the primary gid and without duplicates.
 *
 * Pure: the caller reads the files (contents are NUL-terminated text; NULL
 * when the image has no such file). Malformed lines are skipped, as libc's
 * getpwent does. */
#ifndef ORCH_CTD_USER_H
#define ORCH_CTD_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns 0 and sets *uid, *gid and *additional_gids (malloc'ed, n entries;
 * NULL when n is 0), or -1 with *err (malloc'ed) such as "user 'app' not
 * found in the image's /etc/passwd". additional_gids and n may both be NULL
 * when the caller does not want them. */
int ctd_resolve_user(const char *etc_passwd, const char *etc_group, const char *user_spec,
                     uint32_t *uid, uint32_t *gid, uint32_t **additional_gids, size_t *n,
                     char **err);

/* True when resolving user_spec cannot succeed without the rootfs' files
 * because it names a user or group. (A numeric uid resolves without them
 * but picks up its gid and groups from them, so read them when you can.) */
bool ctd_user_needs_files(const char *user_spec);

#endif
