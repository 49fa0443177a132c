/* The containerd module's bottom layer above the transport (never seen by
 * the daemon): the module's state (ctd_rt), calls in its namespace, names
 * used everywhere (gRPC methods, labels, limits), leases (core/lease.h) and
 * small helpers. Layers, each calling only downward:
 *
 *   runtime.c                    the ops table, init, shutdown, adoption scan
 *   container/ (container.h)     lifecycle, exec, purge, OCI spec, users
 *   fetch/     (fetch.h)         registry pulls and archive imports
 *   store/     (store.h)         images in the store, unpack, rootfs reads
 *   core/      (core.h)          this
 *   transport/                   gRPC <-> libuv
 *
 * Everything here runs on the loop thread. docs/CONTAINERD.md describes the
 * lifecycle. */
#ifndef ORCH_CTD_CORE_H
#define ORCH_CTD_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "containerd/core/ctd_limits.h"
#include "containerd/core/ctd_platform.h"
#include "common/sha256.h"
#include "containerd/core/ctd_status.h"
#include "containerd/transport/ctd_transport.h"
#include "runtime/runtime.h"

/* ---------------------------------------------------------------- methods: every gRPC method the module calls, named once */
#define CTD_M_IMAGES_GET "/containerd.services.images.v1.Images/Get"
#define CTD_M_CONTENT_READ "/containerd.services.content.v1.Content/Read"
#define CTD_M_CONTENT_UPDATE "/containerd.services.content.v1.Content/Update"
#define CTD_M_SNAP_STAT "/containerd.services.snapshots.v1.Snapshots/Stat"
#define CTD_M_SNAP_PREPARE "/containerd.services.snapshots.v1.Snapshots/Prepare"
#define CTD_M_SNAP_COMMIT "/containerd.services.snapshots.v1.Snapshots/Commit"
#define CTD_M_SNAP_REMOVE "/containerd.services.snapshots.v1.Snapshots/Remove"
#define CTD_M_DIFF_APPLY "/containerd.services.diff.v1.Diff/Apply"
#define CTD_M_LEASE_CREATE "/containerd.services.leases.v1.Leases/Create"
#define CTD_M_LEASE_DELETE "/containerd.services.leases.v1.Leases/Delete"
#define CTD_M_LEASE_ADD_RESOURCE "/containerd.services.leases.v1.Leases/AddResource"
#define CTD_M_IMAGES_CREATE "/containerd.services.images.v1.Images/Create"
#define CTD_M_IMAGES_UPDATE "/containerd.services.images.v1.Images/Update"
#define CTD_M_CONTENT_INFO "/containerd.services.content.v1.Content/Info"
#define CTD_M_CONTENT_WRITE "/containerd.services.content.v1.Content/Write"
#define CTD_M_CONTENT_ABORT "/containerd.services.content.v1.Content/Abort"
#define CTD_M_CONT_GET "/containerd.services.containers.v1.Containers/Get"
#define CTD_M_CONT_LIST "/containerd.services.containers.v1.Containers/List"
#define CTD_M_CONT_CREATE "/containerd.services.containers.v1.Containers/Create"
#define CTD_M_CONT_DELETE "/containerd.services.containers.v1.Containers/Delete"
#define CTD_M_TASK_CREATE "/containerd.services.tasks.v1.Tasks/Create"
#define CTD_M_TASK_START "/containerd.services.tasks.v1.Tasks/Start"
#define CTD_M_TASK_GET "/containerd.services.tasks.v1.Tasks/Get"
#define CTD_M_TASK_KILL "/containerd.services.tasks.v1.Tasks/Kill"
#define CTD_M_TASK_WAIT "/containerd.services.tasks.v1.Tasks/Wait"
#define CTD_M_TASK_DELETE "/containerd.services.tasks.v1.Tasks/Delete"
#define CTD_M_TASK_EXEC "/containerd.services.tasks.v1.Tasks/Exec"
#define CTD_M_TASK_DELETE_PROCESS "/containerd.services.tasks.v1.Tasks/DeleteProcess"

/* Labels orchd puts on its containers (and their snapshots). */
#define CTD_LABEL_NAMESPACE "orchd.namespace"
#define CTD_LABEL_SERVICE "orchd.service"
#define CTD_LABEL_SPEC_HASH "orchd.spec-hash"

#define CTD_RUNTIME_NAME "io.containerd.runc.v2"
#define CTD_RUNC_OPTIONS_URL "containerd.runc.v1.Options"
#define CTD_SPEC_URL "types.containerd.io/opencontainers/runtime-spec/1/Spec"
#define CTD_PROCESS_URL "types.containerd.io/opencontainers/runtime-spec/1/Process"

