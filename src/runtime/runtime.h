/* The runtime ops table: how the supervisor starts, signals and cleans up
 * one service instance, whatever runs it (a host process: runtimes/bare; a
 * container: runtimes/containerd). All callbacks run on the loop thread and
 * never from inside the call that caused them. */
#ifndef ORCH_RUNTIME_H
#define ORCH_RUNTIME_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "common/error.h"
#include "orchfile/model.h"

#define ORCH_DEFAULT_NAMESPACE "orch"

/* Where the engine keeps things, and the built-ins filled in for services. */
typedef struct orch_env_ctx {
    const char *state_dir;   /* ${ORCH_STATE_DIR} */
    const char *data_dir;    /* ${ORCH_DATA} */
    const char *project_dir; /* ${ORCH_PROJECT}; relative WORKDIR resolves here */
    const char *namespace_;  /* ORCH_NAMESPACE, default ORCH_DEFAULT_NAMESPACE */
    const char *port_offset; /* ${PORT_OFFSET}, decimal 0-65535 (NULL: "0") */
    /* A service's own log rotates past log_max_size bytes (0: never),
     * keeping log_keep old files (ORCH_LOG_MAX_SIZE, ORCH_LOG_KEEP;
     * docs/LOGS.md). */
    uint64_t log_max_size;
    unsigned log_keep;
} orch_env_ctx;

typedef struct orch_instance orch_instance; /* one start of one service */

/* The exit of a process that is not our child (adopted after a crash):
 * waitpid cannot tell how it ended. Neither WIFEXITED nor WIFSIGNALED holds;
 * the supervisor counts it as a failure. */
#define ORCH_WAIT_STATUS_UNKNOWN (-1)

typedef struct orch_instance_cbs {
    /* The process is running (pid > 0) or could not be started (err set,
     * pid 0). err is owned by the runtime, valid during the call; a code
     * for which orch_error_is_transient holds (containerd restarting, a
     * dead predecessor's leftovers still being tidied, out of fds) is
     * retried with backoff, anything else fails the service. */
    void (*started)(void *owner, pid_t pid, const orch_error *err);
    /* The process exited; status is a raw wait status, or
     * ORCH_WAIT_STATUS_UNKNOWN for an adopted process (see adopt). Called
     * once, only after started reported success. */
    void (*exited)(void *owner, int status);
} orch_instance_cbs;

/* Images, for a runtime that has them (containerd; docs/IMAGES.md). All
 * callbacks run on the loop thread, later, never inside the call. */
typedef void (*orch_image_progress_cb)(void *arg, const char *json); /* one JSON object */
/* err: NULL when every image is there; else its code is the first
 * failure's and its msg the report, one line per failure. */
typedef void (*orch_image_done_cb)(void *arg, const orch_error *err);
typedef struct orch_image_ops {
    /* How later starts get their images: "missing" (default: pull what the
     * store lacks), "always" (pull again, once per call of this), "never". */
    void (*set_pull_policy)(const char *policy);
    /* Makes the images of svcs present as policy says (NULL: "missing"):
     * pulls registry images, imports oci-archive:/oci: ones; each image once
     * however many services share it. project_dir resolves relative local
     * paths. progress (may be NULL) gets one JSON object per event; done
     * runs once: err NULL when ok, else a report of one line per failure
     * ("service web: image ...: ..."). Returns 0, or -1 with *err. */
    int (*pull)(const orch_service *const *svcs, size_t n, const char *policy,
                const char *project_dir, orch_image_progress_cb progress, orch_image_done_cb done,
                void *arg, orch_error **err);
    /* Imports an OCI image archive (a tar file) or layout (a directory). */
    int (*import)(const char *path, orch_image_progress_cb progress, orch_image_done_cb done,
                  void *arg, orch_error **err);
} orch_image_ops;

/* A helper command (HEALTHCHECK, STOP, RELOAD) running where an instance
 * runs: on the host for bare, inside the container for containerd. */
typedef struct orch_exec orch_exec;
typedef struct orch_exec_result {
    bool timed_out;  /* killed after timeout_ms; status is meaningless */
    int status;      /* raw wait status (WIFEXITED/WEXITSTATUS apply) */
    const char *err; /* it never ran or its end is unknown (valid during the
                      * call); status and timed_out are meaningless */
} orch_exec_result;
typedef void (*orch_exec_cb)(void *owner, const orch_exec_result *r);

/* The answer of ops->identity: id (valid during the call), or NULL with err
 * (valid during the call) when it cannot be known now. */
typedef void (*orch_identity_cb)(void *owner, const char *id, const char *err);

