/* The container teardown sequence (teardown.h): one table of steps with
 * their deadlines, one driver. */
#include <signal.h>
#include <stdlib.h>

#include "containerd/services/containers/v1/containers.pb-c.h"
#include "containerd/services/snapshots/v1/snapshots.pb-c.h"
#include "containerd/services/tasks/v1/tasks.pb-c.h"
#include "containerd/container/teardown.h"
#include "common/xalloc.h"

typedef enum td_step { TD_KILL, TD_WAIT, TD_TASK_DELETE, TD_CONTAINER_DELETE, TD_SNAPSHOT_REMOVE } td_step;

/* Kill and the deletions wait for a containerd that restarts (up to the
 * teardown deadline), so that nothing is left half-removed; the Wait for a
 * SIGKILLed task has a deadline of its own. */
static const struct {
    const char *method;
    const ProtobufCMessageDescriptor *reply;
    int64_t timeout_ms;
    bool wait_for_ready;
    const char *doing;
} steps[] = {
    [TD_KILL] = {CTD_M_TASK_KILL, NULL, CTD_TEARDOWN_TIMEOUT_MS, true, "killing its task"},
    [TD_WAIT] = {CTD_M_TASK_WAIT, &containerd__services__tasks__v1__wait_response__descriptor,
                 CTD_KILL_WAIT_MS, false, "waiting for its task to end"},
    [TD_TASK_DELETE] = {CTD_M_TASK_DELETE,
                        &containerd__services__tasks__v1__delete_response__descriptor,
                        CTD_TEARDOWN_TIMEOUT_MS, true, "deleting its task"},
    [TD_CONTAINER_DELETE] = {CTD_M_CONT_DELETE, NULL, CTD_TEARDOWN_TIMEOUT_MS, true,
                             "deleting the container"},
    [TD_SNAPSHOT_REMOVE] = {CTD_M_SNAP_REMOVE, NULL, CTD_TEARDOWN_TIMEOUT_MS, true,
                            "removing its snapshot"},
};

typedef struct td_call {
    ctd_teardown *t;
    td_step step;
} td_call;

static void on_answer(void *arg, grpc_status_code st, const char *details,
                      ProtobufCMessage *reply);

/* Sends step; 0, or -errno (the connection is closing) and nothing runs. */
static int send_step(ctd_teardown *t, td_step step)
{
    Containerd__Services__Tasks__V1__KillRequest kill =
        CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
    Containerd__Services__Tasks__V1__WaitRequest wait =
        CONTAINERD__SERVICES__TASKS__V1__WAIT_REQUEST__INIT;
    Containerd__Services__Tasks__V1__DeleteTaskRequest del_task =
        CONTAINERD__SERVICES__TASKS__V1__DELETE_TASK_REQUEST__INIT;
    Containerd__Services__Containers__V1__DeleteContainerRequest del_container =
        CONTAINERD__SERVICES__CONTAINERS__V1__DELETE_CONTAINER_REQUEST__INIT;
    Containerd__Services__Snapshots__V1__RemoveSnapshotRequest rm_snapshot =
        CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
    const ProtobufCMessage *req = NULL;
    switch (step) {
    case TD_KILL:
        kill.container_id = (char *)t->id;
        kill.signal = SIGKILL;
        kill.all = true;
        req = &kill.base;
        break;
    case TD_WAIT:
        wait.container_id = (char *)t->id;
        req = &wait.base;
        break;
    case TD_TASK_DELETE:
        del_task.container_id = (char *)t->id;
        req = &del_task.base;
        break;
    case TD_CONTAINER_DELETE:
        del_container.id = (char *)t->id;
        req = &del_container.base;
        break;
    case TD_SNAPSHOT_REMOVE:
        rm_snapshot.snapshotter = (char *)t->snapshotter;
        rm_snapshot.key = (char *)t->snapshot_key;
        req = &rm_snapshot.base;
        break;
    }
    td_call *c = xmalloc(sizeof *c);
    c->t = t;
    c->step = step;
    if (t->hooks->hold)
        t->hooks->hold(t->owner);
    int rc = ctd_rt_call(t->rt, steps[step].method, req, steps[step].reply, NULL,
                         steps[step].timeout_ms, steps[step].wait_for_ready, on_answer, c);
    if (rc != 0) {
        free(c);
        if (t->hooks->drop)
            t->hooks->drop(t->owner);
    }
    return rc;
}

static void on_answer(void *arg, grpc_status_code st, const char *details,
                      ProtobufCMessage *reply)
{
    (void)reply;
    td_call *c = arg;
    ctd_teardown *t = c->t;
    td_step step = c->step;
    free(c);
    const ctd_teardown_hooks *h = t->hooks;
    void *owner = t->owner;
    if (st != GRPC_STATUS_OK && st != GRPC_STATUS_NOT_FOUND && h->note)
        h->note(owner, steps[step].doing, st, details);
    bool go_on = true;
    switch (step) {
    case TD_KILL:
        if (t->exit_seen || t->wait_inflight) {
            go_on = false; /* the Wait that saw (or will see) the exit goes on */
        } else if (st == GRPC_STATUS_OK) {
            t->wait_inflight = true;
            if (send_step(t, TD_WAIT) == 0) {
                go_on = false;
            } else {
                t->wait_inflight = false;
                t->exit_seen = true;
            }
        } else {
            t->exit_seen = true; /* NOT_FOUND: no task, or it had ended already */
        }
        break;
    case TD_WAIT:
        t->wait_inflight = false;
        t->exit_seen = true;
        break;
    case TD_TASK_DELETE:
        t->have_task = false;
        break;
    case TD_CONTAINER_DELETE:
        t->have_container = false;
        break;
    case TD_SNAPSHOT_REMOVE:
        t->have_snapshot = false;
        break;
    }
    if (go_on)
        ctd_teardown_step(t); /* may end the owner (done): t is not touched after */
    if (h->drop)
        h->drop(owner);
}

void ctd_teardown_step(ctd_teardown *t)
{
    if (t->have_task && !t->exit_seen) {
        if (t->kill_sent)
            return; /* the Kill's or the Wait's answer goes on */
        t->kill_sent = true;
        if (send_step(t, TD_KILL) == 0)
            return;
        t->exit_seen = true; /* closing: nothing more can be done */
    }
    if (t->have_task) {
        if (send_step(t, TD_TASK_DELETE) == 0)
            return;
        t->have_task = false;
    }
    if (t->have_container) {
        if (send_step(t, TD_CONTAINER_DELETE) == 0)
            return;
        t->have_container = false;
    }
    if (t->have_snapshot) {
        if (send_step(t, TD_SNAPSHOT_REMOVE) == 0)
            return;
        t->have_snapshot = false;
    }
    t->hooks->done(t->owner);
}
