/* The lifecycle of one container service (docs/CONTAINERD.md):
 *
 *  start   ENV_FILE, VOLUME sources and log paths are checked on the spot
 *          (errors come back from start); then, one call after the other:
 *          Images.Get -> manifest/config (image.c, cached) -> Containers.Get
 *          of the id: a container of ours whose spec hash matches and whose
 *          task runs is adopted (Tasks.Get), any other is purged (purge.c);
 *          Leases.Create -> the chain's snapshot (unpack.c) ->
 *          Snapshots.Prepare(id on the chain) -> /etc/passwd, /etc/group
 *          (rootfs.c) -> the OCI spec (spec.c) -> Containers.Create ->
 *          Leases.Delete -> Tasks.Create (log URIs) -> Tasks.Start ->
 *          started(pid) -> Tasks.Wait (no deadline).
 *  exit    Tasks.Wait returns -> exited(wait status). A Wait cut by a
 *          containerd restart is issued again with wait_for_ready.
 *  signal  Tasks.Kill(all).
 *  release (after the exit, or after a failed start) Tasks.Delete ->
 *          Containers.Delete -> Snapshots.Remove; a task still running is
 *          killed and waited for first.
 *
 * A failed start undoes whatever it had made (same teardown) before it
 * reports the error, so a failed service leaves nothing in containerd. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "containerd/runc/options/oci.pb-c.h"
#include "containerd/services/containers/v1/containers.pb-c.h"
#include "containerd/services/leases/v1/leases.pb-c.h"
#include "containerd/services/snapshots/v1/snapshots.pb-c.h"
#include "containerd/services/tasks/v1/tasks.pb-c.h"
#include "containerd/container/spec.h"
#include "containerd/container/container.h"
#include "containerd/container/stale_bundle.h"
#include "containerd/container/teardown.h"
#include "containerd/fetch/fetch.h"
#include "containerd/store/store.h"
#include "common/envfile.h"
#include "common/fileutil.h"
#include "common/safeopen.h"
#include "containerd/core/lease.h"
#include "orchfile/orchfile.h"
#include "containerd/fetch/fetch.h"
#include "common/xalloc.h"


typedef enum phase {
    PH_QUEUED,   /* behind a purge of the same id */
    PH_STARTING, /* the start sequence */
    PH_RUNNING,  /* started reported; Wait in flight */
    PH_EXITED,   /* exit seen and reported */
    PH_UNDOING,  /* a failed start being undone */
    PH_FAILED,   /* started(0, err) reported */
    PH_TEARDOWN, /* release in progress */
    PH_RELEASED,
} phase;

struct orch_instance {
    orch_instance *next, *prev;
    ctd_rt *rt;
    int refs; /* the owner's (until released) + one per call in flight */
    phase ph;
    ctd_svc_copy copy;
    const orch_service *svc; /* &copy.svc */
    char *project_dir, *data_dir;
    orch_instance_cbs cbs;
    void *owner;

    char *id;
    char *snapshotter;  /* the snapshot's (ours, or an adopted container's) */
    char *snapshot_key; /* id, or an adopted container's */
    char *stdout_uri, *stderr_uri;
    char **env_file_env;
    orch_sha256 hash; /* service JSON + env files; the image digest comes last */
    char spec_hash[65];
    ctd_image *img;
    char *image_name;
    char *lease;
    ProtobufCMessage *prepared; /* PrepareSnapshotResponse: the rootfs mounts */
    char *spec_json; /* the container's OCI spec: helper commands take its process */
    bool retried_prepare;

    ctd_teardown td; /* what exists in containerd, and its removal */
    bool started_reported, releasing, adopted;
    bool took_over;  /* removed a container a dead predecessor left */
    int create_tries; /* Tasks.Create attempts (see on_task_created) */
    bool create_retry; /* the latest failed Tasks.Create is tried again */
    bool stale_seen;   /* a shim bundle containerd forgot was seen for the id */
    grpc_status_code create_st; /* the latest failed Tasks.Create's */
    char *create_error;         /* and its details */
    bool retryable;   /* a leftover of a predecessor is in the way: may pass */
    int last_sig;     /* the latest signal asked for (resent after an outage) */
    int sig_resends;
    pid_t pid;
    int wait_failures;
    orch_error *error; /* why the start failed, naming the service */

    void (*release_done)(void *arg);
    void *release_arg;
    uv_timer_t *timer; /* deferred callbacks, Wait retries */
    void (*timer_fn)(orch_instance *inst);
};

/* ---------------------------------------------------------------- plumbing */

static void inst_free_now(orch_instance *inst);

static void on_timer_closed(uv_handle_t *h)
{
    orch_instance *inst = h->data;
    free(h);
    inst_free_now(inst);
}

static void inst_unref(orch_instance *inst)
{
    if (--inst->refs > 0)
        return;
    ctd_rt *rt = inst->rt;
    if (inst->prev)
        inst->prev->next = inst->next;
    else
        rt->instances = inst->next;
    if (inst->next)
        inst->next->prev = inst->prev;
    uv_close((uv_handle_t *)inst->timer, on_timer_closed);
}

static void inst_free_now(orch_instance *inst)
{
    ctd_rt *rt = inst->rt;
    ctd_svc_copy_free(&inst->copy);
    free(inst->project_dir);
    free(inst->data_dir);
    free(inst->id);
    free(inst->snapshotter);
    free(inst->snapshot_key);
    free(inst->stdout_uri);
    free(inst->stderr_uri);
    orch_strv_free(inst->env_file_env);
    ctd_image_unref(inst->img);
    free(inst->image_name);
    free(inst->lease);
    if (inst->prepared)
        protobuf_c_message_free_unpacked(inst->prepared, NULL);
    free(inst->spec_json);
    orch_error_free(inst->error);
    free(inst->create_error);
    free(inst);
    ctd_rt_work_done(rt);
}

typedef void (*icb)(orch_instance *inst, grpc_status_code st, const char *details,
                    ProtobufCMessage *reply);
typedef struct icall_t {
    orch_instance *inst;
    icb cb;
} icall_t;

static void icall_done(void *arg, grpc_status_code st, const char *details,
                       ProtobufCMessage *reply)
{
    icall_t *c = arg;
    orch_instance *inst = c->inst;
    icb cb = c->cb;
    free(c);
    cb(inst, st, details, reply);
    inst_unref(inst);
}

/* A call whose callback gets the instance (kept alive meanwhile). Returns 0,
 * or -errno and cb never runs. */
static int icall_ex(orch_instance *inst, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *desc, const char *lease, int64_t timeout_ms,
                    bool wait_for_ready, icb cb)
{
    icall_t *c = xmalloc(sizeof *c);
    c->inst = inst;
    c->cb = cb;
    inst->refs++;
    int rc = ctd_rt_call(inst->rt, method, req, desc, lease, timeout_ms, wait_for_ready,
                         icall_done, c);
    if (rc != 0) {
        inst->refs--;
        free(c);
    }
    return rc;
}

