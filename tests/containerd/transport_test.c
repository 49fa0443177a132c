/* Exercises the containerd transport (runtimes/containerd/transport) on a
 * libuv loop, linked statically (not through the module).
 *
 *   ctd_transport_test unit
 *       no containerd needed: address parsing, close without calls, a
 *       wait-for-ready call that times out.
 *   ctd_transport_test live SOCKET NAMESPACE IMAGE
 *       against a real containerd: Version, Namespaces.List, Images.List (the
 *       image must be listed), NOT_FOUND passthrough, 64 concurrent calls, a
 *       lease, an Events.Subscribe stream (publish, receive, cancel),
 *       Tasks.Wait without deadline, and close with a stream open.
 *   ctd_transport_test reconnect SOCKET STOP_CMD START_CMD
 *       Version works; after STOP_CMD (stops containerd) a call fails fast
 *       with "containerd not reachable"; after START_CMD the same connection
 *       reconnects (a wait-for-ready call succeeds).
 *   ctd_transport_test unreachable ADDRESS EXPECTED_SUBSTRING [TIMEOUT_MS]
 *       a Version call must fail and its message contain the substring.
 *
 * Exit 0 on success, 1 on failure (each failure printed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "containerd/services/events/v1/events.pb-c.h"
#include "containerd/services/images/v1/images.pb-c.h"
#include "containerd/services/leases/v1/leases.pb-c.h"
#include "containerd/services/namespaces/v1/namespace.pb-c.h"
#include "containerd/services/tasks/v1/tasks.pb-c.h"
#include "containerd/services/version/v1/version.pb-c.h"
#include "containerd/transport/ctd_transport.h"

static int failures;
static uv_loop_t *loop;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static void on_closed(void *arg)
{
    *(int *)arg = 1;
}

/* ------------------------------------------------------------ unit */

static int timeout_status = -1;
static char timeout_details[512];

static void on_timeout_reply(void *arg, grpc_status_code st, const char *details,
                             ProtobufCMessage *reply)
{
    timeout_status = st;
    snprintf(timeout_details, sizeof timeout_details, "%s", details);
    CHECK(reply == NULL, "reply on failure");
}

static int run_unit(void)
{
    char *err = NULL;
    const char *bad[] = {"", "tcp://127.0.0.1:1234", "unix:", "unix://", NULL};
    for (int i = 0; bad[i]; i++) {
        ctd_conn *c = ctd_conn_new(loop, bad[i], "orch", &err);
        CHECK(c == NULL && err, "address '%s' accepted", bad[i]);
        if (err)
            printf("address '%s': %s\n", bad[i], err);
        free(err);
        err = NULL;
    }
    ctd_conn *c = ctd_conn_new(loop, "/tmp/x.sock", "", &err);
    CHECK(!c && err && strstr(err, "namespace"), "empty namespace accepted");
    free(err);

    /* The same path however it is written. */
    const char *forms[] = {"unix:/nonexistent/ctd.sock", "unix:///nonexistent/ctd.sock",
                           "/nonexistent/ctd.sock", NULL};
    for (int i = 0; forms[i]; i++) {
        c = ctd_conn_new(loop, forms[i], "orch", &err);
        CHECK(c && !err, "address '%s' refused: %s", forms[i], err ? err : "");
        if (!c)
            continue;
        CHECK(strcmp(ctd_conn_path(c), "/nonexistent/ctd.sock") == 0, "path of %s is %s", forms[i],
              ctd_conn_path(c));
        CHECK(strcmp(ctd_conn_namespace(c), "orch") == 0, "namespace");
        int closed = 0;
        ctd_conn_close(c, on_closed, &closed);
        CHECK(closed == 0, "close done ran synchronously");
        uv_run(loop, UV_RUN_DEFAULT);
        CHECK(closed == 1, "close done did not run");
    }

    /* wait_for_ready: the call waits for the channel, then hits its deadline. */
    c = ctd_conn_new(loop, "/nonexistent/ctd.sock", "orch", &err);
    ctd_call_opts o = {.timeout_ms = 300, .wait_for_ready = true};
    uint64_t t0 = uv_hrtime();
    int rc = ctd_call_ex(c, "/containerd.services.version.v1.Version/Version", NULL,
                         &containerd__services__version__v1__version_response__descriptor, &o,
                         on_timeout_reply, NULL, NULL);
    CHECK(rc == 0, "ctd_call_ex: %d", rc);
    CHECK(ctd_call(c, "no-slash", NULL, NULL, on_timeout_reply, NULL) == -EINVAL, "bad method");
    CHECK(ctd_conn_pending(c) == 1, "pending %zu", ctd_conn_pending(c));
    uv_run(loop, UV_RUN_DEFAULT); /* the pending call keeps the loop alive */
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    CHECK(timeout_status == GRPC_STATUS_DEADLINE_EXCEEDED, "status %d (%s)", timeout_status,
          timeout_details);
    CHECK(strstr(timeout_details, "did not answer") != NULL, "details: %s", timeout_details);
    CHECK(ms >= 250 && ms < 5000, "deadline took %llu ms", (unsigned long long)ms);
    printf("wait_for_ready + 300 ms deadline: %s (%llu ms)\n", timeout_details,
           (unsigned long long)ms);
    int closed = 0;
    ctd_conn_close(c, on_closed, &closed);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(closed == 1, "close done did not run");
    return failures ? 1 : 0;
}

