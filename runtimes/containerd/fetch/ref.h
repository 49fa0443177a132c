/* Image references, as docker and containerd read them:
 *
 *   busybox                      -> docker.io/library/busybox:latest
 *   user/app:1.2                 -> docker.io/user/app:1.2
 *   127.0.0.1:5000/orchd-test    -> 127.0.0.1:5000/orchd-test:latest
 *   ghcr.io/o/r@sha256:<hex>     -> a digest (and no tag)
 *
 * and the two local sources orchd imports from: oci-archive:PATH (an OCI
 * image layout in a tar file) and oci:DIR[:TAG] (an OCI image layout
 * directory). */
#ifndef ORCH_PULL_REF_H
#define ORCH_PULL_REF_H

#include <stdbool.h>

#include "common/error.h"

typedef enum img_ref_kind { REF_REGISTRY, REF_OCI_ARCHIVE, REF_OCI_LAYOUT } img_ref_kind;

typedef struct img_ref {
    img_ref_kind kind;
    /* registry */
    char *domain;   /* "docker.io", "127.0.0.1:5000" */
    char *path;     /* "library/busybox" */
    char *tag;      /* NULL with a digest only */
    char *digest;   /* "sha256:<64 hex>" or NULL */
    char *name;     /* the normalised reference: the image record's name */
    /* local */
    char *file;     /* absolute path of the archive or layout */
    char *file_tag; /* oci:DIR:TAG's TAG, or NULL */
} img_ref;

/* Parses s; relative local paths are taken against base_dir (may be NULL:
 * then they are refused). Returns 0, or -1 with *err (ORCH_E_INVALID, naming
 * the reference; err may be NULL). */
int img_ref_parse(const char *s, const char *base_dir, img_ref *r, orch_error **err);
void img_ref_free(img_ref *r);

/* The host that serves a domain's registry API ("registry-1.docker.io" for
 * docker.io). */
const char *img_ref_api_host(const char *domain);

/* "sha256:" followed by 64 lowercase hex digits (the only digests fetched
 * or stored: they become URL and file names). */
bool img_digest_valid(const char *d);

#endif
