/* A cgroup per host service: it lets orchd find and kill every process of
 * the service, even those that left its process group, and carries the
 * resource limits (MEMORY, CPUS, CPU_QUOTA, TASKS_MAX, IO_WEIGHT).
 *
 * Every service is tracked in ONE hierarchy, the cheapest there is: the
 * cgroup2 hierarchy when one is mounted (pure v2 at /sys/fs/cgroup, or the
 * hybrid layout's /sys/fs/cgroup/unified), where a child can be started
 * directly inside its cgroup (clone3 CLONE_INTO_CGROUP: no migration); else
 * the v1 pids hierarchy; else the first writable one of memory, cpu, blkio.
 * Other (v1) hierarchies are joined only for a limit that lives there:
 * MEMORY -> memory, CPUS/CPU_QUOTA -> cpu, TASKS_MAX -> pids,
 * IO_WEIGHT -> blkio. Each is a directory below the cgroup orchd itself runs
 * in (the root when orchd is PID 1 or started from a plain shell):
 *   <mount>/<own>/orchd/<namespace>/<service> */
#ifndef ORCH_CGROUP_H
#define ORCH_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "orchfile/model.h"

#define ORCH_CGROUP_MAX 5 /* the tracking hierarchy + memory, cpu, pids, blkio */

typedef struct orch_cgroup {
    size_t n;                         /* directories created */
    char *dir[ORCH_CGROUP_MAX];       /* .../orchd/<namespace>/<service>; dir[0]
                                         is the tracking cgroup, the others the
                                         limits' v1 hierarchies */
    char *procs[ORCH_CGROUP_MAX + 1]; /* their cgroup.procs, NULL-terminated */
    bool v2;                          /* dir[0] is in a cgroup2 hierarchy */
    bool fresh;                       /* dir[0] was created by this prepare, so
                                         no process can be in it yet */
} orch_cgroup;

/* Creates the service's cgroup(s) and writes the limits svc asks for (svc may
 * be NULL: no limits). Returns 0 when at least one directory exists, else
 * -errno. *warning (malloc'ed, or NULL) says which requested limits could not
 * be applied and why; the caller logs it. No limits requested means no
 * warning, even when no cgroup could be created. */
int orch_cgroup_prepare(const char *ns, const char *service, const orch_service *svc,
                        orch_cgroup *out, char **warning);

/* How a child is put into cg, for orch_spawn_opts: *into is the cgroup2
 * directory to start it in (NULL: none), *procs the cgroup.procs files it
 * still has to join (NULL: none). Both point into cg. */
void orch_cgroup_spawn_targets(const orch_cgroup *cg, const char **into,
                               const char *const **procs);

/* The path of control file `name` (e.g. "memory.max", "pids.max") in
 * whichever of the directories has it; NULL if none (malloc'ed). */
char *orch_cgroup_file(const orch_cgroup *cg, const char *name);

/* Sends sig to every process listed in the cgroup(s). Returns how many were
 * signalled (0 when empty), or -errno when no cgroup.procs was readable. */
int orch_cgroup_kill_all(const orch_cgroup *cg, int sig);

/* pid is listed in the tracking cgroup's cgroup.procs. */
bool orch_cgroup_has_pid(const orch_cgroup *cg, pid_t pid);

/* Removes the directories (and the namespace and orchd parents once they are
 * empty). Kills nothing: returns -EBUSY while processes remain; call again
 * once they are gone. Removing what is already gone succeeds. */
int orch_cgroup_remove(const orch_cgroup *cg);

/* Removes only the limit directories (dir[1..]), and their parents once
 * empty; dir[0] stays. Kills nothing; -EBUSY while one is in use. For a
 * release whose tracking cgroup a new instance has taken over: that
 * instance's processes keep every directory it uses busy. */
int orch_cgroup_remove_limit_dirs(const orch_cgroup *cg);

/* Frees the paths only; the directories stay. */
void orch_cgroup_free(orch_cgroup *cg);

#endif
