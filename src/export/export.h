/* orchd export: the same Orchfile, written for the distributed engines an
 * operator moves to (docs/EXPORT.md has the mapping, field by field):
 *   kubernetes  one YAML stream: Deployments or StatefulSets, Services,
 *               Jobs, ConfigMaps for ENV_FILEs, the RBAC the dependency
 *               waits need;
 *   compose     one compose file for docker compose / docker stack deploy.
 * What has no counterpart is said in a comment in the output, never
 * dropped silently; what cannot be exported at all (host RUN services) is a
 * warning, and an error with strict. */
#ifndef ORCH_EXPORT_H
#define ORCH_EXPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "orchfile/model.h"

typedef enum { ORCH_EXPORT_KUBERNETES, ORCH_EXPORT_COMPOSE } orch_export_format;

typedef struct orch_export_opts {
    orch_export_format format;
    /* ${ORCH_PROJECT}: relative ENV_FILE and VOLUME paths resolve here. */
    const char *project_dir;
    /* kubernetes: the images of the initContainers that wait for REQUIRES
     * (NULL: ORCH_EXPORT_WAIT_IMAGE, ORCH_EXPORT_KUBECTL_IMAGE). */
    const char *wait_image;
    const char *kubectl_image;
    bool strict; /* a service that cannot be exported is an error */
    bool swarm;  /* compose: the version 3 schema `docker stack deploy` reads */
} orch_export_opts;

#define ORCH_EXPORT_WAIT_IMAGE "busybox:1.36"
#define ORCH_EXPORT_KUBECTL_IMAGE "bitnami/kubectl:1.30"

typedef struct orch_export_file {
    char *name; /* for -o DIR: "web.yaml", "compose.yaml" */
    char *text;
} orch_export_file;

typedef struct orch_export_result {
    orch_export_file *files; /* stdout gets them one after the other */
    size_t n_files;
    char **warnings; /* "service web: ..." lines for stderr */
    size_t n_warnings;
} orch_export_result;

/* Exports m. Returns 0, or -1 with *err: an ENV_FILE that cannot be read,
 * a name the target cannot take, or (strict) a service that cannot be
 * exported. out holds the warnings either way. */
int orch_export(const orch_model *m, const orch_export_opts *o, orch_export_result *out,
                orch_error **err);
void orch_export_result_free(orch_export_result *r);

#endif