/* ------------------------------------------------------------ unreachable */

static int run_unreachable(const char *address, const char *expect, long timeout_ms)
{
    char *err = NULL;
    ctd_conn *c = ctd_conn_new(loop, address, "orch", &err);
    CHECK(c, "ctd_conn_new: %s", err ? err : "");
    if (!c)
        return 1;
    ctd_call_opts o = {.timeout_ms = timeout_ms};
    uint64_t t0 = uv_hrtime();
    int rc = ctd_call_ex(c, "/containerd.services.version.v1.Version/Version", NULL,
                         &containerd__services__version__v1__version_response__descriptor, &o,
                         on_timeout_reply, NULL, NULL);
    CHECK(rc == 0, "ctd_call_ex: %d", rc);
    uv_run(loop, UV_RUN_DEFAULT);
    printf("status %s after %llu ms: %s\n", ctd_status_name(timeout_status),
           (unsigned long long)((uv_hrtime() - t0) / 1000000), timeout_details);
    CHECK(timeout_status != GRPC_STATUS_OK, "call succeeded");
    CHECK(strstr(timeout_details, expect) != NULL, "expected '%s' in '%s'", expect,
          timeout_details);
    int closed = 0;
    ctd_conn_close(c, on_closed, &closed);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(closed, "close");
    return failures ? 1 : 0;
}

/* ------------------------------------------------------------ reconnect */

static const char *stop_cmd, *start_cmd;
static int rstep;
static void reconnect_step(void);

static void on_reconnect_version(void *arg, grpc_status_code st, const char *details,
                                 ProtobufCMessage *m)
{
    printf("step %d: %s %s\n", rstep, ctd_status_name(st), details);
    switch (rstep) {
    case 1:
    case 3:
        CHECK(st == GRPC_STATUS_OK && m, "Version: %s", details);
        break;
    case 2:
        CHECK(st == GRPC_STATUS_UNAVAILABLE, "status %s", ctd_status_name(st));
        CHECK(strstr(details, "containerd not reachable at ") != NULL, "details %s", details);
        break;
    }
    reconnect_step();
}

static ctd_conn *rconn;
static int rclosed;

static void reconnect_step(void)
{
    ctd_call_opts o = {0};
    switch (rstep++) {
    case 0: /* containerd up */
        break;
    case 1: /* containerd stopped: fail fast with a clear message */
        CHECK(system(stop_cmd) == 0, "%s failed", stop_cmd);
        break;
    case 2: /* started again: the same channel reconnects */
        CHECK(system(start_cmd) == 0, "%s failed", start_cmd);
        o.wait_for_ready = true;
        o.timeout_ms = 20000;
        break;
    default:
        ctd_conn_close(rconn, on_closed, &rclosed);
        return;
    }
    int rc = ctd_call_ex(rconn, "/containerd.services.version.v1.Version/Version", NULL,
                         &containerd__services__version__v1__version_response__descriptor, &o,
                         on_reconnect_version, NULL, NULL);
    CHECK(rc == 0, "call: %d", rc);
}

