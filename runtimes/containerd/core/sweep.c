/* The start-up sweep: leases and ingests a dead predecessor left.
 *
 * Every lease orchd makes is named orchd-... (orchd-import-*, orchd-pull-*,
 * orchd-unpack-*, orchd-<container>-*) and every ingest ref orchd-pull-*;
 * they live in the containerd namespace, which is this daemon's alone (one
 * daemon per namespace: the state dir lock). A daemon killed mid-import
 * leaves its lease behind, pinning the layers and snapshots it had made
 * until the lease's one-hour expiry, and an ingest holding a partial blob.
 *
 * When the module loads, it lists both (Leases.List, Content.ListStatuses)
 * and removes those named orchd-* that were made (lease created_at) or last
 * written (ingest updated_at) before this module was loaded: no job of this
 * daemon can hold them, since this daemon's jobs all started later. Lease
 * deletes are synchronous (sync=true), so containerd's garbage collector
 * frees what they pinned before answering. docs/CONTAINERD.md, "Crashes". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerd/services/content/v1/content.pb-c.h"
#include "containerd/services/leases/v1/leases.pb-c.h"
#include "containerd/core/core.h"
#include "common/xalloc.h"

#define CTD_M_LEASE_LIST "/containerd.services.leases.v1.Leases/List"
#define CTD_M_CONTENT_LIST_STATUSES "/containerd.services.content.v1.Content/ListStatuses"
#define CTD_M_CONTENT_ABORT "/containerd.services.content.v1.Content/Abort"
#define SWEEP_TIMEOUT_MS 60000
#define ORCHD_PREFIX "orchd-"

typedef struct sweep_item {
    ctd_rt *rt;
    char *what; /* "lease orchd-import-..." */
} sweep_item;

static bool older_than_load(const ctd_rt *rt, const Google__Protobuf__Timestamp *t)
{
    if (!t)
        return true; /* no time: not one of ours since load either */
    int64_t ns = t->seconds * 1000000000LL + t->nanos;
    return ns < rt->loaded_at_ns;
}

static void on_removed(void *arg, grpc_status_code st, const char *details,
                       ProtobufCMessage *reply)
{
    (void)reply;
    sweep_item *it = arg;
    if (st == GRPC_STATUS_OK || st == GRPC_STATUS_NOT_FOUND)
        fprintf(stderr, "orchd: containerd: removed %s left by an earlier daemon\n", it->what);
    else if (!it->rt->shutting_down)
        fprintf(stderr, "orchd: containerd: removing %s left by an earlier daemon: %s\n",
                it->what, details);
    free(it->what);
    free(it);
}

static void remove_one(ctd_rt *rt, const char *method, const ProtobufCMessage *req, char *what)
{
    sweep_item *it = xmalloc(sizeof *it);
    it->rt = rt;
    it->what = what;
    if (ctd_rt_call(rt, method, req, NULL, NULL, SWEEP_TIMEOUT_MS, true, on_removed, it) != 0) {
        free(it->what);
        free(it);
    }
}

static void on_leases(void *arg, grpc_status_code st, const char *details,
                      ProtobufCMessage *reply)
{
    ctd_rt *rt = arg;
    if (st != GRPC_STATUS_OK) {
        if (!rt->shutting_down)
            fprintf(stderr, "orchd: containerd: listing the leases of namespace %s: %s\n", rt->ns,
                    details);
        return;
    }
    Containerd__Services__Leases__V1__ListResponse *l =
        (Containerd__Services__Leases__V1__ListResponse *)reply;
    for (size_t i = 0; i < l->n_leases; i++) {
        Containerd__Services__Leases__V1__Lease *lease = l->leases[i];
        if (!lease->id || strncmp(lease->id, ORCHD_PREFIX, strlen(ORCHD_PREFIX)) != 0 ||
            !older_than_load(rt, lease->created_at))
            continue;
        Containerd__Services__Leases__V1__DeleteRequest req =
            CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
        req.id = lease->id;
        req.sync = true; /* the GC frees what it pinned before the answer */
        remove_one(rt, CTD_M_LEASE_DELETE, &req.base, xasprintf("lease %s", lease->id));
    }
}

static void on_ingests(void *arg, grpc_status_code st, const char *details,
                       ProtobufCMessage *reply)
{
    ctd_rt *rt = arg;
    if (st != GRPC_STATUS_OK) {
        if (!rt->shutting_down)
            fprintf(stderr, "orchd: containerd: listing the ingests of namespace %s: %s\n",
                    rt->ns, details);
        return;
    }
    Containerd__Services__Content__V1__ListStatusesResponse *l =
        (Containerd__Services__Content__V1__ListStatusesResponse *)reply;
    for (size_t i = 0; i < l->n_statuses; i++) {
        Containerd__Services__Content__V1__Status *s = l->statuses[i];
        if (!s->ref || strncmp(s->ref, ORCHD_PREFIX, strlen(ORCHD_PREFIX)) != 0 ||
            !older_than_load(rt, s->updated_at))
            continue;
        Containerd__Services__Content__V1__AbortRequest req =
            CONTAINERD__SERVICES__CONTENT__V1__ABORT_REQUEST__INIT;
        req.ref = s->ref;
        remove_one(rt, CTD_M_CONTENT_ABORT, &req.base, xasprintf("ingest %s", s->ref));
    }
}

void ctd_sweep_start(ctd_rt *rt)
{
    Containerd__Services__Leases__V1__ListRequest lreq =
        CONTAINERD__SERVICES__LEASES__V1__LIST_REQUEST__INIT;
    ctd_rt_call(rt, CTD_M_LEASE_LIST, &lreq.base,
                &containerd__services__leases__v1__list_response__descriptor, NULL,
                SWEEP_TIMEOUT_MS, true, on_leases, rt);
    Containerd__Services__Content__V1__ListStatusesRequest sreq =
        CONTAINERD__SERVICES__CONTENT__V1__LIST_STATUSES_REQUEST__INIT;
    ctd_rt_call(rt, CTD_M_CONTENT_LIST_STATUSES, &sreq.base,
                &containerd__services__content__v1__list_statuses_response__descriptor, NULL,
                SWEEP_TIMEOUT_MS, true, on_ingests, rt);
}
