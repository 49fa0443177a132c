/* Removing a container that no live instance owns: one left by an earlier
 * daemon (not adopted), or found in the way of a new start. In order, never
 * deleting before the exit was seen (docs/CONTAINERD.md):
 *
 *   Containers.Get                 (its labels, snapshotter and snapshot key)
 *   Tasks.Kill SIGKILL, all        (NOT_FOUND: no task, or it already ended)
 *   Tasks.Wait                     (only after a successful Kill)
 *   Tasks.Delete                   (NOT_FOUND is fine)
 *   Containers.Delete
 *   Snapshots.Remove               (NOT_FOUND is fine)
 *
 * A container id without a record still gets Snapshots.Remove of the key
 * <id> in the given snapshotter (a start that died between Prepare and
 * Containers.Create). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerd/services/containers/v1/containers.pb-c.h"
#include "containerd/services/snapshots/v1/snapshots.pb-c.h"
#include "containerd/services/tasks/v1/tasks.pb-c.h"
#include "containerd/container/container.h"
#include "containerd/fetch/fetch.h"
#include "containerd/store/store.h"
#include "common/xalloc.h"

typedef struct pwaiter {
    void (*then)(void *arg);
    void *arg;
} pwaiter;

struct ctd_purge {
    ctd_purge *next;
    ctd_rt *rt;
    char *id;
    char *snapshotter;
    char *snapshot_key;
    bool force;
    bool has_container;
    orch_error *err; /* the first step that failed */
    ctd_purge_cb cb;
    void *arg;
    pwaiter *w;
    size_t n_w;
};

static void purge_done(ctd_purge *p)
{
    ctd_rt *rt = p->rt;
    for (ctd_purge **q = &rt->purges; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            break;
        }
    if (p->cb)
        p->cb(p->arg, p->err);
    else if (p->err)
        fprintf(stderr, "orchd: containerd: removing container %s: %s\n", p->id, p->err->msg);
    for (size_t i = 0; i < p->n_w; i++)
        p->w[i].then(p->w[i].arg);
    free(p->w);
    free(p->id);
    free(p->snapshotter);
    free(p->snapshot_key);
    orch_error_free(p->err);
    free(p);
    ctd_rt_work_done(rt);
}

static void note(ctd_purge *p, const char *what, grpc_status_code st, const char *details)
{
    if (st == GRPC_STATUS_OK || st == GRPC_STATUS_NOT_FOUND || p->err)
        return;
    p->err = orch_error_prefix(ctd_status_error(st, details), "%s", what);
}

static void on_snapshot_removed(void *arg, grpc_status_code st, const char *details,
                                ProtobufCMessage *reply)
{
    ctd_purge *p = arg;
    note(p, "removing its snapshot", st, details);
    purge_done(p);
}

static void remove_snapshot(ctd_purge *p)
{
    Containerd__Services__Snapshots__V1__RemoveSnapshotRequest req =
        CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
    req.snapshotter = p->snapshotter;
    req.key = p->snapshot_key ? p->snapshot_key : p->id;
    if (!*req.snapshotter || ctd_rt_call(p->rt, CTD_M_SNAP_REMOVE, &req.base, NULL, NULL, 0, false,
                                         on_snapshot_removed, p) != 0)
        purge_done(p);
}

static void on_container_deleted(void *arg, grpc_status_code st, const char *details,
                                 ProtobufCMessage *reply)
{
    ctd_purge *p = arg;
    note(p, "deleting the container", st, details);
    remove_snapshot(p);
}

static void on_task_deleted(void *arg, grpc_status_code st, const char *details,
                            ProtobufCMessage *reply)
{
    ctd_purge *p = arg;
    note(p, "deleting its task", st, details);
    Containerd__Services__Containers__V1__DeleteContainerRequest req =
        CONTAINERD__SERVICES__CONTAINERS__V1__DELETE_CONTAINER_REQUEST__INIT;
    req.id = p->id;
    if (ctd_rt_call(p->rt, CTD_M_CONT_DELETE, &req.base, NULL, NULL, 0, false,
                    on_container_deleted, p) != 0)
        purge_done(p);
}

static void delete_task(ctd_purge *p)
{
    Containerd__Services__Tasks__V1__DeleteTaskRequest req =
        CONTAINERD__SERVICES__TASKS__V1__DELETE_TASK_REQUEST__INIT;
    req.container_id = p->id;
    if (ctd_rt_call(p->rt, CTD_M_TASK_DELETE, &req.base,
                    &containerd__services__tasks__v1__delete_response__descriptor, NULL, 0, false,
                    on_task_deleted, p) != 0)
        purge_done(p);
}