static int run_reconnect(const char *sock, const char *stop, const char *start)
{
    char *err = NULL;
    stop_cmd = stop;
    start_cmd = start;
    rconn = ctd_conn_new(loop, sock, "orch", &err);
    CHECK(rconn, "ctd_conn_new: %s", err ? err : "");
    if (!rconn)
        return 1;
    reconnect_step();
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(rstep == 4, "stopped at step %d", rstep);
    CHECK(rclosed == 1, "close done did not run");
    return failures ? 1 : 0;
}

/* ------------------------------------------------------------ live */

static ctd_conn *conn;
static const char *want_ns, *want_image;
static int step;
static void next_step(void);

#define M_VERSION "/containerd.services.version.v1.Version/Version"

static void on_version(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *m)
{
    CHECK(st == GRPC_STATUS_OK, "Version: %s %s", ctd_status_name(st), details);
    if (m) {
        Containerd__Services__Version__V1__VersionResponse *v = (void *)m;
        printf("containerd version '%s' revision '%s'\n", v->version, v->revision);
        CHECK(v->version && *v->version, "empty version");
    } else {
        CHECK(0, "no Version reply");
    }
    next_step();
}

static void on_namespaces(void *arg, grpc_status_code st, const char *details,
                          ProtobufCMessage *m)
{
    CHECK(st == GRPC_STATUS_OK, "Namespaces.List: %s %s", ctd_status_name(st), details);
    int found = 0;
    if (m) {
        Containerd__Services__Namespaces__V1__ListNamespacesResponse *r = (void *)m;
        printf("namespaces:");
        for (size_t i = 0; i < r->n_namespaces; i++) {
            printf(" %s", r->namespaces[i]->name);
            found |= strcmp(r->namespaces[i]->name, want_ns) == 0;
        }
        printf("\n");
    }
    CHECK(found, "namespace %s not listed", want_ns);
    next_step();
}

static void on_images(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *m)
{
    CHECK(st == GRPC_STATUS_OK, "Images.List: %s %s", ctd_status_name(st), details);
    int found = 0;
    if (m) {
        Containerd__Services__Images__V1__ListImagesResponse *r = (void *)m;
        for (size_t i = 0; i < r->n_images; i++) {
            Containerd__Services__Images__V1__Image *im = r->images[i];
            printf("image %s %s %s (%lld bytes)%s\n", im->name,
                   im->target ? im->target->media_type : "?",
                   im->target ? im->target->digest : "?",
                   im->target ? (long long)im->target->size : -1LL, arg ? " [leased call]" : "");
            found |= strcmp(im->name, want_image) == 0;
        }
    }
    CHECK(found, "image %s not listed", want_image);
    next_step();
}

static void on_image_get_missing(void *arg, grpc_status_code st, const char *details,
                                 ProtobufCMessage *m)
{
    printf("Images.Get missing: %s: %s\n", ctd_status_name(st), details);
    CHECK(st == GRPC_STATUS_NOT_FOUND, "status %s", ctd_status_name(st));
    CHECK(strstr(details, "not found") != NULL, "details '%s'", details);
    CHECK(m == NULL, "reply on failure");
    next_step();
}

static int burst_left, burst_ok;
static void on_burst(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *m)
{
    if (st == GRPC_STATUS_OK && m)
        burst_ok++;
    else
        fprintf(stderr, "burst call: %s %s\n", ctd_status_name(st), details);
    if (--burst_left == 0) {
        CHECK(burst_ok == 64, "%d of 64 concurrent calls succeeded", burst_ok);
        printf("64 concurrent Version calls: %d ok\n", burst_ok);
        next_step();
    }
}