/* One fact about an instance for survey: ("id", "orchd-1f3a..."). */
typedef void (*orch_describe_put)(void *arg, const char *key, const char *value);

typedef struct orch_runtime_ops {
    const char *name; /* "bare", "containerd" */
    /* Begins starting svc (already fully resolved: builtins expanded). On a
     * synchronous failure returns NULL and sets *err (names the service and
     * cause; a transient code when it may pass by itself, as for started);
     * otherwise cbs.started follows. */
    orch_instance *(*start)(uv_loop_t *loop, const orch_service *svc, const orch_env_ctx *ctx,
                            orch_instance_cbs cbs, void *owner, orch_error **err);
    /* After a crash of orchd: takes over a live instance of svc that a
     * previous daemon started and left running, if there is one (the same
     * service in the same namespace and state directory). Returns NULL when
     * there is none (start then begins a fresh one, clearing whatever the
     * old one left). Otherwise the instance, as if start had returned it:
     * cbs.started follows with its pid, its exit comes through cbs.exited;
     * *same_spec says whether it runs svc exactly as given (else the caller
     * stops it before starting svc). NULL in the table: the runtime adopts
     * nothing, or does so inside start (containerd: same ids, same tasks). */
    orch_instance *(*adopt)(uv_loop_t *loop, const orch_service *svc, const orch_env_ctx *ctx,
                            orch_instance_cbs cbs, void *owner, bool *same_spec);
    /* Delivers sig to every process of the instance (the process group for
     * bare). Returns 0 or -errno. */
    int (*signal)(orch_instance *inst, int sig);
    /* Releases the instance after its exit was reported (or after a failed
     * start): removes cgroups, containers, snapshots. done may be NULL. */
    void (*release)(orch_instance *inst, void (*done)(void *arg), void *arg);
    /* Runs `/bin/sh -c command` where inst runs, as the service would run:
     * its environment, USER, WORKDIR and limits, output appended to its
     * log. svc and ctx are the instance's (they outlive the command). After
     * timeout_ms (0: none) the command is killed and reported timed out. cb
     * runs once, later, never inside this call. Returns a handle, or NULL
     * with *err (malloc'ed, names the service) when it cannot be started. */
    orch_exec *(*exec)(orch_instance *inst, const orch_service *svc, const orch_env_ctx *ctx,
                       const char *command, uint64_t timeout_ms, orch_exec_cb cb, void *owner,
                       char **err);
    /* Kills a command still running; its cb never runs; x is gone after. */
    void (*exec_cancel)(orch_exec *x);
    /* What survey shows about svc beyond its state: put() once per fact.
     * inst is the live instance or NULL (not running). Key "id" is the name
     * the runtime's own tools list it under (containerd: the container id,
     * which `ctr containers ls` shows); bare puts nothing. */
    void (*describe)(const orch_service *svc, const orch_env_ctx *ctx, const orch_instance *inst,
                     orch_describe_put put, void *arg);
    /* The file svc's output goes to when it names no STDOUT (malloc'ed). */
    char *(*log_path)(const orch_service *svc, const orch_env_ctx *ctx);
    /* Image pulls and imports; NULL when the runtime has no images. */
    const orch_image_ops *images;
    /* What, beyond svc's own text, decides what a start of svc would run
     * now: the environment its ENV_FILEs give (read as the runtime reads
     * them at start), and for an image the digest the store resolves the
     * reference to. Any text: the supervisor only compares it (hashed) with
     * the answer for the run it has. svc and ctx are read during the call
     * only. cb runs once, later, from the loop, never inside this call; it
     * must not block the loop (containerd: Images.Get, asynchronous).
     * owner stays valid until cb (the supervisor passes a request object).
     * Returns 0, or -1 when it cannot ask (cb never runs). NULL in the
     * table: the text alone decides. */
    int (*identity)(uv_loop_t *loop, const orch_service *svc, const orch_env_ctx *ctx,
                    orch_identity_cb cb, void *owner);
    /* The daemon is about to exit and every instance has been released:
     * let go now of what the runtime kept for later starts (bare: the
     * cgroups it parked for a quick restart), and close its loop handles.
     * Synchronous. NULL in the table: nothing is kept. */
    void (*shutdown)(void);
} orch_runtime_ops;

/* The one runtime built into orchd (runtimes/bare); others are modules
 * (runtime/module.h). */
extern const orch_runtime_ops orch_runtime_bare;

/* The default log file of a service, <state>/logs/<namespace>.<service>.log,
 * for runtimes that keep the usual place and for the CLI without a daemon.
 * namespace_ NULL means ORCH_DEFAULT_NAMESPACE. malloc'ed. */
char *orch_log_path_default(const char *state_dir, const char *namespace_, const char *service);

#endif
