/* The parts of an OCI image config blob (application/vnd.oci.image.config.v1+json,
 * or Docker's application/vnd.docker.container.image.v1+json, which has the
 * same shape) that the containerd runtime needs: the process defaults under
 * "config" and the layer digests under "rootfs". Pure: no I/O.
 *
 * Lenient where images differ in practice (docs/OCI-SPEC.md):
 *  - a missing or null "config", "rootfs" or any field in them is simply
 *    absent (n = 0, NULL);
 *  - Entrypoint and Cmd may be an array of strings or a single string (old
 *    Docker configs), which becomes a one-element list;
 *  - unknown members are ignored.
 * Strict where a wrong type would silently change what runs: a present field
 * of the wrong type is an error. */
#ifndef ORCH_CTD_IMAGE_CONFIG_H
#define ORCH_CTD_IMAGE_CONFIG_H

#include <stddef.h>

typedef struct ctd_strlist {
    char **v; /* malloc'ed strings */
    size_t n;
} ctd_strlist;

typedef struct ctd_image_config {
    char *os;           /* "linux"; NULL when absent */
    char *architecture; /* "amd64", ...; NULL when absent */
    ctd_strlist env;    /* config.Env: "KEY=value" strings, image order */
    ctd_strlist entrypoint; /* config.Entrypoint */
    ctd_strlist cmd;        /* config.Cmd */
    char *working_dir;  /* config.WorkingDir; NULL when absent or "" */
    char *user;         /* config.User; NULL when absent or "" (root) */
    char *stop_signal;  /* config.StopSignal; NULL when absent or "" */
    ctd_strlist diff_ids; /* rootfs.diff_ids: "sha256:..." (uncompressed layers), base first */
} ctd_image_config;

/* Parses len bytes of JSON into *out (zeroed first). Returns 0, or -1 with
 * *err (malloc'ed) saying what is wrong, e.g. "image config: config.Env is
 * not an array of strings"; the caller adds the service and image names.
 * On failure *out is left empty (nothing to free, freeing is harmless). */
int ctd_image_config_parse(const char *json, size_t len, ctd_image_config *out, char **err);

/* Frees what parse allocated and zeroes *c. Safe on a zeroed struct. */
void ctd_image_config_free(ctd_image_config *c);

#endif