static char lease_id[64];
static void on_lease_created(void *arg, grpc_status_code st, const char *details,
                             ProtobufCMessage *m)
{
    CHECK(st == GRPC_STATUS_OK, "Leases.Create: %s %s", ctd_status_name(st), details);
    if (m) {
        Containerd__Services__Leases__V1__CreateResponse *r = (void *)m;
        CHECK(r->lease && strcmp(r->lease->id, lease_id) == 0, "lease id");
    }
    next_step();
}

static void on_lease_deleted(void *arg, grpc_status_code st, const char *details,
                             ProtobufCMessage *m)
{
    CHECK(st == GRPC_STATUS_OK, "Leases.Delete: %s %s", ctd_status_name(st), details);
    next_step();
}

static void on_wait_missing(void *arg, grpc_status_code st, const char *details,
                            ProtobufCMessage *m)
{
    printf("Tasks.Wait missing: %s: %s\n", ctd_status_name(st), details);
    CHECK(st == GRPC_STATUS_NOT_FOUND, "status %s", ctd_status_name(st));
    next_step();
}

/* Events: subscribe, publish until the event arrives, cancel. */
static ctd_req *sub;
static uv_timer_t pub_timer;
static int events_seen, stream_ended, publishes;
/* Publishes still awaiting their reply, and whether the stream already ended:
 * the next step waits for both, or closing the connection would cancel a
 * Publish that is still in flight (a race seen under ASan on a slow runner). */
static int publishes_in_flight, stream_done_waiting;
static grpc_status_code stream_status;
static char stream_details[256];
#define TEST_TOPIC "/orchd/transport-test"
#define TEST_TYPE "types.orchd.io/transport-test"

static void on_event(void *arg, ProtobufCMessage *m)
{
    Containerd__Services__Events__V1__Envelope *e = (void *)m;
    printf("event: ns=%s topic=%s type=%s\n", e->namespace_, e->topic,
           e->event ? e->event->type_url : "?");
    CHECK(strcmp(e->topic, TEST_TOPIC) == 0, "topic %s", e->topic);
    CHECK(strcmp(e->namespace_, want_ns) == 0, "namespace %s", e->namespace_);
    CHECK(e->event && strcmp(e->event->type_url, TEST_TYPE) == 0, "type");
    if (events_seen++ == 0) {
        uv_timer_stop(&pub_timer);
        ctd_cancel(sub);
    }
}

static void on_stream_end(void *arg, grpc_status_code st, const char *details)
{
    stream_ended++;
    stream_status = st;
    snprintf(stream_details, sizeof stream_details, "%s", details);
    printf("stream ended: %s: %s\n", ctd_status_name(st), details);
    sub = NULL;
    if (publishes_in_flight > 0) {
        stream_done_waiting = 1;
        return;
    }
    next_step();
}

static void on_published(void *arg, grpc_status_code st, const char *details,
                         ProtobufCMessage *m)
{
    CHECK(st == GRPC_STATUS_OK, "Events.Publish: %s %s", ctd_status_name(st), details);
    if (--publishes_in_flight == 0 && stream_done_waiting) {
        stream_done_waiting = 0;
        next_step();
    }
}

static void publish(uv_timer_t *t)
{
    if (++publishes > 50) {
        CHECK(0, "no event after 50 publishes");
        uv_timer_stop(t);
        ctd_cancel(sub);
        return;
    }
    static uint8_t payload[] = "hello";
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = TEST_TYPE;
    any.value.data = payload;
    any.value.len = 5;
    Containerd__Services__Events__V1__PublishRequest req =
        CONTAINERD__SERVICES__EVENTS__V1__PUBLISH_REQUEST__INIT;
    req.topic = TEST_TOPIC;
    req.event = &any;
    int rc = ctd_call(conn, "/containerd.services.events.v1.Events/Publish", &req.base, NULL,
                      on_published, NULL);
    CHECK(rc == 0, "publish: %d", rc);
    if (rc == 0)
        publishes_in_flight++;
}

