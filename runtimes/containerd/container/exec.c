/* Helper commands (HEALTHCHECK, STOP, RELOAD) inside a container's task: the
 * ops table's exec (docs/CONTAINERD.md, "Helper commands").
 *
 *   Tasks.Exec(exec_id, spec = the container's own OCI process with args
 *   /bin/sh -c command, stdout/stderr = the container's log URIs, no stdin)
 *   -> Tasks.Start(exec_id) -> Tasks.Wait(exec_id) -> report the status
 *   -> Tasks.DeleteProcess(exec_id).
 *
 * A timeout reports timed_out and kills; a cancel kills and never reports.
 * Killing is Tasks.Kill(exec_id, SIGKILL), then the Wait (bounded) sees the
 * end. DeleteProcess follows in every case once Exec was sent, in the
 * background after a report or a cancel. The handle copies what it needs
 * (ids, log URIs): the instance may be released first. It stays allocated
 * until its last gRPC callback has run, and the module's shutdown waits for
 * it (rt->execs). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "containerd/container/container.h"
#include "containerd/core/ctd_status.h"
#include "containerd/services/tasks/v1/tasks.pb-c.h"
#include "containerd/container/spec.h"

struct orch_exec {
    orch_exec *next, *prev; /* rt->execs */
    ctd_rt *rt;
    char *service, *container_id, *exec_id;
    orch_exec_cb cb;
    void *owner;
    uv_timer_t *timer; /* the timeout; closed when everything is done */
    int calls;         /* gRPC calls in flight: x lives until 0 */
    ctd_req *wait_req; /* the Wait in flight (ctd_cancel), else NULL */
    bool reported;     /* cb ran, or cancelled: it never will */
    bool exec_sent;    /* DeleteProcess is owed */
    bool exec_inflight, start_inflight;
    bool started; /* Start succeeded: the process may run */
    bool ended;   /* its end was seen, or given up on */
    bool kill_wanted, kill_sent, delete_sent, closing;
};

static unsigned long long exec_counter; /* exec ids: unique per module */

static void advance(orch_exec *x);

/* ---------------------------------------------------------------- plumbing */

static void on_timer_closed(uv_handle_t *h)
{
    orch_exec *x = h->data;
    ctd_rt *rt = x->rt;
    if (x->prev)
        x->prev->next = x->next;
    else
        rt->execs = x->next;
    if (x->next)
        x->next->prev = x->prev;
    free(x->service);
    free(x->container_id);
    free(x->exec_id);
    free(h);
    free(x);
    ctd_rt_work_done(rt);
}

static int xcall(orch_exec *x, const char *method, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *desc, int64_t timeout_ms, bool wait_for_ready,
                 ctd_reply_cb cb, ctd_req **handle)
{
    if (!x->rt->conn)
        return -1;
    ctd_call_opts o = {.timeout_ms = timeout_ms, .wait_for_ready = wait_for_ready};
    int rc = ctd_call_ex(x->rt->conn, method, req, desc, &o, cb, x, handle);
    if (rc == 0)
        x->calls++;
    return rc;
}

static void report(orch_exec *x, const orch_exec_result *r)
{
    if (x->reported)
        return;
    x->reported = true;
    uv_timer_stop(x->timer);
    x->cb(x->owner, r);
}

static void report_error(orch_exec *x, const char *what, const char *details)
    __attribute__((nonnull));
static void report_error(orch_exec *x, const char *what, const char *details)
{
    if (x->reported)
        return;
    char *m = xasprintf("service %s: %s in container %s: %s", x->service, what, x->container_id,
                        details);
    orch_exec_result r = {.err = m};
    report(x, &r);
    free(m);
}

static void note(orch_exec *x, const char *what, grpc_status_code st, const char *details)
{
    if (st != GRPC_STATUS_OK && st != GRPC_STATUS_NOT_FOUND)
        fprintf(stderr, "orchd: service %s: containerd: %s of command %s in container %s: %s\n",
                x->service, what, x->exec_id, x->container_id, details);
}

/* ---------------------------------------------------------------- replies */

static void on_deleted(void *arg, grpc_status_code st, const char *details,
                       ProtobufCMessage *reply)
{
    (void)reply;
    orch_exec *x = arg;
    x->calls--;
    /* "ttrpc: closed": the task was deleted meanwhile (a STOP command that
     * ended it, say), and its shim with every process record. Never
     * started: the failed Exec or Start was reported already (a probe
     * every second while containerd is away would flood the log). */
    if (x->started && !ctd_status_shim_gone(st, details))
        note(x, "deleting the process", st, details);
    advance(x);
}

