/* Shared inside the containerd runtime module (never installed, never seen by
 * the daemon): the module's global state, the image cache, the unpacker, the
 * per-container lifecycle and small helpers. Everything here runs on the loop
 * thread. docs/CONTAINERD.md describes the lifecycle. */
#ifndef ORCH_CTD_INTERNAL_H
#define ORCH_CTD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "containerd/ctd_sha256.h"
#include "containerd/image_config.h"
#include "containerd/types/mount.pb-c.h"
#include "runtime/runtime.h"
#include "containerd/transport/ctd_transport.h"

/* ---------------------------------------------------------------- methods */
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

/* Labels orchd puts on its containers (and their snapshots). */
#define CTD_LABEL_NAMESPACE "orchd.namespace"
#define CTD_LABEL_SERVICE "orchd.service"
#define CTD_LABEL_SPEC_HASH "orchd.spec-hash"

#define CTD_RUNTIME_NAME "io.containerd.runc.v2"
#define CTD_RUNC_OPTIONS_URL "containerd.runc.v1.Options"
#define CTD_SPEC_URL "types.containerd.io/opencontainers/runtime-spec/1/Spec"

/* Teardown calls wait for containerd to come back (a restart) this long. */
#define CTD_TEARDOWN_TIMEOUT_MS 30000
/* How long a purge waits for a SIGKILLed task to report its exit. */
#define CTD_KILL_WAIT_MS 15000

/* ---------------------------------------------------------------- the module */
typedef struct ctd_image ctd_image;
typedef struct ctd_purge ctd_purge;

typedef struct ctd_rt {
    uv_loop_t *loop;
    ctd_conn *conn;
    char *ns;               /* containerd namespace == orchd namespace */
    char *snapshotter;      /* overlayfs unless told; native after a fallback */
    bool snapshotter_fixed; /* ORCH_SNAPSHOTTER given: never fall back */
    bool no_pivot_root;     /* / is ramfs or tmpfs */
    uint64_t host_nofile_hard, host_nproc_hard;

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
    ctd_image *images;               /* resolved images (a small cache) */
    struct ctd_img_job *img_jobs;
    struct ctd_unpack_job *unpack_jobs;

    bool shutting_down;
    void (*shutdown_done)(void *arg);
    void *shutdown_arg;
} ctd_rt;

/* The connection's namespace in every call; optional lease and deadline. */
int ctd_rt_call(ctd_rt *rt, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *reply_desc, const char *lease, int64_t timeout_ms,
                bool wait_for_ready, ctd_reply_cb cb, void *arg);

/* Marks id as used by a start (no start-up removal for it). */
void ctd_rt_claim(ctd_rt *rt, const char *id);
/* An instance or purge ended: the shutdown may be able to finish now. */
void ctd_rt_maybe_finish_shutdown(ctd_rt *rt);

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

/* Status and details of a finished call, for messages. */
char *ctd_call_error(grpc_status_code st, const char *details);

/* ---------------------------------------------------------------- images */
typedef struct ctd_layer {
    char *media_type;
    char *digest;
    int64_t size;
    char *diff_id;
    char *chain_id; /* of the layers up to and including this one */
} ctd_layer;

struct ctd_image {
    ctd_image *next;
    int refs;
    char *target_digest; /* the image record's target: the cache key */
    char *config_digest;
    ctd_image_config config;
    ctd_layer *layers;
    size_t n_layers;
    const char *chain_id; /* the last layer's */
};

/* The image named ref in the store, resolved to linux/<host arch>: manifest,
 * config, layers and chain ID. cb gets a reference (ctd_image_unref it) or
 * err; *name_out (if given) the name found in the store. cb runs later, from
 * the loop. Returns 0, or -errno when no call could be made (cb never runs). */
typedef void (*ctd_image_cb)(void *arg, ctd_image *img, const char *name, const char *err);
int ctd_image_get(ctd_rt *rt, const char *ref, ctd_image_cb cb, void *arg);
void ctd_image_unref(ctd_image *img);
void ctd_images_free(ctd_rt *rt);
/* Content.Read of a whole blob (at most max bytes), digest-checked. */
typedef void (*ctd_blob_cb)(void *arg, char *data, size_t len, const char *err);
int ctd_blob_read(ctd_rt *rt, const char *digest, size_t max, ctd_blob_cb cb, void *arg);
/* The host's architecture in OCI terms ("amd64", "arm64", ...) and variant. */
const char *ctd_host_arch(const char **variant);

/* ---------------------------------------------------------------- unpack */
/* Makes sure img's chain snapshot exists in snapshotter: Stat, and when
 * missing, unpacks every missing layer under a lease of its own
 * (Prepare, Diff.Apply, Commit) and labels the config blob so the garbage
 * collector keeps the snapshots. Concurrent calls for one chain share the
 * work. err_status is containerd's status on failure (for the snapshotter
 * fallback). */
typedef void (*ctd_unpack_cb)(void *arg, grpc_status_code st, const char *err);
int ctd_unpack_ensure(ctd_rt *rt, ctd_image *img, const char *snapshotter, ctd_unpack_cb cb,
                      void *arg);

/* ---------------------------------------------------------------- rootfs */
/* Reads relpath ("etc/passwd") from the root filesystem that mounts (a
 * prepared snapshot: overlay or bind) describe, without mounting it: the
 * topmost layer directory that has the file wins, an overlay whiteout hides
 * it. Symbolic links are not followed. Returns 0 with *out (malloc'ed,
 * NUL-terminated; NULL when there is no such file), or -1 with *err. */
int ctd_rootfs_read(Containerd__Types__Mount *const *mounts, size_t n, const char *relpath,
                    size_t max, char **out, char **err);

/* ---------------------------------------------------------------- purge */
/* Removes container id and everything of it: SIGKILL to its task, wait for
 * the exit, delete the task, the container and its snapshot (the container's
 * snapshotter and key, or snapshotter/id when there is no container record).
 * Only a container labelled with our namespace is touched unless force.
 * cb(arg, err) runs once at the end (err NULL on success); cb may be NULL. */
typedef void (*ctd_purge_cb)(void *arg, const char *err);
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

/* A helper command inside the instance's task (Tasks.Exec): exec.c. */
orch_exec *ctd_exec_start(orch_instance *inst, const char *command, uint64_t timeout_ms,
                          orch_exec_cb cb, void *owner, char **err);
void ctd_exec_cancel(orch_exec *x);

/* Deep copy of a service (origins' file names copied too: see svc_copy.c). */
typedef struct ctd_svc_copy {
    orch_service svc;
    char **files;
    size_t n_files;
} ctd_svc_copy;
void ctd_svc_copy_init(ctd_svc_copy *dst, const orch_service *src);
void ctd_svc_copy_free(ctd_svc_copy *c);

#endif