static int icall(orch_instance *inst, const char *method, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *desc, icb cb)
{
    return icall_ex(inst, method, req, desc, inst->lease, 0, false, cb);
}

static void on_timer(uv_timer_t *t)
{
    orch_instance *inst = t->data;
    void (*fn)(orch_instance *) = inst->timer_fn;
    inst->timer_fn = NULL;
    if (fn)
        fn(inst);
    inst_unref(inst);
}

/* Runs fn from the loop after ms (0: on the next iteration). One at a time. */
static void defer(orch_instance *inst, uint64_t ms, void (*fn)(orch_instance *inst))
{
    if (inst->timer_fn)
        inst_unref(inst); /* replaced */
    inst->timer_fn = fn;
    inst->refs++;
    uv_timer_start(inst->timer, on_timer, ms, 0);
}

static void log_line(orch_instance *inst, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_line(orch_instance *inst, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "orchd: service %s: containerd: ", inst->svc->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---------------------------------------------------------------- exit codes */

int ctd_wait_status(uint32_t exit_status)
{
    /* runc reports a death by signal N as 128 + N */
    if (exit_status > 128 && exit_status < 128 + 65)
        return (int)(exit_status - 128);
    return (int)((exit_status & 0xff) << 8);
}

char *ctd_container_id(const char *ns, const char *service)
{
    char *id = xasprintf("%s-%s", ns, service);
    if (ctd_valid_identifier(id))
        return id;
    /* a name containerd would refuse (too long, "__", ...): a stable digest */
    orch_sha256 c;
    uint8_t d[32];
    char hex[65];
    orch_sha256_init(&c);
    orch_sha256_update(&c, id, strlen(id));
    orch_sha256_final(&c, d);
    orch_hex(d, 32, hex);
    free(id);
    return xasprintf("orchd-%.24s", hex);
}

/* ---------------------------------------------------------------- teardown */

static void teardown_step(orch_instance *inst);

bool ctd_instances_busy(const ctd_rt *rt)
{
    for (const orch_instance *i = rt->instances; i; i = i->next)
        if (i->ph == PH_TEARDOWN || i->ph == PH_UNDOING)
            return true;
    return false;
}

static void after_teardown(orch_instance *inst)
{
    if (inst->ph == PH_UNDOING) {
        inst->ph = PH_FAILED;
        if (inst->releasing) { /* released meanwhile (cannot happen today) */
            inst->ph = PH_RELEASED;
            if (inst->release_done)
                inst->release_done(inst->release_arg);
            inst_unref(inst);
            return;
        }
        /* the code decides: a transient one (containerd away, a dead
         * predecessor's leftovers still being tidied) the supervisor
         * retries with backoff */
        orch_error *e = inst->error ? inst->error
                                    : orch_error_new(ORCH_E_INTERNAL, "service %s: could not start",
                                                     inst->svc->name);
        inst->error = NULL;
        inst->cbs.started(inst->owner, 0, e);
        orch_error_free(e);
        ctd_rt_work_done(inst->rt);
        return;
    }
    inst->ph = PH_RELEASED;
    if (inst->release_done)
        inst->release_done(inst->release_arg);
    inst_unref(inst); /* the owner's reference */
}

static void on_td_lease(orch_instance *inst, grpc_status_code st, const char *details,
                        ProtobufCMessage *reply)
{
    if (st != GRPC_STATUS_OK && st != GRPC_STATUS_NOT_FOUND)
        log_line(inst, "deleting the lease of %s: %s", inst->id, details);
    free(inst->lease);
    inst->lease = NULL;
    teardown_step(inst);
}

static void td_note(void *owner, const char *doing, grpc_status_code st, const char *details)
{
    orch_instance *inst = owner;
    (void)st;
    log_line(inst, "container %s: %s: %s", inst->id, doing, details);
}

/* The container is gone: the lease of a start that did not get that far
 * goes last. */
static void td_done(void *owner)
{
    orch_instance *inst = owner;
    if (inst->lease) {
        Containerd__Services__Leases__V1__DeleteRequest req =
            CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
        req.id = inst->lease;
        if (icall_ex(inst, CTD_M_LEASE_DELETE, &req.base, NULL, NULL, 0, false, on_td_lease) == 0)
            return;
        free(inst->lease);
        inst->lease = NULL;
    }
    after_teardown(inst);
}

static void td_hold(void *owner)
{
    ((orch_instance *)owner)->refs++;
}

static void td_drop(void *owner)
{
    inst_unref(owner);
}

static const ctd_teardown_hooks td_hooks = {td_note, td_done, td_hold, td_drop};

/* Undoes what exists, in order (container/teardown.h), then the lease. */
static void teardown_step(orch_instance *inst)
{
    inst->td.id = inst->id;
    inst->td.snapshotter = inst->snapshotter;
    inst->td.snapshot_key = inst->snapshot_key;
    ctd_teardown_step(&inst->td);
}

/* The start failed with e (taken, naming the service): undo, then report
 * (so a failed service has left nothing). */
static void undo_start(orch_instance *inst, orch_error *e)
{
    orch_error_free(inst->error);
    inst->error = e;
    inst->ph = PH_UNDOING;
    teardown_step(inst);
}

/* The start failed with e (taken): "service <name>: " goes in front. */
static void start_failed(orch_instance *inst, orch_error *e)
{
    undo_start(inst, orch_error_prefix(e, "service %s", inst->svc->name));
}

/* ---------------------------------------------------------------- running */

static void issue_wait(orch_instance *inst);

static void report_exit(orch_instance *inst, uint32_t exit_status)
{
    inst->td.exit_seen = true;
    if (inst->releasing) {
        teardown_step(inst);
        return;
    }
    inst->ph = PH_EXITED;
    inst->cbs.exited(inst->owner, ctd_wait_status(exit_status));
}

static void on_wait(orch_instance *inst, grpc_status_code st, const char *details,
                    ProtobufCMessage *reply)
{
    inst->td.wait_inflight = false;
    if (st == GRPC_STATUS_OK) {
        Containerd__Services__Tasks__V1__WaitResponse *r =
            (Containerd__Services__Tasks__V1__WaitResponse *)reply;
        report_exit(inst, r->exit_status);
        return;
    }
    if (st == GRPC_STATUS_NOT_FOUND) {
        /* the task is gone (its shim died with containerd): status unknown */
        log_line(inst, "task %s vanished: %s", inst->id, details);
        report_exit(inst, 255);
        return;
    }
    if (inst->rt->shutting_down && st == GRPC_STATUS_CANCELLED)
        return; /* the daemon is leaving; the container stays containerd's */
    /* containerd restarting (UNAVAILABLE), or the call cut: wait again,
     * this time for the connection to come back. */
    if (inst->wait_failures++ == 0)
        log_line(inst, "lost the wait for task %s (%s); waiting again", inst->id, details);
    defer(inst, inst->wait_failures > 1 ? 1000 : 0, issue_wait);
}

static void issue_wait(orch_instance *inst)
{
    if (inst->td.exit_seen || inst->td.wait_inflight)
        return;
    Containerd__Services__Tasks__V1__WaitRequest req =
        CONTAINERD__SERVICES__TASKS__V1__WAIT_REQUEST__INIT;
    req.container_id = inst->id;
    inst->td.wait_inflight = true;
    if (icall_ex(inst, CTD_M_TASK_WAIT, &req.base,
                 &containerd__services__tasks__v1__wait_response__descriptor, NULL,
                 CTD_NO_DEADLINE, inst->wait_failures > 0, on_wait) != 0)
        inst->td.wait_inflight = false; /* closing */
}

static void report_started(orch_instance *inst, pid_t pid)
{
    inst->pid = pid;
    inst->ph = PH_RUNNING;
    inst->started_reported = true;
    issue_wait(inst);
    inst->cbs.started(inst->owner, pid, NULL);
}

/* ---------------------------------------------------------------- start: task */

static void on_task_started(orch_instance *inst, grpc_status_code st, const char *details,
                            ProtobufCMessage *reply)
{
    if (st != GRPC_STATUS_OK) {
        start_failed(inst, orch_error_prefix(ctd_status_error(st, details), "starting task %s", inst->id));
        return;
    }
    Containerd__Services__Tasks__V1__StartResponse *r =
        (Containerd__Services__Tasks__V1__StartResponse *)reply;
    if (inst->releasing) {
        start_failed(inst, orch_error_new(ORCH_E_CANCELLED, "released while starting"));
        return;
    }
    report_started(inst, (pid_t)r->pid);
}

static void create_task(orch_instance *inst);

/* A Tasks.Create that may succeed if tried again: containerd unreachable, or
 * (after taking over a dead predecessor's container, or once a stale shim
 * bundle of the id was seen) containerd still tidying the predecessor's
 * abandoned task creation, which holds the shim's bundle directory for a
 * while ("mkdir .../<id>: file exists", UNKNOWN). */
#define CREATE_TRIES 8
static bool create_may_retry(const orch_instance *inst, grpc_status_code st)
{
    return !inst->releasing && !inst->rt->shutting_down && inst->create_tries < CREATE_TRIES &&
           st != GRPC_STATUS_INVALID_ARGUMENT && st != GRPC_STATUS_FAILED_PRECONDITION &&
           st != GRPC_STATUS_PERMISSION_DENIED;
}

static bool create_retryable(const orch_instance *inst, grpc_status_code st)
{
    if (!create_may_retry(inst, st))
        return false;
    return st == GRPC_STATUS_UNAVAILABLE || inst->took_over || inst->stale_seen;
}

static uint64_t create_backoff_ms(const orch_instance *inst)
{
    return 250u << (inst->create_tries < 3 ? inst->create_tries : 3);
}

static void create_failed(orch_instance *inst, const char *extra)
{
    /* runc's errors (rlimits, mounts, cgroups) come back here, coded by
     * containerd's status (core/ctd_status.c) */
    orch_error *e = orch_error_prefix(ctd_status_error(inst->create_st, inst->create_error),
                                      "creating task %s", inst->id);
    if (extra) {
        char *m = xasprintf("%s; %s", e->msg, extra);
        free(e->msg);
        e->msg = m;
    }
    /* a predecessor's task or bundle may still be in the way: it may pass */
    if (inst->retryable || inst->took_over || inst->stale_seen)
        e->code = ORCH_E_UNAVAILABLE;
    start_failed(inst, e);
}

/* The stale-bundle check (stale_bundle.c) is back: decides what comes next. */
static void on_stale_checked(void *arg, ctd_stale_result r, const char *msg)
{
    orch_instance *inst = arg;
    if (msg && r != CTD_STALE_NONE)
        log_line(inst, "task %s: %s", inst->id, msg);
    if (inst->releasing || inst->rt->shutting_down) {
        start_failed(inst, orch_error_new(ORCH_E_CANCELLED, "stopped while starting"));
    } else if (r == CTD_STALE_CLEANED) {
        inst->stale_seen = true;
        log_line(inst, "creating task %s: %s; trying again now that the way is clear", inst->id,
                 inst->create_error ? inst->create_error : "failed");
        create_task(inst); /* the way is clear now */
    } else if (r == CTD_STALE_BUSY && inst->create_tries < CREATE_TRIES) {
        inst->stale_seen = true;
        uint64_t ms = create_backoff_ms(inst);
        log_line(inst, "creating task %s: waiting %llu ms for containerd (attempt %d of %d)",
                 inst->id, (unsigned long long)ms, inst->create_tries + 1, CREATE_TRIES);
        defer(inst, ms, create_task);
    } else if (r == CTD_STALE_NONE && inst->create_retry) {
        create_task(inst);
    } else {
        if (r != CTD_STALE_NONE)
            inst->retryable = true; /* a leftover: may pass, containerd's restart clears it */
        create_failed(inst, r != CTD_STALE_NONE ? msg : NULL);
    }
    inst_unref(inst);
}

static void on_stale_task_deleted(orch_instance *inst, grpc_status_code st, const char *details,
                                  ProtobufCMessage *reply)
{
    (void)details, (void)reply;
    if (inst->releasing || inst->rt->shutting_down) {
        start_failed(inst, orch_error_new(ORCH_E_CANCELLED, "stopped while starting"));
        return;
    }
    if (st == GRPC_STATUS_NOT_FOUND) {
        /* containerd has no task of this id: a bundle of it, if any, is one
         * it forgot (the namespace is this daemon's alone) */
        inst->refs++;
        ctd_stale_bundle_start(inst->rt, inst->id, on_stale_checked, inst);
        return;
    }
    if (inst->create_retry)
        create_task(inst);
    else
        create_failed(inst, NULL);
}

/* Drops whatever task record the failed create left, looks for a shim
 * bundle containerd forgot, then creates again (or reports the failure). */
static void retry_create_task(orch_instance *inst)
{
    Containerd__Services__Tasks__V1__DeleteTaskRequest req =
        CONTAINERD__SERVICES__TASKS__V1__DELETE_TASK_REQUEST__INIT;
    req.container_id = inst->id;
    if (icall_ex(inst, CTD_M_TASK_DELETE, &req.base,
                 &containerd__services__tasks__v1__delete_response__descriptor, NULL, 0, true,
                 on_stale_task_deleted) != 0)
        start_failed(inst, ctd_closing_error());
}

static void on_task_created(orch_instance *inst, grpc_status_code st, const char *details,
                            ProtobufCMessage *reply)
{
    if (st != GRPC_STATUS_OK) {
        free(inst->create_error);
        inst->create_error = xstrdup(details ? details : "");
        inst->create_st = st;
        inst->create_retry = create_retryable(inst, st);
        if (inst->create_retry) {
            uint64_t ms = create_backoff_ms(inst);
            log_line(inst, "creating task %s: %s; trying again in %llu ms (attempt %d of %d)",
                     inst->id, details, (unsigned long long)ms, inst->create_tries + 1,
                     CREATE_TRIES);
            defer(inst, ms, retry_create_task);
        } else if (create_may_retry(inst, st) && st != GRPC_STATUS_UNAVAILABLE) {
            retry_create_task(inst); /* no waiting: only a forgotten bundle makes it retry */
        } else {
            create_failed(inst, NULL);
        }
        return;
    }
    inst->td.have_task = true;
    Containerd__Services__Tasks__V1__StartRequest req =
        CONTAINERD__SERVICES__TASKS__V1__START_REQUEST__INIT;
    req.container_id = inst->id;
    if (icall(inst, CTD_M_TASK_START, &req.base,
              &containerd__services__tasks__v1__start_response__descriptor, on_task_started) != 0)
        start_failed(inst, ctd_closing_error());
}

static void on_lease_dropped(orch_instance *inst, grpc_status_code st, const char *details,
                             ProtobufCMessage *reply)
{
    if (st != GRPC_STATUS_OK && st != GRPC_STATUS_NOT_FOUND)
        log_line(inst, "deleting lease: %s (it expires by itself)", details);
}

static void on_container_created(orch_instance *inst, grpc_status_code st, const char *details,
                                 ProtobufCMessage *reply)
{
    if (st != GRPC_STATUS_OK) {
        start_failed(inst, orch_error_prefix(ctd_status_error(st, details), "creating container %s", inst->id));
        return;
    }
    inst->td.have_container = true;
    /* The container now holds the snapshot: the lease has done its job. */
    if (inst->lease) {
        Containerd__Services__Leases__V1__DeleteRequest lreq =
            CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
        lreq.id = inst->lease;
        icall_ex(inst, CTD_M_LEASE_DELETE, &lreq.base, NULL, NULL, 0, false, on_lease_dropped);
        free(inst->lease);
        inst->lease = NULL;
    }
    create_task(inst);
}

static void create_task(orch_instance *inst)
{
    inst->create_tries++;
    Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *prep =
        (Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *)inst->prepared;
    Containerd__Services__Tasks__V1__CreateTaskRequest req =
        CONTAINERD__SERVICES__TASKS__V1__CREATE_TASK_REQUEST__INIT;
    req.container_id = inst->id;
    req.n_rootfs = prep->n_mounts;
    req.rootfs = prep->mounts;
    req.stdout = inst->stdout_uri;
    req.stderr = inst->stderr_uri;
    if (icall_ex(inst, CTD_M_TASK_CREATE, &req.base,
                 &containerd__services__tasks__v1__create_task_response__descriptor, NULL, 60000,
                 false, on_task_created) != 0)
        start_failed(inst, ctd_closing_error());
}

/* ---------------------------------------------------------------- start: spec */

static int build_spec(orch_instance *inst, char **json, char **err)
{
    Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *prep =
        (Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *)inst->prepared;
    char *passwd = NULL, *group = NULL, *why = NULL;
    if (ctd_rootfs_read(prep->mounts, prep->n_mounts, "etc/passwd", CTD_MAX_ETC_FILE, &passwd, &why) !=
            0 ||
        ctd_rootfs_read(prep->mounts, prep->n_mounts, "etc/group", CTD_MAX_ETC_FILE, &group, &why) !=
            0) {
        /* only a named user needs them: leave the verdict to the spec */
        log_line(inst, "%s", why);
        free(why);
    }
    struct rlimit nofile = {0}, nproc = {0};
    getrlimit(RLIMIT_NOFILE, &nofile);
    getrlimit(RLIMIT_NPROC, &nproc);
    ctd_spec_input in = {
        .svc = inst->svc,
        .image = &inst->img->config,
        .namespace_ = inst->rt->ns,
        .project_dir = inst->project_dir,
        .data_dir = inst->data_dir,
        .env_file_env = inst->env_file_env,
        .etc_passwd = passwd,
        .etc_group = group,
        .hosts_file = access("/etc/hosts", R_OK) == 0 ? "/etc/hosts" : NULL,
        .resolv_conf = access("/etc/resolv.conf", R_OK) == 0 ? "/etc/resolv.conf" : NULL,
        .host_nofile_hard = (uint64_t)nofile.rlim_max,
        .host_nproc_hard = (uint64_t)nproc.rlim_max,
        .seccomp = inst->rt->seccomp,
        .kernel_release = inst->rt->kernel_release[0] ? inst->rt->kernel_release : NULL,
    };
    if (in.seccomp == CTD_SECCOMP_UNCONFINED)
        log_line(inst, "no seccomp profile (ORCH_SECCOMP=unconfined in orchd's environment)");
    int rc = ctd_spec_build(&in, json, err);
    free(passwd);
    free(group);
    return rc;
}

static void add_label(Containerd__Services__Containers__V1__Container__LabelsEntry *e,
                      Containerd__Services__Containers__V1__Container__LabelsEntry **ep,
                      const char *k, const char *v)
{
    containerd__services__containers__v1__container__labels_entry__init(e);
    e->key = (char *)k;
    e->value = (char *)v;
    *ep = e;
}

static void create_container(orch_instance *inst)
{
    char *json = NULL, *err = NULL;
    if (build_spec(inst, &json, &err) != 0) {
        /* the spec's errors name the service already */
        undo_start(inst, orch_error_new(ORCH_E_INVALID, "%s", err));
        free(err);
        return;
    }
    Containerd__Runc__V1__Options ropts = CONTAINERD__RUNC__V1__OPTIONS__INIT;
    ropts.no_pivot_root = inst->rt->no_pivot_root;
    size_t olen = containerd__runc__v1__options__get_packed_size(&ropts);
    uint8_t *obuf = xmalloc(olen ? olen : 1);
    containerd__runc__v1__options__pack(&ropts, obuf);
    Google__Protobuf__Any options = GOOGLE__PROTOBUF__ANY__INIT;
    options.type_url = CTD_RUNC_OPTIONS_URL;
    options.value.data = obuf;
    options.value.len = olen;
    Containerd__Services__Containers__V1__Container__Runtime runtime =
        CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__RUNTIME__INIT;
    runtime.name = CTD_RUNTIME_NAME;
    runtime.options = &options;
    Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
    spec.type_url = CTD_SPEC_URL;
    spec.value.data = (uint8_t *)json;
    spec.value.len = strlen(json);
    Containerd__Services__Containers__V1__Container__LabelsEntry le[3], *lp[3];
    add_label(&le[0], &lp[0], CTD_LABEL_NAMESPACE, inst->rt->ns);
    add_label(&le[1], &lp[1], CTD_LABEL_SERVICE, inst->svc->name);
    add_label(&le[2], &lp[2], CTD_LABEL_SPEC_HASH, inst->spec_hash);
    Containerd__Services__Containers__V1__Container c =
        CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
    c.id = inst->id;
    c.n_labels = 3;
    c.labels = lp;
    c.image = inst->image_name;
    c.runtime = &runtime;
    c.spec = &spec;
    c.snapshotter = inst->snapshotter;
    c.snapshot_key = inst->snapshot_key;
    Containerd__Services__Containers__V1__CreateContainerRequest req =
        CONTAINERD__SERVICES__CONTAINERS__V1__CREATE_CONTAINER_REQUEST__INIT;
    req.container = &c;
    int rc = icall(inst, CTD_M_CONT_CREATE, &req.base, NULL, on_container_created);
    free(obuf);
    free(inst->spec_json);
    inst->spec_json = json;
    if (rc != 0)
        start_failed(inst, ctd_closing_error());
}

/* ---------------------------------------------------------------- start: snapshot */

static void prepare_snapshot(orch_instance *inst);

static void on_stale_snapshot_removed(orch_instance *inst, grpc_status_code st,
                                      const char *details, ProtobufCMessage *reply)
{
    if (st != GRPC_STATUS_OK && st != GRPC_STATUS_NOT_FOUND) {
        start_failed(inst, orch_error_prefix(ctd_status_error(st, details), "removing the old snapshot %s", inst->snapshot_key));
        return;
    }
    prepare_snapshot(inst);
}

static void on_prepared(orch_instance *inst, grpc_status_code st, const char *details,
                        ProtobufCMessage *reply)
{
    if (st == GRPC_STATUS_ALREADY_EXISTS && !inst->retried_prepare) {
        /* a snapshot left by a start that died before Containers.Create:
         * RECREATE semantics, always a fresh one */
        inst->retried_prepare = true;
        Containerd__Services__Snapshots__V1__RemoveSnapshotRequest req =
            CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
        req.snapshotter = inst->snapshotter;
        req.key = inst->snapshot_key;
        if (icall(inst, CTD_M_SNAP_REMOVE, &req.base, NULL, on_stale_snapshot_removed) != 0)
            start_failed(inst, ctd_closing_error());
        return;
    }
    if (st != GRPC_STATUS_OK) {
        start_failed(inst, orch_error_prefix(ctd_status_error(st, details), "preparing snapshot %s (%s)", inst->snapshot_key, inst->snapshotter));
        return;
    }
    inst->td.have_snapshot = true;
    size_t n = protobuf_c_message_get_packed_size(reply);
    uint8_t *buf = xmalloc(n ? n : 1);
    protobuf_c_message_pack(reply, buf);
    inst->prepared = protobuf_c_message_unpack(reply->descriptor, NULL, n, buf);
    free(buf);
    if (!inst->prepared) {
        start_failed(inst, orch_error_new(ORCH_E_INTERNAL, "cannot copy the snapshot's mounts"));
        return;
    }
    create_container(inst);
}

static void prepare_snapshot(orch_instance *inst)
{
    Containerd__Services__Snapshots__V1__PrepareSnapshotRequest__LabelsEntry le[2], *lp[2];
    for (int i = 0; i < 2; i++) {
        containerd__services__snapshots__v1__prepare_snapshot_request__labels_entry__init(&le[i]);
        lp[i] = &le[i];
    }
    le[0].key = CTD_LABEL_NAMESPACE;
    le[0].value = inst->rt->ns;
    le[1].key = CTD_LABEL_SERVICE;
    le[1].value = inst->svc->name;
    Containerd__Services__Snapshots__V1__PrepareSnapshotRequest req =
        CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
    req.snapshotter = inst->snapshotter;
    req.key = inst->snapshot_key;
    req.parent = (char *)inst->img->chain_id;
    req.n_labels = 2;
    req.labels = lp;
    if (icall(inst, CTD_M_SNAP_PREPARE, &req.base,
              &containerd__services__snapshots__v1__prepare_snapshot_response__descriptor,
              on_prepared) != 0)
        start_failed(inst, ctd_closing_error());
}

static void ensure_unpacked(orch_instance *inst);

static void on_unpacked(void *arg, const orch_error *err)
{
    orch_instance *inst = arg;
    ctd_rt *rt = inst->rt;
    if (err && err->code == ORCH_E_UNSUPPORTED && !rt->snapshotter_fixed &&
        strcmp(inst->snapshotter, "native") != 0) {
        /* no overlay on this kernel (or containerd built without it) */
        if (strcmp(rt->snapshotter, "native") != 0) {
            fprintf(stderr, "orchd: containerd: snapshotter %s is not available (%s); using "
                            "native from now on\n",
                    rt->snapshotter, err->msg);
            free(rt->snapshotter);
            rt->snapshotter = xstrdup("native");
        }
        free(inst->snapshotter);
        inst->snapshotter = xstrdup("native");
        ensure_unpacked(inst);
    } else if (err) {
        start_failed(inst, ctd_error_dup(err));
    } else if (inst->releasing || rt->shutting_down) {
        start_failed(inst, orch_error_new(ORCH_E_CANCELLED, "stopped while starting"));
    } else {
        prepare_snapshot(inst);
    }
    inst_unref(inst);
}

static void ensure_unpacked(orch_instance *inst)
{
    inst->refs++;
    if (ctd_unpack_ensure(inst->rt, inst->img, inst->snapshotter, on_unpacked, inst) != 0) {
        inst->refs--;
        start_failed(inst, ctd_closing_error());
    }
}

static void on_lease(orch_instance *inst, grpc_status_code st, const char *details,
                     ProtobufCMessage *reply)
{
    if (st != GRPC_STATUS_OK) {
        free(inst->lease);
        inst->lease = NULL;
        start_failed(inst, orch_error_prefix(ctd_status_error(st, details), "creating a lease"));
        return;
    }
    ensure_unpacked(inst);
}

static void create_lease(orch_instance *inst)
{
    char *uniq = ctd_random_hex(6);
    inst->lease = xasprintf("orchd-%s-%s", inst->id, uniq);
    free(uniq);
    ctd_lease_create lc;
    ctd_lease_create_init(&lc, inst->lease);
    if (icall_ex(inst, CTD_M_LEASE_CREATE, &lc.req.base,
                 &containerd__services__leases__v1__create_response__descriptor, NULL, 0, false,
                 on_lease) != 0) {
        free(inst->lease);
        inst->lease = NULL;
        start_failed(inst, ctd_closing_error());
    }
}

/* ---------------------------------------------------------------- start: adoption */

static void on_old_purged(void *arg, const orch_error *err)
{
    orch_instance *inst = arg;
    if (err)
        start_failed(inst, orch_error_prefix(ctd_error_dup(err), "removing the old container %s", inst->id));
    else if (inst->releasing || inst->rt->shutting_down)
        start_failed(inst, orch_error_new(ORCH_E_CANCELLED, "stopped while starting"));
    else
        create_lease(inst);
    inst_unref(inst);
}

static void purge_old(orch_instance *inst)
{
    inst->took_over = true;
    inst->refs++;
    ctd_purge_start(inst->rt, inst->id, inst->snapshotter, false, on_old_purged, inst);
}

static void on_task_get(orch_instance *inst, grpc_status_code st, const char *details,
                        ProtobufCMessage *reply)
{
    Containerd__Services__Tasks__V1__GetResponse *r =
        (Containerd__Services__Tasks__V1__GetResponse *)reply;
    if (st == GRPC_STATUS_OK && r->process &&
        r->process->status == CONTAINERD__V1__TYPES__STATUS__RUNNING && r->process->pid > 0) {
        /* adopt: the container, its task and its snapshot are ours now */
        inst->adopted = true;
        inst->td.have_container = inst->td.have_task = inst->td.have_snapshot = true;
        fprintf(stderr, "orchd: service %s: adopted running container %s (pid %u)\n",
                inst->svc->name, inst->id, r->process->pid);
        report_started(inst, (pid_t)r->process->pid);
        return;
    }
    /* not running: removed, and a fresh one made where ours go */
    free(inst->snapshotter);
    inst->snapshotter = xstrdup(inst->rt->snapshotter);
    free(inst->snapshot_key);
    inst->snapshot_key = xstrdup(inst->id);
    purge_old(inst);
}

static bool label_is(Containerd__Services__Containers__V1__Container *c, const char *key,
                     const char *value)
{
    for (size_t i = 0; i < c->n_labels; i++)
        if (strcmp(c->labels[i]->key, key) == 0)
            return strcmp(c->labels[i]->value, value) == 0;
    return false;
}

static void on_existing(orch_instance *inst, grpc_status_code st, const char *details,
                        ProtobufCMessage *reply)
{
    if (st == GRPC_STATUS_NOT_FOUND) {
        create_lease(inst);
        return;
    }
    if (st != GRPC_STATUS_OK) {
        start_failed(inst, orch_error_prefix(ctd_status_error(st, details), "looking up container %s", inst->id));
        return;
    }
    Containerd__Services__Containers__V1__Container *c =
        ((Containerd__Services__Containers__V1__GetContainerResponse *)reply)->container;
    if (!c || !label_is(c, CTD_LABEL_NAMESPACE, inst->rt->ns)) {
        start_failed(inst, orch_error_new(ORCH_E_EXISTS, "a container %s exists in containerd namespace %s and orchd did not create it (no label %s=%s); remove it or rename the service", inst->id, inst->rt->ns, CTD_LABEL_NAMESPACE, inst->rt->ns));
        return;
    }
    if (inst->svc->recreate != ORCH_RECREATE_ALWAYS &&
        label_is(c, CTD_LABEL_SPEC_HASH, inst->spec_hash) && c->snapshot_key &&
        *c->snapshot_key) {
        free(inst->snapshotter);
        inst->snapshotter = xstrdup(c->snapshotter ? c->snapshotter : "");
        free(inst->snapshot_key);
        inst->snapshot_key = xstrdup(c->snapshot_key);
        /* the same hash: the spec we would build now (helper commands) */
        free(inst->spec_json);
        inst->spec_json = c->spec && c->spec->value.data
                              ? xstrndup((const char *)c->spec->value.data, c->spec->value.len)
                              : NULL;
        Containerd__Services__Tasks__V1__GetRequest req =
            CONTAINERD__SERVICES__TASKS__V1__GET_REQUEST__INIT;
        req.container_id = inst->id;
        if (icall(inst, CTD_M_TASK_GET, &req.base,
                  &containerd__services__tasks__v1__get_response__descriptor, on_task_get) != 0)
            start_failed(inst, ctd_closing_error());
        return;
    }
    purge_old(inst);
}

/* ---------------------------------------------------------------- start: image */

static void on_image(void *arg, ctd_image *img, const char *name, const orch_error *err)
{
    orch_instance *inst = arg;
    if (err) {
        orch_error *e = ctd_error_dup(err);
        /* the image step retried a containerd that was away already
         * (fetch/pull.c, GET_RETRIES): what it reports is final */
        if (orch_error_is_transient(e))
            e->code = ORCH_E_INVALID;
        start_failed(inst, e);
    } else {
        inst->img = img;
        inst->image_name = xstrdup(name);
        orch_sha256_update(&inst->hash, "\nimage=", 7);
        orch_sha256_update(&inst->hash, img->target_digest, strlen(img->target_digest));
        uint8_t d[32];
        orch_sha256_final(&inst->hash, d);
        orch_hex(d, 32, inst->spec_hash);
        if (inst->releasing || inst->rt->shutting_down) {
            start_failed(inst, orch_error_new(ORCH_E_CANCELLED, "stopped while starting"));
        } else {
            Containerd__Services__Containers__V1__GetContainerRequest req =
                CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_REQUEST__INIT;
            req.id = inst->id;
            if (icall(inst, CTD_M_CONT_GET, &req.base,
                      &containerd__services__containers__v1__get_container_response__descriptor,
                      on_existing) != 0)
                start_failed(inst, ctd_closing_error());
        }
    }
    inst_unref(inst);
}

static int begin(orch_instance *inst)
{
    inst->ph = PH_STARTING;
    inst->refs++;
    /* pulls or imports the image first when needed (pull/pull.h) */
    int rc = ctd_image_ensure(inst->rt, inst->svc->name, inst->svc->image, inst->project_dir,
                              on_image, inst);
    if (rc != 0)
        inst->refs--;
    return rc;
}

static void begin_after_purge(void *arg)
{
    orch_instance *inst = arg;
    if (inst->rt->shutting_down || begin(inst) != 0)
        start_failed(inst, ctd_closing_error());
    inst_unref(inst);
}

/* ---------------------------------------------------------------- start: on the spot */

static int read_env_files(orch_instance *inst, const orch_env_ctx *ctx, char **err)
{
    const orch_service *svc = inst->svc;
    if (svc->env_files.n == 0)
        return 0;
    orch_kvlist env = {0};
    for (size_t i = 0; i < svc->env_files.n; i++) {
        char *path = ctd_path_join(ctx->project_dir, svc->env_files.v[i].s);
        char *why = NULL;
        int r = orch_envfile_read(path, &env, &why);
        free(path);
        if (r < 0) {
            *err = xasprintf("service %s: ENV_FILE %s", svc->name, why);
            free(why);
            orch_kvlist_free(&env);
            return -1;
        }
    }
    inst->env_file_env = orch_kvlist_envp(&env);
    orch_kvlist_free(&env);
    return 0;
}

static char *where(const orch_origin at)
{
    if (!at.file)
        return xstrdup("");
    return xasprintf(" (%s:%d)", at.file, at.line);
}

static int check_volumes(orch_instance *inst, const orch_env_ctx *ctx, char **err)
{
    const orch_service *svc = inst->svc;
    for (size_t i = 0; i < svc->n_volumes; i++) {
        const orch_volume *v = &svc->volumes[i];
        char *src = ctd_volume_source(v, ctx->project_dir, ctx->data_dir);
        char *at = where(v->at);
        struct stat st;
        int rc = 0;
        if (!src) {
            *err = xasprintf("service %s: VOLUME %s:%s: no %s to put it under%s", svc->name,
                             v->source, v->destination,
                             v->is_named ? "data directory" : "project directory", at);
            rc = -1;
        } else if (stat(src, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                *err = xasprintf("service %s: VOLUME %s:%s: the source %s is not a directory%s",
                                 svc->name, v->source, v->destination, src, at);
                rc = -1;
            }
        } else if (errno != ENOENT) {
            *err = xasprintf("service %s: VOLUME %s:%s: cannot use %s: %s%s", svc->name,
                             v->source, v->destination, src, strerror(errno), at);
            rc = -1;
        } else {
            /* a named volume is made on first use; so is a missing host
             * directory, as docker -v does */
            int m = orch_mkdir_p(src, 0755);
            if (m != 0) {
                *err = xasprintf("service %s: VOLUME %s:%s: cannot create %s: %s%s", svc->name,
                                 v->source, v->destination, src, strerror(-m), at);
                rc = -1;
            }
        }
        free(src);
        free(at);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* "<state>/orchd-log-relay" -> this orchd binary: the shim's binary logger
 * runs it, and orchd's main() recognises its name (src/cli/cmd_log_relay.c).
 * (The shim passes the URI's query as "key value" pairs in random order,
 * so the verb cannot travel as an argument.) */
static char *log_relay_path(const orch_env_ctx *ctx, const char *svc_name, char **err)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        *err = xasprintf("service %s: cannot find the orchd binary for the log relay: %s",
                         svc_name, strerror(errno));
        return NULL;
    }
    self[n] = '\0';
    char *link = xasprintf("%s/orchd-log-relay", ctx->state_dir);
    char cur[4096];
    ssize_t m = readlink(link, cur, sizeof cur - 1);
    if (m > 0) {
        cur[m] = '\0';
        if (strcmp(cur, self) == 0)
            return link;
    }
    char *tmp = xasprintf("%s.%d", link, (int)getpid());
    unlink(tmp);
    if (symlink(self, tmp) != 0 || rename(tmp, link) != 0) {
        *err = xasprintf("service %s: cannot create the log relay link %s: %s", svc_name, link,
                         strerror(errno));
        unlink(tmp);
        free(tmp);
        free(link);
        return NULL;
    }
    free(tmp);
    return link;
}

static int log_uris(orch_instance *inst, const orch_env_ctx *ctx, char **err)
{
    const orch_service *svc = inst->svc;
    char *deflt = orch_log_path_default(ctx->state_dir, inst->rt->ns, svc->name);
    char *out = svc->stdout_path ? ctd_path_join(ctx->project_dir, svc->stdout_path)
                                 : xstrdup(deflt);
    char *errp = svc->stderr_path ? ctd_path_join(ctx->project_dir, svc->stderr_path)
                                  : xstrdup(deflt);
    free(deflt);
    int rc = 0;
    const char *what[2] = {svc->stdout_path ? "STDOUT" : "log file",
                           svc->stderr_path ? "STDERR" : "log file"};
    const char *paths[2] = {out, errp};
    for (int i = 0; i < 2 && rc == 0; i++) {
        /* A container may write into the directory (a VOLUME over it):
         * never follow a symlink it planted there, nor wait on a FIFO. */
        int m = orch_mkdir_parents(paths[i], 0750);
        char *why = NULL;
        int fd = m == 0 ? orch_open_file(paths[i], O_WRONLY | O_APPEND | O_CREAT, 0640,
                                         ORCH_OPEN_NOFOLLOW | ORCH_OPEN_CHARDEV, &why)
                        : -1;
        if (fd < 0) {
            *err = xasprintf("service %s: cannot open %s '%s': %s", svc->name, what[i], paths[i],
                             m ? strerror(-m) : why);
            rc = -1;
        } else {
            close(fd);
        }
        free(why);
    }
    if (rc == 0) {
        /* always the relay, even for one file: it drops (and counts) output
         * on a full disk where the shim's file:// logger would block the
         * container for good (logwatch.c reads the count) */
        char *relay = log_relay_path(ctx, svc->name, err);
        if (!relay) {
            rc = -1;
        } else {
            char *status = ctd_log_status_path(ctx->state_dir, inst->rt->ns, svc->name);
            char *rp = ctd_uri_path(relay), *qo = ctd_uri_query(out), *qe = ctd_uri_query(errp),
                 *qs = ctd_uri_query(status);
            /* files the Orchfile names get the output as written (no
             * stamps, no rotation), as a bare service's do */
            static const char *const named[] = {"", "&--named=stdout", "&--named=stderr",
                                                "&--named=both"};
            inst->stdout_uri = xasprintf("binary://%s?--stdout=%s&--stderr=%s&--status=%s"
                                         "&--max-size=%llu&--keep=%u%s",
                                         rp, qo, qe, qs,
                                         (unsigned long long)ctx->log_max_size, ctx->log_keep,
                                         named[(svc->stdout_path != NULL) |
                                               (svc->stderr_path != NULL) << 1]);
            inst->stderr_uri = xstrdup(inst->stdout_uri);
            free(rp);
            free(qo);
            free(qe);
            free(qs);
            free(status);
            free(relay);
            ctd_logwatch_start(inst->rt, ctx->state_dir);
        }
    }
    free(out);
    free(errp);
    return rc;
}

static void hash_service(orch_instance *inst)
{
    orch_sha256_init(&inst->hash);
    orch_model one = {.services = (orch_service *)inst->svc, .n_services = 1};
    char *json = orch_model_to_json(&one, ORCH_JSON_TYPED);
    if (json) {
        orch_sha256_update(&inst->hash, json, strlen(json));
        free(json);
    }
    for (char **e = inst->env_file_env; e && *e; e++) {
        orch_sha256_update(&inst->hash, "\nenv_file:", 10);
        orch_sha256_update(&inst->hash, *e, strlen(*e));
    }
    orch_sha256_update(&inst->hash, inst->stdout_uri, strlen(inst->stdout_uri));
    const char *pivot = inst->rt->no_pivot_root ? "\nno_pivot_root" : "\npivot_root";
    orch_sha256_update(&inst->hash, pivot, strlen(pivot));
    /* A container made under another seccomp setting (or by an orchd from
     * before the profile) is not adopted: it is recreated with this one. */
    const char *sc = inst->rt->seccomp == CTD_SECCOMP_UNCONFINED
                         ? "\nseccomp=unconfined"
                         : "\nseccomp=containerd-1.6-default";
    orch_sha256_update(&inst->hash, sc, strlen(sc));
}

static void timer_init(orch_instance *inst)
{
    inst->timer = xcalloc(1, sizeof *inst->timer);
    uv_timer_init(inst->rt->loop, inst->timer);
    inst->timer->data = inst;
}

orch_instance *ctd_instance_start(ctd_rt *rt, const orch_service *svc, const orch_env_ctx *ctx,
                                  orch_instance_cbs cbs, void *owner, char **err)
{
    *err = NULL;
    if (!svc->image || !*svc->image) {
        *err = xasprintf("service %s: the containerd runtime needs FROM (an image)",
                         svc->name ? svc->name : "?");
        return NULL;
    }
    orch_instance *inst = xcalloc(1, sizeof *inst);
    inst->rt = rt;
    inst->refs = 1;
    inst->td.rt = rt;
    inst->td.hooks = &td_hooks;
    inst->td.owner = inst;
    ctd_svc_copy_init(&inst->copy, svc);
    inst->svc = &inst->copy.svc;
    inst->project_dir = ctx->project_dir ? xstrdup(ctx->project_dir) : NULL;
    inst->data_dir = ctx->data_dir ? xstrdup(ctx->data_dir) : NULL;
    inst->cbs = cbs;
    inst->owner = owner;
    inst->id = ctd_container_id(rt->ns, svc->name);
    inst->snapshotter = xstrdup(rt->snapshotter);
    inst->snapshot_key = xstrdup(inst->id);
    if (read_env_files(inst, ctx, err) != 0 || check_volumes(inst, ctx, err) != 0 ||
        log_uris(inst, ctx, err) != 0) {
        inst_free_now(inst);
        return NULL;
    }
    hash_service(inst);
    timer_init(inst);
    inst->next = rt->instances;
    if (rt->instances)
        rt->instances->prev = inst;
    rt->instances = inst;
    ctd_rt_claim(rt, inst->id);
    inst->ph = PH_QUEUED;
    inst->refs++;
    if (ctd_purge_wait(rt, inst->id, begin_after_purge, inst))
        return inst;
    inst->refs--;
    if (begin(inst) != 0) {
        *err = orch_error_take_msg(orch_error_prefix(ctd_closing_error(), "service %s", svc->name));
        inst->ph = PH_RELEASED;
        inst_unref(inst);
        return NULL;
    }
    return inst;
}

/* ---------------------------------------------------------------- helper commands */

bool ctd_instance_exec_target(const orch_instance *inst, ctd_exec_target *t)
{
    t->id = inst->id;
    t->service = inst->svc->name;
    t->spec_json = inst->spec_json;
    t->stdout_uri = inst->stdout_uri;
    t->stderr_uri = inst->stderr_uri;
    return inst->ph == PH_RUNNING && !inst->releasing && inst->td.have_task && !inst->td.exit_seen;
}

/* ---------------------------------------------------------------- signal, release */

static int stop_signal(const ctd_image *img)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                 {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"STOP", SIGSTOP},
                 {"PWR", SIGPWR},   {"WINCH", SIGWINCH}};
    const char *s = img ? img->config.stop_signal : NULL;
    if (!s || !*s)
        return SIGTERM;
    char *end;
    long n = strtol(s, &end, 10);
    if (*end == '\0' && n > 0 && n < 65)
        return (int)n;
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].sig;
    return SIGTERM;
}