static void on_killed(void *arg, grpc_status_code st, const char *details,
                      ProtobufCMessage *reply)
{
    (void)reply;
    orch_exec *x = arg;
    x->calls--;
    if (st != GRPC_STATUS_OK && st != GRPC_STATUS_NOT_FOUND) {
        /* NOT_FOUND: it had ended, the Wait says so; anything else: the
         * Wait may never return, stop waiting */
        note(x, "killing", st, details);
        if (x->wait_req)
            ctd_cancel(x->wait_req);
        else
            x->ended = true;
    }
    advance(x);
}

static void on_waited(void *arg, grpc_status_code st, const char *details,
                      ProtobufCMessage *reply)
{
    orch_exec *x = arg;
    x->calls--;
    x->wait_req = NULL;
    if (st == GRPC_STATUS_OK) {
        Containerd__Services__Tasks__V1__WaitResponse *w =
            (Containerd__Services__Tasks__V1__WaitResponse *)reply;
        x->ended = true;
        orch_exec_result r = {.status = ctd_wait_status(w->exit_status)};
        report(x, &r);
    } else if (st == GRPC_STATUS_NOT_FOUND) {
        /* the task was deleted meanwhile, and the process with it */
        x->ended = true;
        report_error(x, "the command", "the container's task ended while it ran");
    } else {
        /* containerd restarting, the call cut or the connection closing:
         * the end is unknown; kill it once (waiting for containerd to come
         * back), then give up */
        report_error(x, "waiting for the command", details);
        if (x->kill_sent || x->rt->shutting_down)
            x->ended = true;
        x->kill_wanted = true;
    }
    advance(x);
}

static void on_started(void *arg, grpc_status_code st, const char *details,
                       ProtobufCMessage *reply)
{
    (void)reply;
    orch_exec *x = arg;
    x->calls--;
    x->start_inflight = false;
    if (st == GRPC_STATUS_OK) {
        x->started = true;
    } else {
        /* runc could not start it (no /bin/sh in the image, say) */
        x->ended = true;
        report_error(x, "starting a command", details);
    }
    advance(x);
}

static void on_exec(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *reply)
{
    (void)reply;
    orch_exec *x = arg;
    x->calls--;
    x->exec_inflight = false;
    if (st != GRPC_STATUS_OK) {
        x->ended = true;
        /* an id someone else holds is not ours to delete */
        if (st == GRPC_STATUS_ALREADY_EXISTS)
            x->exec_sent = false;
        report_error(x, "running a command", details);
        advance(x);
        return;
    }
    if (x->kill_wanted) { /* cancelled, timed out or shut down before it started */
        x->ended = true;
        report_error(x, "running a command", "the containerd runtime is shutting down");
        advance(x);
        return;
    }
    Containerd__Services__Tasks__V1__StartRequest req =
        CONTAINERD__SERVICES__TASKS__V1__START_REQUEST__INIT;
    req.container_id = x->container_id;
    req.exec_id = x->exec_id;
    if (xcall(x, CTD_M_TASK_START, &req.base,
              &containerd__services__tasks__v1__start_response__descriptor, 0, false, on_started,
              NULL) == 0) {
        x->start_inflight = true;
    } else {
        x->ended = true;
        report_error(x, "starting a command", "the containerd connection is closing");
    }
    advance(x);
}

/* ---------------------------------------------------------------- the sequence */

/* Moves on from wherever x is: kill when wanted, wait for the end, delete,
 * and once no call is left, free. Every reply ends here. */
static void advance(orch_exec *x)
{
    if (x->exec_inflight || x->start_inflight || x->closing)
        return;
    if (x->started && !x->ended) {
        if (x->kill_wanted && !x->kill_sent) {
            x->kill_sent = true;
            Containerd__Services__Tasks__V1__KillRequest req =
                CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
            req.container_id = x->container_id;
            req.exec_id = x->exec_id;
            req.signal = SIGKILL;
            req.all = false;
            if (xcall(x, CTD_M_TASK_KILL, &req.base, NULL, CTD_TEARDOWN_TIMEOUT_MS, true,
                      on_killed, NULL) != 0) {
                x->ended = true; /* closing: nothing more can be done */
                if (x->wait_req)
                    ctd_cancel(x->wait_req);
            }
        }
        if (!x->ended && !x->wait_req) {
            Containerd__Services__Tasks__V1__WaitRequest req =
                CONTAINERD__SERVICES__TASKS__V1__WAIT_REQUEST__INIT;
            req.container_id = x->container_id;
            req.exec_id = x->exec_id;
            /* the first Wait has no deadline (the timeout is ours); after a
             * SIGKILL the end is near, or never */
            if (xcall(x, CTD_M_TASK_WAIT, &req.base,
                      &containerd__services__tasks__v1__wait_response__descriptor,
                      x->kill_sent ? CTD_KILL_WAIT_MS : CTD_NO_DEADLINE, x->kill_sent, on_waited,
                      &x->wait_req) != 0) {
                x->wait_req = NULL;
                x->ended = true;
                report_error(x, "waiting for the command", "the containerd connection is closing");
            }
        }
        if (!x->ended || x->wait_req)
            return;
    }
    if (x->exec_sent && !x->delete_sent) {
        x->delete_sent = true;
        Containerd__Services__Tasks__V1__DeleteProcessRequest req =
            CONTAINERD__SERVICES__TASKS__V1__DELETE_PROCESS_REQUEST__INIT;
        req.container_id = x->container_id;
        req.exec_id = x->exec_id;
        /* after a started process, wait for a restarting containerd; after
         * a failed Exec, try once */
        xcall(x, CTD_M_TASK_DELETE_PROCESS, &req.base,
              &containerd__services__tasks__v1__delete_response__descriptor,
              CTD_TEARDOWN_TIMEOUT_MS, x->started, on_deleted, NULL);
    }
    if (x->calls > 0)
        return;
    if (!x->reported) {
        /* cannot happen: every path above reports; never leave cb hanging */
        orch_exec_result r = {.err = "the command's end is unknown"};
        report(x, &r);
    }
    x->closing = true;
    uv_timer_stop(x->timer);
    uv_close((uv_handle_t *)x->timer, on_timer_closed);
}

