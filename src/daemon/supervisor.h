/* The supervisor: one state machine per service, all on one libuv loop.
 * It owns the current model and converges the running services to it.
 *
 * States (survey shows them): waiting (for dependencies), starting, running,
 * ready (healthcheck passed), unhealthy (failing after it was ready),
 * backoff (waiting out RESTART_DELAY), exited (oneshot finished, with
 * code), failed (gave up), stopping, stopped. */
#ifndef ORCH_SUPERVISOR_H
#define ORCH_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>
#include <yajl/yajl_gen.h>

#include "orchfile/model.h"
#include "runtime/runtime.h"

typedef enum orch_state {
    ORCH_ST_WAITING,
    ORCH_ST_STARTING,
    ORCH_ST_RUNNING,
    ORCH_ST_READY,
    ORCH_ST_BACKOFF,
    ORCH_ST_EXITED,
    ORCH_ST_FAILED,
    ORCH_ST_STOPPING,
    ORCH_ST_STOPPED,
    ORCH_ST_UNHEALTHY, /* was ready, then SV_HEALTH_UNHEALTHY_AFTER probes failed in a row */
} orch_state;

const char *orch_state_name(orch_state st);

typedef struct orch_supervisor orch_supervisor;

/* ctx strings are copied. Host (RUN) services use orch_runtime_bare;
 * container (FROM) services the runtime set below. */
orch_supervisor *orch_supervisor_new(uv_loop_t *loop, const orch_env_ctx *ctx);
/* Stops nothing; call orch_supervisor_stop first (and wait for its done).
 * Frees everything; its uv handles are closed, so run the loop once more
 * (uv_run) before uv_loop_close. May be called from a done/settled
 * callback. An instance still alive is left running, detached. */
void orch_supervisor_free(orch_supervisor *sv);

/* Installs the runtime used for container (FROM) services; until then they
 * fail with "no container runtime". */
void orch_supervisor_set_container_runtime(orch_supervisor *sv, const orch_runtime_ops *ops);

/* Replaces the runtime used for host (RUN) services (NULL: back to
 * orch_runtime_bare). Tests install a fake here. */
void orch_supervisor_set_host_runtime(orch_supervisor *sv, const orch_runtime_ops *ops);

/* Converges to model (builtins such as ${ORCH_PROJECT} and ${SERVICE_NAME}
 * are expanded here). With no names: every service not DISABLED, and what
 * it REQUIRES, is wanted. With names: those services (even if DISABLED) and
 * everything they REQUIRE, transitively, are wanted, and the other services
 * keep whatever they are doing (with the spec they run). Services that left
 * the model are stopped and dropped; wanted services whose resolved spec
 * changed are restarted; unchanged running services are not touched (same
 * pid); wanted services that had failed or stopped start again.
 * Returns 0 and takes the model's contents (*model is left empty; the
 * struct itself stays the caller's). Returns -1 with *err (malloc'ed) when
 * a name is unknown: then nothing changes and the caller still owns model. */
int orch_supervisor_apply(orch_supervisor *sv, orch_model *model, const char *const *names,
                          size_t n_names, char **err);

/* Calls cb once every named service (all wanted ones when n_names == 0) has
 * settled: running (no healthcheck), ready, exited (oneshot), failed, or
 * stopped. cb runs from the loop, never inside this call. ok is false when
 * any of them failed (or a oneshot exited non-zero, or a name is unknown);
 * report is a malloc'ed text, one line per failure ("service web: failed:
 * REQUIRES db, which failed: exited with code 3"), NULL when ok; cb frees
 * it. */
typedef void (*orch_settled_cb)(void *arg, bool ok, char *report);
void orch_supervisor_when_settled(orch_supervisor *sv, const char *const *names,
                                  size_t n_names, orch_settled_cb cb, void *arg);

/* Stops the named services (all when n_names == 0) and whatever REQUIRES
 * them, in reverse dependency order: STOP command if given else SIGTERM to
 * the process group; SIGKILL after TIMEOUT_STOP. Stopped services are no
 * longer wanted (they do not restart). done runs when all have stopped. */
int orch_supervisor_stop(orch_supervisor *sv, const char *const *names, size_t n_names,
                         void (*done)(void *arg), void *arg, char **err);
/* For the daemon's exit, after a stop of every service is done: each
 * runtime lets go of what it kept for later starts (ops->shutdown). */
void orch_supervisor_shutdown_runtimes(orch_supervisor *sv);
/* Gives up waiting for the stop made with arg (its done never runs; the
 * services go on stopping). Returns the services not stopped yet, as
 * "web (stopping; containerd not reachable), db (stopping)" (malloc'ed), or
 * NULL when there is no such stop or all had stopped. */
char *orch_supervisor_stop_abandon(orch_supervisor *sv, void *arg);
/* The largest TIMEOUT_STOP of any service, in seconds. */
uint32_t orch_supervisor_max_timeout_stop(const orch_supervisor *sv);

/* grow --rerun: the ONESHOT name runs again (its record of success is
 * dropped); what REQUIRES it and runs restarts once it succeeded. Unknown
 * names and services that are not oneshots are ignored (the caller checks). */
void orch_supervisor_rerun(orch_supervisor *sv, const char *name);

/* Runs the service's RELOAD command (or sends SIGHUP when it has none). */
int orch_supervisor_reload(orch_supervisor *sv, const char *name, char **err);

/* Writes the survey as a JSON array into g: one object per service with
 * service, runtime, state, pid, restarts, exit_code (null unless known),
 * uptime (seconds, null unless running/ready), since (unix time of the last
 * state change), error (last failure reason, or null), log (path). */
void orch_supervisor_survey(orch_supervisor *sv, yajl_gen g);

/* The log path of a service, or NULL if unknown. Borrowed. */
const char *orch_supervisor_log_path(orch_supervisor *sv, const char *name);

/* Optional observer for state changes (PID-1 mode prints them on the
 * console). detail is a reason or a pid, or NULL; borrowed. The observer
 * runs inside the state machine: it must not call into the supervisor. */
typedef void (*orch_state_observer)(void *arg, const char *service, orch_state st,
                                    const char *detail);
void orch_supervisor_observe(orch_supervisor *sv, orch_state_observer fn, void *arg);

#endif
