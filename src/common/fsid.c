#include "common/fsid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/xalloc.h"

/* glibc's setgroups() changes every thread (it is POSIX); the system call
 * itself changes only this one. */
static int thread_setgroups(size_t n, const gid_t *g)
{
    return (int)syscall(SYS_setgroups, n, g);
}

int orch_fsid_enter(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
                    orch_fsid_saved *s)
{
    memset(s, 0, sizeof *s);
    if (geteuid() != 0 || uid == 0)
        return 0;
    s->uid = geteuid();
    s->gid = getegid();
    int n = getgroups(0, NULL);
    if (n < 0)
        return -1;
    s->groups = xcalloc((size_t)n + 1, sizeof *s->groups);
    s->n_groups = getgroups(n, s->groups);
    if (s->n_groups < 0) {
        free(s->groups);
        s->groups = NULL;
        return -1;
    }
    s->active = true;
    if (thread_setgroups(n_groups, groups) != 0) {
        int e = errno;
        orch_fsid_leave(s);
        errno = e;
        return -1;
    }
    /* setfsgid/setfsuid return the previous value whether or not they
     * worked; asking again tells. */
    setfsgid(gid);
    setfsuid(uid);
    if ((gid_t)setfsgid(gid) != gid || (uid_t)setfsuid(uid) != uid) {
        orch_fsid_leave(s);
        errno = EPERM;
        return -1;
    }
    return 0;
}

void orch_fsid_leave(orch_fsid_saved *s)
{
    if (!s->active)
        return;
    setfsuid(s->uid); /* first: root's fs capabilities come back with it */
    setfsgid(s->gid);
    if (thread_setgroups((size_t)s->n_groups, s->groups) != 0)
        abort(); /* cannot happen as root; never go on with the wrong groups */
    free(s->groups);
    memset(s, 0, sizeof *s);
}
