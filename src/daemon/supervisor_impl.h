/* The supervisor's insides, shared by supervisor*.c and depgraph.c. Nothing
 * outside src/daemon/supervisor*.c and depgraph.c includes this.
 *
 * One `unit` per service. All state changes happen on the loop thread. Work
 * that depends on other units (starting once dependencies allow, stopping in
 * reverse dependency order, dropping removed services, completing stop and
 * settle requests) is done in one "pass" over all units, scheduled on the
 * next loop iteration whenever a state changes (sv_schedule_pass). Nothing
 * runs while nothing changes: an idle supervisor has no active timer except
 * the health-check ticks of services that have a HEALTHCHECK. */
#ifndef ORCH_SUPERVISOR_IMPL_H
#define ORCH_SUPERVISOR_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "daemon/health.h"
#include "daemon/supervisor.h"

/* Health probes: every second until the first pass, then every two seconds;
 * this many failures in a row after being ready make it `unhealthy` (and,
 * under RESTART always/on-failure, restart it). */
#define SV_HEALTH_STARTING_MS 1000
#define SV_HEALTH_READY_MS 2000
#define SV_HEALTH_UNHEALTHY_AFTER 3
/* A start that failed for a passing cause (a transient orch_error: out of file
 * descriptors) is retried after 1 s, doubling up to this. */
#define SV_TRANSIENT_RETRY_MAX_MS 30000

typedef struct unit unit;
typedef void (*unit_timer_fn)(unit *u);

struct unit {
    orch_supervisor *sv; /* NULL once orphaned by orch_supervisor_free */
    orch_service spec;   /* builtins expanded; spec.name is the unit's name */
    char *spec_json;     /* change detection; NULL if it could not be made */
    orch_service *next_spec; /* replaces spec once the current instance is gone */
    char *next_json;
    char *log_path;

    orch_state state;
    bool wanted;         /* should run (or have run, for a oneshot) */
    bool stop_requested; /* part of a stop: waits for its dependents, then stops */
    bool removed;        /* left the model: dropped once quiet */
    bool dropping;       /* being dropped by sv_pass_stops, this sweep */
    bool stop_on_start;  /* a stop came while starting: stop once started */
    bool restart_pending; /* the next start is an automatic restart */
    bool was_ready;      /* the healthcheck passed since the last start */
    bool ignore_after;   /* AFTER waits timed out: start regardless */
    char *start_failure; /* killed because it did not become ready: why */
    bool adoption_tried; /* asked ops->adopt (only the first start does) */
    bool adopted;        /* the instance was left by a previous orchd */
    unsigned transient_failures; /* starts in a row that failed for a passing cause */

    /* The instance: from ops->start until its release is done. */
    const orch_runtime_ops *ops;
    orch_instance *inst;
    pid_t pid;       /* > 0 between started and exited */
    bool releasing;

    orch_exec *stop_exec;   /* STOP command in flight (ops->exec) */
    orch_exec *reload_exec; /* RELOAD command in flight */

    /* Identity (supervisor_identity.c): of the spec it runs or will run
     * (NULL: unknown, or id_req still asking), and of the last start. */
    char *identity;
    char *ran_identity;
    struct sv_identity_req *id_req;
    uint64_t run_seq;  /* sv->start_seq at its last start */
    bool rerun_asked;  /* grow --rerun: the oneshot's record does not count */

    orch_health *health;
    unsigned health_failures;
    char *health_detail; /* the last failed probe's reason */

    uv_timer_t *timer; /* allocated on first use; one purpose at a time */
    unit_timer_fn timer_fn;

    uint64_t *starts; /* uv_now() of the starts inside the limit window */
    size_t n_starts, cap_starts;
    unsigned restarts;
    bool has_exit;
    int exit_status; /* raw wait status of the last exit */
    char *error;     /* last failure reason */
    uint64_t since_ms; /* uv_now() of the last state change */
    time_t since_wall;
    uint64_t up_since_ms; /* uv_now() when the process started */
    uint64_t wait_since_ms;

    /* Dependency links (depgraph.c), rebuilt by dg_relink. */
    unit **req; /* parallel to spec.requires; NULL where no such unit */
    size_t n_req;
    unit **aft; /* AFTER targets that exist */
    size_t n_aft;
    unit **rdeps; /* units that REQUIRE this one */
    size_t n_rdeps, cap_rdeps;
    unit **adeps; /* units that are AFTER this one */
    size_t n_adeps, cap_adeps;
    unsigned mark; /* scratch for graph walks */
};

typedef struct sv_stop_op {
    struct sv_stop_op *next;
    unit **units; /* NULL entries: dropped meanwhile */
    size_t n_units;
    void (*done)(void *arg);
    void *arg;
} sv_stop_op;

