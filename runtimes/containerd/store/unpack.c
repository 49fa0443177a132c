/* Unpacking an image's layers into snapshots, as containerd's own client does
 * (rootfs/apply.go, image.go Unpack), when the chain's snapshot is missing
 * (an image imported with --no-unpack, or unpacked for another snapshotter):
 *
 *   Leases.Create                        (the GC keeps what we make meanwhile)
 *   for each layer n whose chain snapshot is missing:
 *     Snapshots.Prepare(key "extract-<unique> <chainID(n)>", parent chainID(n-1))
 *     Diff.Apply(the layer's descriptor, the prepared mounts) -> diff ID check
 *     Snapshots.Commit(name chainID(n), key)
 *     Content.Update(layer blob: containerd.io/uncompressed = diffID(n))
 *   Content.Update(config blob: containerd.io/gc.ref.snapshot.<snapshotter> = chainID)
 *   Leases.Delete
 *
 * The last label is what keeps the snapshots alive once the lease is gone
 * (image -> manifest -> config -> snapshot in the GC's reference graph). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "containerd/services/content/v1/content.pb-c.h"
#include "containerd/services/diff/v1/diff.pb-c.h"
#include "containerd/services/leases/v1/leases.pb-c.h"
#include "containerd/services/snapshots/v1/snapshots.pb-c.h"
#include "containerd/store/store.h"
#include "containerd/core/lease.h"
#include "common/xalloc.h"

typedef struct uwaiter {
    ctd_unpack_cb cb;
    void *arg;
} uwaiter;

typedef struct ctd_unpack_job {
    struct ctd_unpack_job *next;
    ctd_rt *rt;
    ctd_image *img;
    char *snapshotter;
    char *lease;
    size_t i;     /* the layer being unpacked */
    char *key;    /* its extraction snapshot, once prepared */
    ProtobufCMessage *mounts; /* the Prepare reply (a copy) */
    orch_error *fail;
    uwaiter *w;
    size_t n_w;
} job;

typedef struct stat_req {
    ctd_rt *rt;
    ctd_image *img;
    char *snapshotter;
    ctd_unpack_cb cb;
    void *arg;
} stat_req;

/* A deep copy of a reply (replies are freed when their callback returns). */
static ProtobufCMessage *copy_msg(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(n ? n : 1);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *c = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
    free(buf);
    return c;
}