static int send_signal(orch_instance *inst, int sig);

/* A Kill cut by containerd going away (UNAVAILABLE, or the call lost) is
 * sent again; with wait_for_ready it then waits for containerd to return,
 * so a stop asked for during an outage happens when containerd is back. */
#define SIG_RESENDS 20
static void on_killed(orch_instance *inst, grpc_status_code st, const char *details,
                      ProtobufCMessage *reply)
{
    if (st == GRPC_STATUS_OK || st == GRPC_STATUS_NOT_FOUND || inst->td.exit_seen)
        return; /* NOT_FOUND: it has ended; the Wait reports it */
    bool lost = st == GRPC_STATUS_UNAVAILABLE || st == GRPC_STATUS_DEADLINE_EXCEEDED ||
                st == GRPC_STATUS_CANCELLED || st == GRPC_STATUS_UNKNOWN;
    if (lost && !inst->rt->shutting_down && !inst->releasing &&
        inst->sig_resends++ < SIG_RESENDS) {
        if (inst->sig_resends == 1)
            log_line(inst, "sending signal %d to task %s: %s; sending it again once containerd "
                           "is back", inst->last_sig, inst->id, details);
        if (send_signal(inst, inst->last_sig) == 0)
            return;
    }
    log_line(inst, "sending a signal to task %s: %s", inst->id, details);
}