static int closed_live;
static void on_closed_stream_end(void *arg, grpc_status_code st, const char *details)
{
    printf("stream at close: %s: %s\n", ctd_status_name(st), details);
    CHECK(st == GRPC_STATUS_CANCELLED, "status %s", ctd_status_name(st));
    CHECK(closed_live == 0, "close done before the stream ended");
    stream_ended++;
}

static void on_dummy_msg(void *arg, ProtobufCMessage *m) {}

static void next_step(void)
{
    int rc = 0;
    switch (step++) {
    case 0:
        rc = ctd_call(conn, M_VERSION, NULL,
                      &containerd__services__version__v1__version_response__descriptor, on_version,
                      NULL);
        break;
    case 1: {
        Containerd__Services__Namespaces__V1__ListNamespacesRequest req =
            CONTAINERD__SERVICES__NAMESPACES__V1__LIST_NAMESPACES_REQUEST__INIT;
        rc = ctd_call(conn, "/containerd.services.namespaces.v1.Namespaces/List", &req.base,
                      &containerd__services__namespaces__v1__list_namespaces_response__descriptor,
                      on_namespaces, NULL);
        break;
    }
    case 2: {
        Containerd__Services__Images__V1__ListImagesRequest req =
            CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_REQUEST__INIT;
        rc = ctd_call(conn, "/containerd.services.images.v1.Images/List", &req.base,
                      &containerd__services__images__v1__list_images_response__descriptor,
                      on_images, NULL);
        break;
    }
    case 3: {
        Containerd__Services__Images__V1__GetImageRequest req =
            CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
        req.name = "localhost/no-such-image:latest";
        rc = ctd_call(conn, "/containerd.services.images.v1.Images/Get", &req.base,
                      &containerd__services__images__v1__get_image_response__descriptor,
                      on_image_get_missing, NULL);
        break;
    }
    case 4: {
        /* The daemon forks host services while gRPC's threads run: fork +
         * exec must work and leave the channel usable (the burst follows). */
        uint64_t t0 = uv_hrtime();
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        int ws = -1;
        CHECK(pid > 0 && waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
              "fork/exec of /bin/true with gRPC running: status %d", ws);
        printf("fork+exec+wait with gRPC threads running: %.2f ms\n",
               (uv_hrtime() - t0) / 1e6);
        burst_left = 64;
        for (int i = 0; i < 64 && rc == 0; i++)
            rc = ctd_call(conn, M_VERSION, NULL,
                          &containerd__services__version__v1__version_response__descriptor,
                          on_burst, NULL);
        CHECK(ctd_conn_pending(conn) == 64, "pending %zu", ctd_conn_pending(conn));
        break;
    }
    case 5: {
        snprintf(lease_id, sizeof lease_id, "orchd-transport-test-%d", (int)getpid());
        Containerd__Services__Leases__V1__CreateRequest req =
            CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
        req.id = lease_id;
        rc = ctd_call(conn, "/containerd.services.leases.v1.Leases/Create", &req.base,
                      &containerd__services__leases__v1__create_response__descriptor,
                      on_lease_created, NULL);
        break;
    }
    case 6: {
        Containerd__Services__Images__V1__ListImagesRequest req =
            CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_REQUEST__INIT;
        ctd_call_opts o = {.lease = lease_id};
        rc = ctd_call_ex(conn, "/containerd.services.images.v1.Images/List", &req.base,
                         &containerd__services__images__v1__list_images_response__descriptor, &o,
                         on_images, (void *)1, NULL);
        break;
    }
    case 7: {
        Containerd__Services__Leases__V1__DeleteRequest req =
            CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
        req.id = lease_id;
        req.sync = 1;
        rc = ctd_call(conn, "/containerd.services.leases.v1.Leases/Delete", &req.base, NULL,
                      on_lease_deleted, NULL);
        break;
    }
    case 8: {
        Containerd__Services__Events__V1__SubscribeRequest req =
            CONTAINERD__SERVICES__EVENTS__V1__SUBSCRIBE_REQUEST__INIT;
        char *filters[] = {"topic==\"" TEST_TOPIC "\""};
        req.n_filters = 1;
        req.filters = filters;
        rc = ctd_stream(conn, "/containerd.services.events.v1.Events/Subscribe", &req.base,
                        &containerd__services__events__v1__envelope__descriptor, NULL, on_event,
                        on_stream_end, NULL, &sub);
        if (rc == 0) {
            uv_timer_init(loop, &pub_timer);
            uv_timer_start(&pub_timer, publish, 100, 200);
        }
        break;
    }
    case 9:
        uv_close((uv_handle_t *)&pub_timer, NULL);
        CHECK(events_seen >= 1, "no event received");
        CHECK(stream_status == GRPC_STATUS_CANCELLED, "stream ended with %s: %s",
              ctd_status_name(stream_status), stream_details);
        {
            Containerd__Services__Tasks__V1__WaitRequest req =
                CONTAINERD__SERVICES__TASKS__V1__WAIT_REQUEST__INIT;
            req.container_id = "orchd-no-such-container";
            ctd_call_opts o = {.timeout_ms = CTD_NO_DEADLINE};
            rc = ctd_call_ex(conn, "/containerd.services.tasks.v1.Tasks/Wait", &req.base,
                             &containerd__services__tasks__v1__wait_response__descriptor, &o,
                             on_wait_missing, NULL, NULL);
        }
        break;
    case 10: {
        /* Close with a stream open: it ends CANCELLED before close's done. */
        Containerd__Services__Events__V1__SubscribeRequest req =
            CONTAINERD__SERVICES__EVENTS__V1__SUBSCRIBE_REQUEST__INIT;
        stream_ended = 0;
        rc = ctd_stream(conn, "/containerd.services.events.v1.Events/Subscribe", &req.base,
                        &containerd__services__events__v1__envelope__descriptor, NULL,
                        on_dummy_msg, on_closed_stream_end, NULL, NULL);
        CHECK(ctd_conn_pending(conn) == 1, "pending %zu", ctd_conn_pending(conn));
        ctd_conn_close(conn, on_closed, &closed_live);
        conn = NULL;
        break;
    }
    default:
        return;
    }
    CHECK(rc == 0, "step %d: call failed to start: %d", step - 1, rc);
}

