/* A shim bundle containerd forgot (docs/CONTAINERD.md, "Crashes and
 * outages"): when a daemon dies while containerd creates one of its tasks,
 * containerd 1.6 can drop the task record while the shim it started stays
 * alive, idle, in its bundle directory
 * <state>/io.containerd.runtime.v2.task/<ns>/<id>. Every later Tasks.Create
 * of that id then fails at mkdir(bundle) ("file exists") until containerd
 * restarts, and no API call removes it. This finds such a bundle, kills its
 * shim and removes it, so the next Tasks.Create can succeed.
 *
 * Only for a container id of orchd's own namespace that containerd says has
 * no task (Tasks.Delete answered NOT_FOUND). */
#ifndef CTD_STALE_BUNDLE_H
#define CTD_STALE_BUNDLE_H

#include "containerd/core/core.h"

typedef enum ctd_stale_result {
    CTD_STALE_NONE,    /* no bundle for the id */
    CTD_STALE_CLEANED, /* an abandoned bundle (and its shim) removed */
    CTD_STALE_BUSY,    /* a bundle not (yet) abandoned: left alone, try later */
    CTD_STALE_ERROR,   /* could not be examined or removed safely */
} ctd_stale_result;

/* The work itself, blocking (kills, waits up to 5 s for a shim to die,
 * removes trees): off the loop thread. state_dir and root_dir are
 * containerd's (ORCH_CONTAINERD_STATE, ORCH_CONTAINERD_ROOT); ns and id are
 * single path components. *msg (malloc'ed, may be NULL for NONE) says what
 * was found and done, naming the paths and pids. */
ctd_stale_result ctd_stale_bundle_clean(const char *state_dir, const char *root_dir, const char *ns,
                                        const char *id, char **msg);

/* The same on libuv's thread pool; done runs on the loop thread. While one
 * runs, rt->stale_jobs counts it (the module's shutdown waits for it). */
typedef void (*ctd_stale_done)(void *arg, ctd_stale_result r, const char *msg);
void ctd_stale_bundle_start(ctd_rt *rt, const char *id, ctd_stale_done done, void *arg);

#endif