static void on_timeout(uv_timer_t *t)
{
    orch_exec *x = t->data;
    orch_exec_result r = {.timed_out = true};
    x->kill_wanted = true;
    report(x, &r);
    advance(x);
}

/* ---------------------------------------------------------------- the ops */

orch_exec *ctd_exec_start(ctd_rt *rt, orch_instance *inst, const char *command,
                          uint64_t timeout_ms, orch_exec_cb cb, void *owner, char **err)
{
    *err = NULL;
    ctd_exec_target t;
    if (!ctd_instance_exec_target(inst, &t)) {
        *err = xasprintf("service %s: the task of container %s is not running", t.service, t.id);
        return NULL;
    }
    if (!t.spec_json) {
        *err = xasprintf("service %s: the OCI spec of container %s is unknown", t.service, t.id);
        return NULL;
    }
    char *process = NULL, *why = NULL;
    if (ctd_spec_exec_process(t.spec_json, strlen(t.spec_json), command, &process, &why) != 0) {
        *err = xasprintf("service %s: command %s: %s", t.service, command, why);
        free(why);
        return NULL;
    }
    char *uniq = ctd_random_hex(4);
    char *exec_id = xasprintf("orchd-exec-%llu-%s", ++exec_counter, uniq);
    free(uniq);
    if (!ctd_valid_identifier(exec_id)) { /* cannot happen: digits and hex */
        *err = xasprintf("service %s: bad exec id %s", t.service, exec_id);
        free(exec_id);
        free(process);
        return NULL;
    }

    orch_exec *x = xcalloc(1, sizeof *x);
    x->rt = rt;
    x->service = xstrdup(t.service);
    x->container_id = xstrdup(t.id);
    x->exec_id = exec_id;
    x->cb = cb;
    x->owner = owner;

    Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
    spec.type_url = CTD_PROCESS_URL;
    spec.value.data = (uint8_t *)process;
    spec.value.len = strlen(process);
    Containerd__Services__Tasks__V1__ExecProcessRequest req =
        CONTAINERD__SERVICES__TASKS__V1__EXEC_PROCESS_REQUEST__INIT;
    req.container_id = x->container_id;
    req.exec_id = x->exec_id;
    req.stdin = "";
    req.stdout = (char *)t.stdout_uri; /* the container's own log */
    req.stderr = (char *)t.stderr_uri;
    req.terminal = false;
    req.spec = &spec;
    /* no wait_for_ready: a health check fails fast while containerd is away */
    int rc = xcall(x, CTD_M_TASK_EXEC, &req.base, NULL, 0, false, on_exec, NULL);
    free(process);
    if (rc != 0) {
        *err = xasprintf("service %s: the containerd connection is closing", t.service);
        free(x->service);
        free(x->container_id);
        free(x->exec_id);
        free(x);
        return NULL;
    }
    x->exec_inflight = true;
    x->exec_sent = true;
    x->timer = xcalloc(1, sizeof *x->timer);
    uv_timer_init(rt->loop, x->timer);
    x->timer->data = x;
    if (timeout_ms > 0)
        uv_timer_start(x->timer, on_timeout, timeout_ms, 0);
    x->next = rt->execs;
    if (rt->execs)
        rt->execs->prev = x;
    rt->execs = x;
    return x;
}

void ctd_exec_cancel(orch_exec *x)
{
    if (!x || x->reported)
        return;
    x->reported = true; /* cb never runs */
    uv_timer_stop(x->timer);
    x->kill_wanted = true;
    advance(x);
}

void ctd_exec_shutdown(ctd_rt *rt)
{
    for (orch_exec *x = rt->execs, *next; x; x = next) {
        next = x->next;
        if (x->kill_wanted)
            continue;
        x->kill_wanted = true; /* the Wait then reports the SIGKILL */
        advance(x);
    }
}