static void job_done(job *j)
{
    for (job **p = &j->rt->unpack_jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    for (size_t i = 0; i < j->n_w; i++)
        j->w[i].cb(j->w[i].arg, j->fail);
    free(j->w);
    if (j->mounts)
        protobuf_c_message_free_unpacked(j->mounts, NULL);
    ctd_image_unref(j->img);
    free(j->snapshotter);
    free(j->lease);
    free(j->key);
    orch_error_free(j->fail);
    free(j);
}

/* ---- the end: drop the extraction snapshot (on failure) and the lease ---- */

static void on_lease_deleted(void *arg, grpc_status_code st, const char *details,
                             ProtobufCMessage *reply)
{
    job *j = arg;
    if (st != GRPC_STATUS_OK && st != GRPC_STATUS_NOT_FOUND)
        fprintf(stderr, "orchd: containerd: deleting lease %s: %s (it expires in %d s)\n",
                j->lease, details, CTD_LEASE_EXPIRY_S);
    job_done(j);
}

static void drop_lease(job *j)
{
    if (!j->lease) {
        job_done(j);
        return;
    }
    Containerd__Services__Leases__V1__DeleteRequest req =
        CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
    req.id = j->lease;
    if (ctd_rt_call(j->rt, CTD_M_LEASE_DELETE, &req.base, NULL, NULL, 0, false, on_lease_deleted,
                    j) != 0)
        job_done(j);
}

static void on_key_removed(void *arg, grpc_status_code st, const char *details,
                           ProtobufCMessage *reply)
{
    job *j = arg;
    free(j->key);
    j->key = NULL;
    drop_lease(j);
}

/* The end, with e (taken; NULL: success): drop what is left, then tell. */
static void finish(job *j, orch_error *e)
{
    if (e)
        j->fail = orch_error_prefix(e, "unpacking image %s into %s", j->img->target_digest,
                                    j->snapshotter);
    if (j->key) {
        Containerd__Services__Snapshots__V1__RemoveSnapshotRequest req =
            CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
        req.snapshotter = j->snapshotter;
        req.key = j->key;
        if (ctd_rt_call(j->rt, CTD_M_SNAP_REMOVE, &req.base, NULL, j->lease, 0, false,
                        on_key_removed, j) == 0)
            return;
    }
    drop_lease(j);
}

/* ---- the config label, once every layer is in ---- */

static void on_config_labelled(void *arg, grpc_status_code st, const char *details,
                               ProtobufCMessage *reply)
{
    job *j = arg;
    if (st != GRPC_STATUS_OK)
        finish(j, orch_error_prefix(ctd_status_error(st, details), "labelling config %s for the garbage collector", j->img->config_digest));
    else
        finish(j, NULL);
}

static int update_label(job *j, const char *digest, const char *key, const char *value,
                        ctd_reply_cb cb)
{
    Containerd__Services__Content__V1__Info__LabelsEntry e =
        CONTAINERD__SERVICES__CONTENT__V1__INFO__LABELS_ENTRY__INIT;
    Containerd__Services__Content__V1__Info__LabelsEntry *ep = &e;
    e.key = (char *)key;
    e.value = (char *)value;
    Containerd__Services__Content__V1__Info info = CONTAINERD__SERVICES__CONTENT__V1__INFO__INIT;
    info.digest = (char *)digest;
    info.n_labels = 1;
    info.labels = &ep;
    char *path = xasprintf("labels.%s", key);
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.n_paths = 1;
    mask.paths = &path;
    Containerd__Services__Content__V1__UpdateRequest req =
        CONTAINERD__SERVICES__CONTENT__V1__UPDATE_REQUEST__INIT;
    req.info = &info;
    req.update_mask = &mask;
    int rc = ctd_rt_call(j->rt, CTD_M_CONTENT_UPDATE, &req.base, NULL, j->lease, 0, false, cb, j);
    free(path);
    return rc;
}

static void label_config(job *j)
{
    char *key = xasprintf("containerd.io/gc.ref.snapshot.%s", j->snapshotter);
    if (update_label(j, j->img->config_digest, key, j->img->chain_id, on_config_labelled) != 0)
        finish(j, ctd_closing_error());
    free(key);
}

/* ---- one layer ---- */

static void next_layer(job *j);

static void on_layer_labelled(void *arg, grpc_status_code st, const char *details,
                              ProtobufCMessage *reply)
{
    job *j = arg;
    /* Only an optimisation for later unpacks (containerd.io/uncompressed):
     * not worth failing for. */
    j->i++;
    next_layer(j);
}

static void on_committed(void *arg, grpc_status_code st, const char *details,
                         ProtobufCMessage *reply)
{
    job *j = arg;
    ctd_layer *l = &j->img->layers[j->i];
    if (st == GRPC_STATUS_ALREADY_EXISTS) {
        /* someone else committed the same chain meanwhile: ours is extra */
        Containerd__Services__Snapshots__V1__RemoveSnapshotRequest req =
            CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
        req.snapshotter = j->snapshotter;
        req.key = j->key;
        ctd_rt_call(j->rt, CTD_M_SNAP_REMOVE, &req.base, NULL, j->lease, 0, false, NULL, NULL);
        st = GRPC_STATUS_OK;
    }
    if (st != GRPC_STATUS_OK) {
        finish(j, orch_error_prefix(ctd_status_error(st, details), "committing layer %zu (%s)", j->i + 1, l->diff_id));
        return;
    }
    free(j->key);
    j->key = NULL; /* committed: no longer ours to remove */
    if (update_label(j, l->digest, "containerd.io/uncompressed", l->diff_id, on_layer_labelled) !=
        0)
        finish(j, ctd_closing_error());
}

static void on_applied(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *reply)
{
    job *j = arg;
    ctd_layer *l = &j->img->layers[j->i];
    if (j->mounts) {
        protobuf_c_message_free_unpacked(j->mounts, NULL);
        j->mounts = NULL;
    }
    if (st != GRPC_STATUS_OK) {
        finish(j, orch_error_prefix(ctd_status_error(st, details), "applying layer %zu (%s)", j->i + 1, l->digest));
        return;
    }
    Containerd__Services__Diff__V1__ApplyResponse *r =
        (Containerd__Services__Diff__V1__ApplyResponse *)reply;
    const char *got = r->applied && r->applied->digest ? r->applied->digest : "";
    if (strcmp(got, l->diff_id) != 0) {
        finish(j, orch_error_new(ORCH_E_CORRUPT, "layer %zu (%s) unpacked to %s, but the config says %s", j->i + 1, l->digest, *got ? got : "nothing", l->diff_id));
        return;
    }
    Containerd__Services__Snapshots__V1__CommitSnapshotRequest req =
        CONTAINERD__SERVICES__SNAPSHOTS__V1__COMMIT_SNAPSHOT_REQUEST__INIT;
    req.snapshotter = j->snapshotter;
    req.name = (char *)l->chain_id;
    req.key = j->key;
    if (ctd_rt_call(j->rt, CTD_M_SNAP_COMMIT, &req.base, NULL, j->lease, 0, false, on_committed,
                    j) != 0)
        finish(j, ctd_closing_error());
}

static void on_prepared(void *arg, grpc_status_code st, const char *details,
                        ProtobufCMessage *reply)
{
    job *j = arg;
    ctd_layer *l = &j->img->layers[j->i];
    if (st != GRPC_STATUS_OK) {
        free(j->key);
        j->key = NULL; /* not created */
        finish(j, orch_error_prefix(ctd_status_error(st, details), "preparing a snapshot for layer %zu", j->i + 1));
        return;
    }
    Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *r =
        (Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *)reply;
    j->mounts = copy_msg(reply);
    Containerd__Types__Descriptor d = CONTAINERD__TYPES__DESCRIPTOR__INIT;
    d.media_type = l->media_type;
    d.digest = l->digest;
    d.size = l->size;
    Containerd__Services__Diff__V1__ApplyRequest req =
        CONTAINERD__SERVICES__DIFF__V1__APPLY_REQUEST__INIT;
    req.diff = &d;
    req.n_mounts = r->n_mounts;
    req.mounts = r->mounts;
    ctd_call_opts o = {.lease = j->lease, .timeout_ms = 300000}; /* a big layer takes time */
    if (ctd_call_ex(j->rt->conn, CTD_M_DIFF_APPLY, &req.base,
                    &containerd__services__diff__v1__apply_response__descriptor, &o, on_applied, j,
                    NULL) != 0)
        finish(j, ctd_closing_error());
}

static void on_layer_stat(void *arg, grpc_status_code st, const char *details,
                          ProtobufCMessage *reply)
{
    job *j = arg;
    ctd_layer *l = &j->img->layers[j->i];
    if (st == GRPC_STATUS_OK) {
        j->i++;
        next_layer(j);
        return;
    }
    if (st != GRPC_STATUS_NOT_FOUND) {
        finish(j, ctd_status_error(st, details));
        return;
    }
    char *uniq = ctd_random_hex(6);
    j->key = xasprintf("extract-%s %s", uniq, l->chain_id);
    free(uniq);
    Containerd__Services__Snapshots__V1__PrepareSnapshotRequest req =
        CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
    req.snapshotter = j->snapshotter;
    req.key = j->key;
    req.parent = j->i > 0 ? (char *)j->img->layers[j->i - 1].chain_id : (char *)"";
    if (ctd_rt_call(j->rt, CTD_M_SNAP_PREPARE, &req.base,
                    &containerd__services__snapshots__v1__prepare_snapshot_response__descriptor,
                    j->lease, 0, false, on_prepared, j) != 0) {
        free(j->key);
        j->key = NULL;
        finish(j, ctd_closing_error());
    }
}

static void next_layer(job *j)
{
    if (j->i == j->img->n_layers) {
        label_config(j);
        return;
    }
    Containerd__Services__Snapshots__V1__StatSnapshotRequest req =
        CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;
    req.snapshotter = j->snapshotter;
    req.key = (char *)j->img->layers[j->i].chain_id;
    if (ctd_rt_call(j->rt, CTD_M_SNAP_STAT, &req.base,
                    &containerd__services__snapshots__v1__stat_snapshot_response__descriptor,
                    j->lease, 0, false, on_layer_stat, j) != 0)
        finish(j, ctd_closing_error());
}

static void on_lease(void *arg, grpc_status_code st, const char *details, ProtobufCMessage *reply)
{
    job *j = arg;
    if (st != GRPC_STATUS_OK) {
        free(j->lease);
        j->lease = NULL;
        finish(j, orch_error_prefix(ctd_status_error(st, details), "creating a lease"));
        return;
    }
    next_layer(j);
}

static void start_job(job *j)
{
    char *uniq = ctd_random_hex(8);
    j->lease = xasprintf("orchd-unpack-%s", uniq);
    free(uniq);
    ctd_lease_create lc;
    ctd_lease_create_init(&lc, j->lease);
    if (ctd_rt_call(j->rt, CTD_M_LEASE_CREATE, &lc.req.base,
                    &containerd__services__leases__v1__create_response__descriptor, NULL, 0, false,
                    on_lease, j) != 0) {
        free(j->lease);
        j->lease = NULL;
        finish(j, ctd_closing_error());
    }
}

/* ---- the entry: is the chain there already? ---- */

static void on_top_stat(void *arg, grpc_status_code st, const char *details,
                        ProtobufCMessage *reply)
{
    stat_req *s = arg;
    if (st != GRPC_STATUS_NOT_FOUND) {
        orch_error *e = st == GRPC_STATUS_OK ? NULL : ctd_status_error(st, details);
        s->cb(s->arg, e);
        orch_error_free(e);
    } else {
        job *j = NULL;
        for (job *k = s->rt->unpack_jobs; k; k = k->next)
            if (strcmp(k->img->chain_id, s->img->chain_id) == 0 &&
                strcmp(k->snapshotter, s->snapshotter) == 0)
                j = k;
        bool fresh = !j;
        if (fresh) {
            j = xcalloc(1, sizeof *j);
            j->rt = s->rt;
            j->img = s->img;
            s->img->refs++;
            j->snapshotter = xstrdup(s->snapshotter);
            j->next = s->rt->unpack_jobs;
            s->rt->unpack_jobs = j;
        }
        j->w = xrealloc(j->w, (j->n_w + 1) * sizeof *j->w);
        j->w[j->n_w++] = (uwaiter){s->cb, s->arg};
        if (fresh)
            start_job(j);
    }
    ctd_image_unref(s->img);
    free(s->snapshotter);
    free(s);
}

int ctd_unpack_ensure(ctd_rt *rt, ctd_image *img, const char *snapshotter, ctd_unpack_cb cb,
                      void *arg)
{
    stat_req *s = xcalloc(1, sizeof *s);
    s->rt = rt;
    s->img = img;
    img->refs++;
    s->snapshotter = xstrdup(snapshotter);
    s->cb = cb;
    s->arg = arg;
    Containerd__Services__Snapshots__V1__StatSnapshotRequest req =
        CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;
    req.snapshotter = s->snapshotter;
    req.key = (char *)img->chain_id;
    int rc = ctd_rt_call(rt, CTD_M_SNAP_STAT, &req.base,
                         &containerd__services__snapshots__v1__stat_snapshot_response__descriptor,
                         NULL, 0, false, on_top_stat, s);
    if (rc != 0) {
        ctd_image_unref(img);
        free(s->snapshotter);
        free(s);
    }
    return rc;
}