/* The teardown sequence (container/teardown.c): its calls wait for
 * containerd to come back (a restart) this long, and for a SIGKILLed task
 * to report its exit this long. */
#define CTD_TEARDOWN_TIMEOUT_MS 30000
#define CTD_KILL_WAIT_MS 15000

/* ---------------------------------------------------------------- the module */
typedef struct ctd_image ctd_image;
typedef struct ctd_purge ctd_purge;

typedef struct ctd_rt ctd_rt;
struct ctd_rt {
    uv_loop_t *loop;
    ctd_conn *conn;
    char *ns;               /* containerd namespace == orchd namespace */
    char *snapshotter;      /* overlayfs unless told; native after a fallback */
    bool snapshotter_fixed; /* ORCH_SNAPSHOTTER given: never fall back */
    bool no_pivot_root;     /* / is ramfs or tmpfs */
    int seccomp; /* ctd_seccomp_mode (container/seccomp_default.h), from ORCH_SECCOMP */
    char kernel_release[65];  /* uname's, for the profile ("" unknown) */
    uint64_t host_nofile_hard, host_nproc_hard;
    /* containerd's own directories (ORCH_CONTAINERD_STATE, _ROOT): where a
     * shim bundle it forgot lies (container/stale_bundle.c) */
    char *containerd_state, *containerd_root;
    int stale_jobs; /* stale-bundle checks on the thread pool */

    /* start-up adoption: containers labelled with our namespace found when
     * the module was loaded; those no start claims within the grace period
     * are removed. */
    bool scan_done;
    char **found; /* ids not (yet) claimed */
    size_t n_found;
    char **claimed; /* ids a start used since the module was loaded */
    size_t n_claimed;
    uv_timer_t *grace;
    uint64_t grace_ms;

    struct orch_instance *instances; /* every live instance */
    ctd_purge *purges;               /* removals in flight */
    struct orch_exec *execs;         /* helper commands not yet cleaned up */
    ctd_image *images;               /* resolved images (a small cache) */
    struct ctd_img_job *img_jobs;
    struct ctd_unpack_job *unpack_jobs;

    int64_t loaded_at_ns; /* CLOCK_REALTIME at load: core/sweep.c */
    struct ctd_logwatch *logwatch;

    void (*on_work_done)(ctd_rt *rt); /* see ctd_rt_work_done */
    bool shutting_down;
    void (*shutdown_done)(void *arg);
    void *shutdown_arg;
};

/* The connection's namespace in every call; optional lease and deadline. */
int ctd_rt_call(ctd_rt *rt, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *reply_desc, const char *lease, int64_t timeout_ms,
                bool wait_for_ready, ctd_reply_cb cb, void *arg);

/* Removes the orchd-* leases and ingests that were made before the module
 * was loaded (a dead predecessor's): core/sweep.c. */
void ctd_sweep_start(ctd_rt *rt);

/* s is one of v[0..n). */
bool ctd_strv_has(char **v, size_t n, const char *s);
/* Marks id as used by a start (no start-up removal for it). */
void ctd_rt_claim(ctd_rt *rt, const char *id);
/* Something that held the connection open (an instance's teardown, a purge,
 * a pull) ended: runs the hook the module's top layer set (runtime.c: the
 * shutdown may be able to finish now). Lower layers call this instead of
 * calling up. */
void ctd_rt_work_done(ctd_rt *rt);

/* ---------------------------------------------------------------- helpers */

/* "a/b" with base unless rel is absolute; malloc'ed. */
char *ctd_path_join(const char *base, const char *rel);
/* Percent-encodes a path for a URI (keeps '/' and unreserved characters). */
char *ctd_uri_path(const char *path);
/* Percent-encodes a query value. */
char *ctd_uri_query(const char *s);
/* containerd's identifier rule: [A-Za-z0-9]+ joined by single [._-], at most 76. */
bool ctd_valid_identifier(const char *id);
/* The image reference as containerd stores it: "busybox" ->
 * "docker.io/library/busybox:latest"; NULL when already normal. */
char *ctd_normalize_ref(const char *ref);
/* A random hex string of n bytes (2n characters). */
char *ctd_random_hex(size_t n);

/* "the containerd connection is closing" (ORCH_E_CANCELLED): a call could
 * not be made because the module is shutting down. */
orch_error *ctd_closing_error(void);
/* A failed libuv request (uverr < 0): coded by its errno, the message ends
 * in libuv's words ("...: no such file or directory"). */
orch_error *ctd_uv_error(int uverr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
