/* Removing a container that no live instance owns: one left by an earlier
 * daemon (not adopted), or found in the way of a new start: Containers.Get
 * (its labels, snapshotter and snapshot key), then the teardown sequence
 * (teardown.h: Kill, Wait, Tasks.Delete, Containers.Delete,
 * Snapshots.Remove).
 *
 * A container id without a record still gets Snapshots.Remove of the key
 * <id> in the given snapshotter (a start that died between Prepare and
 * Containers.Create). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerd/services/containers/v1/containers.pb-c.h"
#include "containerd/container/container.h"
#include "containerd/container/teardown.h"
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
    ctd_teardown td;
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

static void td_note(void *owner, const char *doing, grpc_status_code st, const char *details)
{
    ctd_purge *p = owner;
    if (!p->err) /* the first step that failed */
        p->err = orch_error_prefix(ctd_status_error(st, details), "%s", doing);
}

static void td_done(void *owner)
{
    purge_done(owner);
}

static const ctd_teardown_hooks td_hooks = {.note = td_note, .done = td_done};

/* What there is to remove: the task (if any) and the container when it has
 * a record, the snapshot when a snapshotter is known. */
static void tear_down(ctd_purge *p, bool has_container)
{
    p->td = (ctd_teardown){.rt = p->rt,
                           .id = p->id,
                           .snapshotter = p->snapshotter,
                           .snapshot_key = p->snapshot_key ? p->snapshot_key : p->id,
                           .have_task = has_container,
                           .have_container = has_container,
                           .have_snapshot = *p->snapshotter != '\0',
                           .hooks = &td_hooks,
                           .owner = p};
    ctd_teardown_step(&p->td);
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
        tear_down(p, false);
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
    if (c->snapshotter && *c->snapshotter) {
        free(p->snapshotter);
        p->snapshotter = xstrdup(c->snapshotter);
    }
    if (c->snapshot_key && *c->snapshot_key) {
        free(p->snapshot_key);
        p->snapshot_key = xstrdup(c->snapshot_key);
    }
    tear_down(p, true);
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
