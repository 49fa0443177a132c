/* The container layer: one instance per start (container.c), helper
 * commands inside its task (exec.c), removals (purge.c), the OCI spec
 * (spec.h) and deep copies of services. Calls fetch/, store/, core/. */
#ifndef ORCH_CTD_CONTAINER_H
#define ORCH_CTD_CONTAINER_H

#include "containerd/core/core.h"

/* ---------------------------------------------------------------- purge */
/* Removes container id and everything of it: SIGKILL to its task, wait for
 * the exit, delete the task, the container and its snapshot (the container's
 * snapshotter and key, or snapshotter/id when there is no container record).
 * Only a container labelled with our namespace is touched unless force.
 * cb(arg, err) runs once at the end (err NULL on success); cb may be NULL. */
typedef void (*ctd_purge_cb)(void *arg, const orch_error *err);
void ctd_purge_start(ctd_rt *rt, const char *id, const char *snapshotter, bool force,
                     ctd_purge_cb cb, void *arg);
/* True while a purge of id runs; then `then(arg)` runs after it. */
bool ctd_purge_wait(ctd_rt *rt, const char *id, void (*then)(void *arg), void *arg);

/* ---------------------------------------------------------------- lifecycle */
orch_instance *ctd_instance_start(ctd_rt *rt, const orch_service *svc, const orch_env_ctx *ctx,
                                  orch_instance_cbs cbs, void *owner, char **err);
int ctd_instance_signal(orch_instance *inst, int sig);
void ctd_instance_release(orch_instance *inst, void (*done)(void *arg), void *arg);
/* True while an instance is undoing a failed start or tearing down: the
 * shutdown lets it finish before closing the connection. */
bool ctd_instances_busy(const ctd_rt *rt);
/* The exit code containerd reports -> a raw wait status. */
int ctd_wait_status(uint32_t exit_status);
/* The container id of a service. Malloc'ed. */
char *ctd_container_id(const char *ns, const char *service);

/* Dropped container output (logwatch.c): the log relay's status file of a
 * service, <state>/log-drops/<ns>.<service> (malloc'ed); the watch that
 * reports a full log disk once per service in orchd.log (started on the
 * first container start; state_dir copied); and the survey note for svc
 * ("disk full: 12 lines dropped"), malloc'ed or NULL. */
char *ctd_log_status_path(const char *state_dir, const char *ns, const char *service);
void ctd_logwatch_start(ctd_rt *rt, const char *state_dir);
void ctd_logwatch_stop(ctd_rt *rt);
char *ctd_log_note(const char *state_dir, const char *ns, const char *service);

/* What a helper command needs of an instance (pointers into it, valid
 * while it lives); returns false when its task is not running (any more). */
typedef struct ctd_exec_target {
    const char *id, *service;
    const char *spec_json; /* NULL: unknown */
    const char *stdout_uri, *stderr_uri;
} ctd_exec_target;
bool ctd_instance_exec_target(const orch_instance *inst, ctd_exec_target *t);

/* A helper command inside the instance's task (Tasks.Exec): exec.c. The
 * handle copies what it needs: the instance may go first. */
orch_exec *ctd_exec_start(ctd_rt *rt, orch_instance *inst, const char *command,
                          uint64_t timeout_ms, orch_exec_cb cb, void *owner, char **err);
void ctd_exec_cancel(orch_exec *x);
/* The module shuts down: every command still running is killed (its cb
 * reports that); the shutdown waits until rt->execs is empty. */
void ctd_exec_shutdown(ctd_rt *rt);

/* Deep copy of a service (origins' file names copied too: see svc_copy.c). */
typedef struct ctd_svc_copy {
    orch_service svc;
    char **files;
    size_t n_files;
} ctd_svc_copy;
void ctd_svc_copy_init(ctd_svc_copy *dst, const orch_service *src);
void ctd_svc_copy_free(ctd_svc_copy *c);

#endif