typedef struct sv_waiter {
    struct sv_waiter *next;
    unit **units;
    size_t n_units;
    size_t next_check; /* units before it were settled when last looked at */
    char *unknown; /* "no service named X" lines, reported as failures */
    orch_settled_cb cb;
    void *arg;
} sv_waiter;

typedef struct sv_name_entry {
    const char *name;
    unit *u;
} sv_name_entry;

struct orch_supervisor {
    uv_loop_t *loop;
    orch_env_ctx ctx; /* points at the copies below */
    char *state_dir, *data_dir, *project_dir, *namespace_, *port_offset;
    const orch_runtime_ops *host_ops;
    const orch_runtime_ops *container_ops;

    unit **units; /* model order */
    size_t n_units, cap_units;
    sv_name_entry *by_name; /* sorted by name, rebuilt by dg_relink */
    unsigned mark_gen;
    uint64_t start_seq; /* counts starts: which ran before which */

    uv_idle_t *pass_idle;
    bool pass_scheduled;
    /* At least the number of units in `waiting` (never fewer): the pass
     * looks at the units only when some may wait, so the passes of a start
     * of N cost O(N) in all, not O(N) each. */
    size_t n_waiting;
    sv_stop_op *stops;
    sv_waiter *waiters;
    /* Set whenever a unit gets stop_requested or removed; the pass looks
     * for such units only while it is set (cleared when none is left), so
     * a pass without a stop in progress costs nothing per unit. */
    bool stops_pending;

    orch_state_observer observer;
    void *observer_arg;

    int depth;  /* > 0 while calling out to a caller's callback */
    bool dying; /* orch_supervisor_free called from inside such a callback */
};

/* supervisor.c: the per-unit state machine and the pass. */
void sv_schedule_pass(orch_supervisor *sv);
void unit_evaluate_wait(unit *u);
void unit_enter_waiting(unit *u);
void unit_begin_stop(unit *u);

/* supervisor_unit.c: a unit's small parts. */
void unit_set_state(unit *u, orch_state st, const char *detail);
void unit_fail(unit *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void unit_set_error(unit *u, const char *reason);
void unit_timer_start(unit *u, uint64_t ms, unit_timer_fn fn);
void unit_timer_stop(unit *u);
void unit_timer_close(unit *u);
void unit_health_stop(unit *u);
void unit_reset_history(unit *u);
/* Kills STOP/RELOAD commands still in flight (before the instance goes). */
void unit_forget_commands(unit *u);
void unit_destroy(unit *u);
void sv_free_handle(uv_handle_t *h); /* a close callback: free(h) */
bool unit_has_health(const unit *u);
/* A process exists (or is being started or stopped). */
bool unit_has_process(const unit *u);
/* No process and no instance left to release. */
bool unit_is_quiet(const unit *u);
/* Done for now: ready, running without a healthcheck (not a oneshot),
 * exited, failed or stopped. */
bool unit_is_settled(const unit *u);
/* Satisfies a REQUIRES: ready, running without a healthcheck, or a oneshot
 * that exited 0. */
bool unit_is_satisfied(const unit *u);
/* Will not satisfy a REQUIRES without a new apply. */
bool unit_has_given_up(const unit *u);
/* "exited with code 3", "killed by signal SIGKILL"; malloc'ed. */
char *describe_wait_status(int status);
int wait_status_code(int status);

/* supervisor_apply.c */
void unit_swap_in_next_spec(unit *u);
char *unit_default_log_path(const orch_supervisor *sv, const orch_service *s);
/* The runtime that runs s (host or container), or NULL with *err when it is
 * not available; err may be NULL. */
const orch_runtime_ops *sv_runtime_for(const orch_supervisor *sv, const orch_service *s,
                                       char **err);

/* supervisor_identity.c */
void unit_identity_refresh(unit *u); /* asks the runtime; acts on the answer */
void unit_identity_detach(unit *u);  /* an answer still to come is dropped */
void unit_identity_started(unit *u); /* a start: its run has u->identity */
void unit_oneshot_succeeded(unit *u); /* record it, restart older dependents */
void unit_record_forget(unit *u);

/* supervisor_ops.c: stop/settle bookkeeping run by the pass. */
void sv_pass_stops(orch_supervisor *sv);
/* Clears every stop and settle request's reference to a unit marked
 * dropping (about to be destroyed), in one sweep over the requests. */
void sv_forget_dropping(orch_supervisor *sv);
void sv_free_requests(orch_supervisor *sv);
void sv_fire_completed(orch_supervisor *sv);

#endif
