/* Reading an OCI image layout (image-layout spec): oci-layout, index.json,
 * nested indexes down to the linux/<arch> manifest, its config and layers.
 * Pure: the layout's files come through an oci_source (a tar index, a
 * directory, a buffer), so the fuzz target and the unit test drive the same
 * code as import.c. Every JSON blob is read (at most CTD_MAX_MANIFEST bytes),
 * checked against its digest and its descriptor's size, and parsed; every
 * config and layer must be present with the size its descriptor gives. The
 * result is the plan of blobs to store. Also the media-type and platform
 * helpers that registry.c shares. */
#ifndef ORCH_IMPORT_OCI_LAYOUT_H
#define ORCH_IMPORT_OCI_LAYOUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

#include "common/error.h"
#include "containerd/core/ctd_limits.h"
#include "containerd/core/ctd_platform.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1"


/* Where a file of the layout lies: path (malloc'ed; NULL inside an
 * archive), offset and size. */
typedef struct oci_loc {
    char *path;
    int64_t off, size;
} oci_loc;

typedef struct oci_source {
    void *ctx;
    /* name ("index.json", "blobs/sha256/<hex>"): true with *loc when it is
     * there (a regular file) */
    bool (*locate)(void *ctx, const char *name, oci_loc *loc);
    /* n bytes of loc from its start: 0 or an errno */
    int (*read)(void *ctx, const oci_loc *loc, void *buf, size_t n);
    const char *name;  /* the archive or directory, for messages */
    bool is_archive;   /* for messages */
    const char *tag;   /* oci:DIR:TAG's TAG, or NULL */
    const char *arch, *variant; /* the platform to pick ("amd64", "") */
    const atomic_bool *cancel;  /* may be NULL */
} oci_source;

typedef struct oci_blob {
    char *digest, *mt;
    int64_t size;
    const char *what; /* "config", "layer", "manifest", "index" */
    oci_loc loc;      /* config, layers: where the bytes are */
    bool have_loc;
    char *mem;        /* manifests, indexes: the bytes, already checked */
    size_t mem_len;
    char **labels;    /* key, value, ..., NULL */
    size_t n_labels;
} oci_blob;

typedef struct oci_image {
    char *top_mt, *top_digest; /* index.json's entry */
    int64_t top_size;
    char **names; /* the names index.json gives the image */
    size_t n_names;
    char *index_digest; /* sha256 of index.json */
    oci_blob *blobs;    /* config and layers first, then the JSON ones top first */
    size_t n_blobs;
} oci_image;

/* Resolves the image of src (by src->tag when set). 0, or -1 with *err
 * (malloc'ed): a sentence that names src->name and what is wrong. */
int oci_resolve(const oci_source *src, oci_image *img, orch_error **err);
void oci_image_free(oci_image *img);

bool is_index_type(const char *mt);
bool is_manifest_type(const char *mt);

/* Members of parsed manifests, indexes and layout files: a string, or
 * NULL; an integer, or false. */
static inline const char *jstr(yajl_val v, const char *key)
{
    const char *path[] = {key, NULL};
    return YAJL_GET_STRING(yajl_tree_get(v, path, yajl_t_string));
}

static inline bool jint(yajl_val v, const char *key, long long *out)
{
    const char *path[] = {key, NULL};
    yajl_val n = yajl_tree_get(v, path, yajl_t_number);
    if (!n || !YAJL_IS_INTEGER(n))
        return false;
    *out = YAJL_GET_INTEGER(n);
    return true;
}

#endif
