/* Cgroups of released services, kept (empty) for a while for the next start
 * of the same service. A restart into the cgroup the service had is faster
 * than one into a cgroup made again (kill to exec 0.89 ms against 1.01 ms,
 * same run; 0.82 ms with no cgroups at all: bench/RESULTS.md), and most
 * restarts come within RESTART_DELAY (default 1 s) of the release. A parked
 * cgroup that no start takes back is removed ORCH_CGROUP_PARK_MS after it
 * was parked, and every one is removed at orch_cgroup_park_flush (the
 * daemon's exit). At most ORCH_CGROUP_PARK_MAX are kept: beyond that the
 * oldest is removed at once. */
#ifndef ORCH_CGROUP_PARK_H
#define ORCH_CGROUP_PARK_H

#include <stdbool.h>
#include <uv.h>

#include "bare/cgroup.h"

#define ORCH_CGROUP_PARK_MS 3000
#define ORCH_CGROUP_PARK_MAX 256

/* Keeps cg's directories (cg must be empty: no process in any of them) and
 * takes its paths over; *cg is left empty. The timer that removes them runs
 * on loop. */
void orch_cgroup_park(uv_loop_t *loop, orch_cgroup *cg);

/* A start prepared cg: when its tracking directory was parked, it is in use
 * again; parked limit directories that cg no longer uses are removed.
 * Returns whether it was parked (then no process is in it). */
bool orch_cgroup_unpark(const orch_cgroup *cg);

/* Removes every parked cgroup now and closes the timer; from then on a
 * cgroup handed to orch_cgroup_park is removed at once. */
void orch_cgroup_park_flush(void);

/* How many are parked (tests). */
size_t orch_cgroup_parked(void);

#endif