static void on_waited(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *reply)
{
    ctd_purge *p = arg;
    note(p, "waiting for its task to end", st, details);
    delete_task(p);
}

static void on_killed(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *reply)
{
    ctd_purge *p = arg;
    if (st != GRPC_STATUS_OK) {
        /* NOT_FOUND: no task, or it had ended already */
        note(p, "killing its task", st, details);
        delete_task(p);
        return;
    }
    Containerd__Services__Tasks__V1__WaitRequest req =
        CONTAINERD__SERVICES__TASKS__V1__WAIT_REQUEST__INIT;
    req.container_id = p->id;
    if (ctd_rt_call(p->rt, CTD_M_TASK_WAIT, &req.base,
                    &containerd__services__tasks__v1__wait_response__descriptor, NULL,
                    CTD_KILL_WAIT_MS, false, on_waited, p) != 0)
        purge_done(p);
}

static bool labelled_ours(ctd_purge *p, Containerd__Services__Containers__V1__Container *c)
{
    for (size_t i = 0; i < c->n_labels; i++)
        if (strcmp(c->labels[i]->key, CTD_LABEL_NAMESPACE) == 0)
            return strcmp(c->labels[i]->value, p->rt->ns) == 0;
    return false;
}

static void on_container(void *arg, grpc_status_code st, const char *details,
                         ProtobufCMessage *reply)
{
    ctd_purge *p = arg;
    if (st == GRPC_STATUS_NOT_FOUND) {
        remove_snapshot(p);
        return;
    }
    if (st != GRPC_STATUS_OK) {
        p->err = orch_error_prefix(ctd_status_error(st, details), "looking it up");
        purge_done(p);
        return;
    }
    Containerd__Services__Containers__V1__GetContainerResponse *r =
        (Containerd__Services__Containers__V1__GetContainerResponse *)reply;
    Containerd__Services__Containers__V1__Container *c = r->container;
    if (!c || (!p->force && !labelled_ours(p, c))) {
        p->err = orch_error_new(ORCH_E_EXISTS,
                                "it is not labelled %s=%s, so orchd did not create it; left alone",
                                CTD_LABEL_NAMESPACE, p->rt->ns);
        purge_done(p);
        return;
    }
    p->has_container = true;
    if (c->snapshotter && *c->snapshotter) {
        free(p->snapshotter);
        p->snapshotter = xstrdup(c->snapshotter);
    }
    if (c->snapshot_key && *c->snapshot_key) {
        free(p->snapshot_key);
        p->snapshot_key = xstrdup(c->snapshot_key);
    }
    Containerd__Services__Tasks__V1__KillRequest req =
        CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
    req.container_id = p->id;
    req.signal = SIGKILL;
    req.all = true;
    if (ctd_rt_call(p->rt, CTD_M_TASK_KILL, &req.base, NULL, NULL, 0, false, on_killed, p) != 0)
        purge_done(p);
}

void ctd_purge_start(ctd_rt *rt, const char *id, const char *snapshotter, bool force,
                     ctd_purge_cb cb, void *arg)
{
    ctd_purge *p = xcalloc(1, sizeof *p);
    p->rt = rt;
    p->id = xstrdup(id);
    p->snapshotter = xstrdup(snapshotter ? snapshotter : "");
    p->force = force;
    p->cb = cb;
    p->arg = arg;
    p->next = rt->purges;
    rt->purges = p;
    Containerd__Services__Containers__V1__GetContainerRequest req =
        CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_REQUEST__INIT;
    req.id = p->id;
    if (ctd_rt_call(rt, CTD_M_CONT_GET, &req.base,
                    &containerd__services__containers__v1__get_container_response__descriptor,
                    NULL, 0, false, on_container, p) != 0) {
        p->err = ctd_closing_error();
        purge_done(p); /* callers only start purges from callbacks */
    }
}

bool ctd_purge_wait(ctd_rt *rt, const char *id, void (*then)(void *arg), void *arg)
{
    for (ctd_purge *p = rt->purges; p; p = p->next)
        if (strcmp(p->id, id) == 0) {
            p->w = xrealloc(p->w, (p->n_w + 1) * sizeof *p->w);
            p->w[p->n_w++] = (pwaiter){then, arg};
            return true;
        }
    return false;
}
