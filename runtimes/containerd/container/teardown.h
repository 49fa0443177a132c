/* The one teardown sequence of a container, used by an instance's release
 * and its failed start (container.c) and by the removal of leftovers
 * (purge.c). In order, never deleting before the exit was seen
 * (docs/CONTAINERD.md):
 *
 *   Tasks.Kill SIGKILL, all   (a task whose exit was not seen)
 *   Tasks.Wait                (after a successful Kill, unless a Wait runs)
 *   Tasks.Delete              (a task)
 *   Containers.Delete         (a container record)
 *   Snapshots.Remove          (a snapshot)
 *
 * Every step has one deadline (teardown.c's table) and ends whatever the
 * answer: NOT_FOUND is fine, any other failure goes to hooks->note, so the
 * sequence always comes to hooks->done. */
#ifndef ORCH_CTD_TEARDOWN_H
#define ORCH_CTD_TEARDOWN_H

#include "containerd/core/core.h"

typedef struct ctd_teardown_hooks {
    /* A step failed: doing says which ("deleting its task"). */
    void (*note)(void *owner, const char *doing, grpc_status_code st, const char *details);
    /* Nothing is left to undo (the owner may free the teardown here). */
    void (*done)(void *owner);
    /* Around every call: keep the owner alive (both may be NULL). */
    void (*hold)(void *owner);
    void (*drop)(void *owner);
} ctd_teardown_hooks;

typedef struct ctd_teardown {
    ctd_rt *rt;
    const char *id;                         /* the container (borrowed) */
    const char *snapshotter, *snapshot_key; /* borrowed: what have_snapshot removes */
    /* what exists: each flag is cleared once its step answered */
    bool have_task, have_container, have_snapshot;
    bool exit_seen;     /* the task's exit was seen (or there is none) */
    bool kill_sent;     /* the Kill is out: its answer, or the Wait's, goes on */
    bool wait_inflight; /* a Wait runs: the owner's own, or the teardown's */
    const ctd_teardown_hooks *hooks;
    void *owner;
} ctd_teardown;

/* Takes the next step, or calls hooks->done when nothing is left. The
 * owner calls it again when its own Wait saw the exit (exit_seen set,
 * wait_inflight cleared). */
void ctd_teardown_step(ctd_teardown *t);

#endif
