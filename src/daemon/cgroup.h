/* One cgroup per host service: it carries the resource limits (MEMORY, CPUS,
 * CPU_QUOTA, TASKS_MAX, IO_WEIGHT) and lets orchd find and kill every process
 * of the service, even those that left its process group.
 *
 * Layout, below the cgroup orchd itself runs in (the root cgroup when orchd
 * is PID 1 or started from a plain shell):
 *   v2 (unified):  <own>/orchd/<namespace>/<service>
 *   v1:            /sys/fs/cgroup/<ctrl>/<own>/orchd/<namespace>/<service>
 *                  for ctrl in memory, cpu, pids, blkio (those mounted) */
#ifndef ORCH_CGROUP_H
#define ORCH_CGROUP_H

#include <stddef.h>

#include "orchfile/model.h"

#define ORCH_CGROUP_MAX 4 /* v1 hierarchies used; v2 uses one */

typedef struct orch_cgroup {
    size_t n;                         /* directories created */
    char *dir[ORCH_CGROUP_MAX];       /* .../orchd/<namespace>/<service> */
    char *procs[ORCH_CGROUP_MAX + 1]; /* their cgroup.procs, NULL-terminated:
                                         pass as orch_spawn_opts.cgroup_procs */
} orch_cgroup;

/* Creates the service's cgroup(s) and writes the limits svc asks for (svc may
 * be NULL: no limits). Returns 0 when at least one directory exists, else
 * -errno. *warning (malloc'ed, or NULL) says which requested limits could not
 * be applied and why; the caller logs it. No limits requested means no
 * warning, even when no cgroup could be created. */
int orch_cgroup_prepare(const char *ns, const char *service, const orch_service *svc,
                        orch_cgroup *out, char **warning);

/* The path of control file `name` (e.g. "memory.max", "pids.max") in
 * whichever of the directories has it; NULL if none (malloc'ed). */
char *orch_cgroup_file(const orch_cgroup *cg, const char *name);

/* Sends sig to every process listed in the cgroup(s). Returns how many were
 * signalled (0 when empty), or -errno when no cgroup.procs was readable. */
int orch_cgroup_kill_all(const orch_cgroup *cg, int sig);

/* Removes the directories (and the namespace and orchd parents once they are
 * empty). Kills nothing: returns -EBUSY while processes remain; call again
 * once they are gone. Removing what is already gone succeeds. */
int orch_cgroup_remove(const orch_cgroup *cg);

/* Frees the paths only; the directories stay. */
void orch_cgroup_free(orch_cgroup *cg);

#endif