static int run_live(const char *sock, const char *ns, const char *image)
{
    char *err = NULL;
    want_ns = ns;
    want_image = image;
    conn = ctd_conn_new(loop, sock, ns, &err);
    CHECK(conn, "ctd_conn_new: %s", err ? err : "");
    if (!conn)
        return 1;
    next_step();
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(step == 11, "stopped at step %d", step);
    CHECK(stream_ended == 1, "stream at close did not end");
    CHECK(closed_live == 1, "close done did not run");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    loop = uv_default_loop();
    int rc;
    if (argc == 2 && strcmp(argv[1], "unit") == 0)
        rc = run_unit();
    else if (argc == 5 && strcmp(argv[1], "live") == 0)
        rc = run_live(argv[2], argv[3], argv[4]);
    else if (argc == 5 && strcmp(argv[1], "reconnect") == 0)
        rc = run_reconnect(argv[2], argv[3], argv[4]);
    else if ((argc == 4 || argc == 5) && strcmp(argv[1], "unreachable") == 0)
        rc = run_unreachable(argv[2], argv[3], argc == 5 ? atol(argv[4]) : 5000);
    else {
        fprintf(stderr,
                "usage: %s unit | live SOCKET NS IMAGE | unreachable ADDR SUBSTR [MS]\n"
                "       | reconnect SOCKET STOP_CMD START_CMD\n",
                argv[0]);
        return 2;
    }
    CHECK(uv_loop_close(loop) == 0, "handles left open on the loop");
    printf("%s\n", rc == 0 && failures == 0 ? "PASS" : "FAILED");
    return rc == 0 && failures == 0 ? 0 : 1;
}
