/* Opening a file with a service's identity instead of orchd's (root's).
 *
 * Linux keeps the filesystem uid/gid and the supplementary groups per
 * thread; only the libc wrappers of setuid/setgroups broadcast them to all
 * threads. orchd_fsid_enter switches the *calling thread* alone (setfsuid,
 * setfsgid and the raw setgroups system call), so the kernel decides every
 * open, mkdir and symlink walk exactly as it would for the service: orchd
 * can open only what the service itself could. orch_fsid_leave switches
 * back. Only root switches; any other daemon already is the only identity
 * it can give. Other threads (libuv's pool, gRPC's) are unaffected. */
#ifndef ORCH_FSID_H
#define ORCH_FSID_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct orch_fsid_saved {
    bool active;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    int n_groups;
} orch_fsid_saved;

/* Returns 0 (s->active tells whether anything was switched) or -1 with
 * errno when the switch could not be made (nothing is left switched). */
int orch_fsid_enter(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
                    orch_fsid_saved *s);
void orch_fsid_leave(orch_fsid_saved *s);

#endif
