/* A service's image for the vm runtime: an OCI image layout (`oci:DIR`) or
 * an OCI image archive, the layout as a tar (`oci-archive:PATH`), read
 * directly: index.json -> manifest -> config and layers (no containerd, no
 * registry). The root filesystem made from it is cached per manifest digest
 * under <data>/vm/rootfs/<hex>: built in a temporary directory beside it and
 * renamed into place, so a cache entry is either complete or absent; the
 * temporaries of a crashed build are removed by the next build. Blocking:
 * call on a worker thread. */
#ifndef ORCH_VM_IMAGE_H
#define ORCH_VM_IMAGE_H

#include <stddef.h>

typedef struct vm_image {
    char *digest_hex;  /* the manifest's sha256, 64 hex digits */
    char *config_json; /* the image config blob */
    size_t config_len;
    char *rootfs;      /* <cache>/<hex>, complete */
} vm_image;

/* Parses "oci-archive:PATH" / "oci:DIR" (relative to project_dir). Any
 * other reference fails with "the vm runtime takes oci-archive: or oci:
 * images". Returns 0, or -1 with *err. */
int vm_image_ref(const char *ref, const char *project_dir, int *is_archive, char **path,
                 char **err);

/* Makes sure the rootfs of ref is in cache_dir and fills *out. Returns 0 or
 * -1 with *err (malloc'ed, names the image and what is wrong). */
int vm_image_prepare(const char *ref, const char *project_dir, const char *cache_dir,
                     vm_image *out, char **err);
void vm_image_free(vm_image *img);

#endif