static int send_signal(orch_instance *inst, int sig)
{
    Containerd__Services__Tasks__V1__KillRequest req =
        CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
    req.container_id = inst->id;
    req.signal = (uint32_t)sig;
    req.all = true;
    return icall_ex(inst, CTD_M_TASK_KILL, &req.base, NULL, NULL, CTD_NO_DEADLINE, true,
                    on_killed);
}

int ctd_instance_signal(orch_instance *inst, int sig)
{
    if (!inst->started_reported || inst->td.exit_seen || !inst->td.have_task)
        return -ESRCH;
    if (sig == SIGTERM)
        sig = stop_signal(inst->img); /* the image's STOPSIGNAL, as docker stop does */
    if (inst->last_sig != SIGKILL) /* a SIGKILL asked for stays the one resent */
        inst->last_sig = sig;
    inst->sig_resends = 0;
    int rc = send_signal(inst, sig);
    if (rc != 0 && inst->pid > 0 && !inst->td.exit_seen) {
        /* the connection is closing: the task's init is a host process */
        return kill(inst->pid, sig) == 0 ? 0 : -errno;
    }
    return rc;
}

static void release_now(orch_instance *inst)
{
    inst->ph = PH_TEARDOWN;
    teardown_step(inst);
}

static void release_failed(orch_instance *inst)
{
    inst->ph = PH_RELEASED;
    if (inst->release_done)
        inst->release_done(inst->release_arg);
    inst_unref(inst);
}

void ctd_instance_release(orch_instance *inst, void (*done)(void *arg), void *arg)
{
    if (inst->releasing)
        return;
    inst->releasing = true;
    inst->release_done = done;
    inst->release_arg = arg;
    switch (inst->ph) {
    case PH_FAILED:
        /* undone before the failure was reported */
        defer(inst, 0, release_failed);
        break;
    case PH_RUNNING:
    case PH_EXITED:
        /* a running task is killed and waited for first (teardown_step) */
        defer(inst, 0, release_now);
        break;
    default:
        /* starting or undoing: the next step sees `releasing` and stops */
        break;
    }
}
