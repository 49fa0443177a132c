/* The store layer: images as containerd's store holds them (resolved to
 * linux/<host arch>, cached), blobs, unpacking into snapshots, and reading
 * files out of a prepared root filesystem. Calls only core/ and transport/. */
#ifndef ORCH_CTD_STORE_H
#define ORCH_CTD_STORE_H

#include "containerd/core/core.h"
#include "containerd/store/image_config.h"
#include "containerd/types/mount.pb-c.h"

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
 * err (its code: NOT_FOUND when the store lacks it); name the name found in
 * the store. cb runs later, from
 * the loop. Returns 0, or -errno when no call could be made (cb never runs). */
typedef void (*ctd_image_cb)(void *arg, ctd_image *img, const char *name, const orch_error *err);
int ctd_image_get(ctd_rt *rt, const char *ref, ctd_image_cb cb, void *arg);
void ctd_image_unref(ctd_image *img);
void ctd_images_free(ctd_rt *rt);
/* Content.Read of a whole blob (at most max bytes), digest-checked. */
typedef void (*ctd_blob_cb)(void *arg, char *data, size_t len, const orch_error *err);
int ctd_blob_read(ctd_rt *rt, const char *digest, size_t max, ctd_blob_cb cb, void *arg);

/* ---------------------------------------------------------------- unpack */
/* Makes sure img's chain snapshot exists in snapshotter: Stat, and when
 * missing, unpacks every missing layer under a lease of its own
 * (Prepare, Diff.Apply, Commit) and labels the config blob so the garbage
 * collector keeps the snapshots. Concurrent calls for one chain share the
 * work. err is NULL on success; ORCH_E_UNSUPPORTED when containerd has no
 * such snapshotter (a start falls back to another). */
typedef void (*ctd_unpack_cb)(void *arg, const orch_error *err);
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

#endif
