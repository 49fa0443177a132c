/* Shared by kube.c and compose.c: the resolved view of one service and the
 * notes that say what did not map. */
#ifndef ORCH_EXPORT_INTERNAL_H
#define ORCH_EXPORT_INTERNAL_H

#include "common/envfile.h"
#include "export/export.h"
#include "export/yaml_out.h"

typedef struct ex_http {
    char *host, *path;
    int port;
} ex_http;

typedef struct ex_service {
    const orch_service *s;
    char *image;      /* builtins expanded */
    char **entry;     /* ENTRYPOINT split into words, NULL-terminated, or NULL */
    char **cmd;       /* CMD split likewise */
    orch_kvlist *env_files; /* one per ENV_FILE, read at export time */
    char **env_file_paths;  /* absolute */
    size_t n_env_files;
    char **vol_sources;     /* path volumes: absolute host paths */
    bool has_http_check;
    ex_http http; /* when has_http_check */
    bool exported;          /* a FROM service (RUN ones cannot be) */
    char **notes;           /* what did not map: comments in the output */
    size_t n_notes, cap_notes;
} ex_service;

typedef struct ex_ctx {
    const orch_model *m;
    const orch_export_opts *o;
    orch_export_result *out;
    ex_service *svcs; /* parallel to m->services */
} ex_ctx;

void ex_note(ex_service *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ex_warn(ex_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ex_service *ex_find(ex_ctx *c, const char *name);
void ex_add_file(ex_ctx *c, const char *name, const char *text);
/* Writes the notes as comments ("service web: TASKS_MAX 64: ..."). */
void ex_comment_notes(yout *y, const ex_service *e);
/* "1.5" for 1.5 CPUs (CPU_QUOTA wins over CPUS, as for containers); false
 * when neither is set. */
bool ex_cpu_limit(const orch_service *s, double *cpus);
/* The CPU and memory limits of s as map entries: cpu_key in millicores
 * ("1500m") when millicores, else as a decimal ("1.50"); memory in bytes
 * (exact everywhere). Writes nothing for what s does not set. */
void ex_write_limits(yout *y, const orch_service *s, const char *cpu_key, bool millicores);
void ex_origin(const orch_service *s, orch_field f, char *buf, size_t n);

int ex_kubernetes(ex_ctx *c, orch_error **err);
int ex_compose(ex_ctx *c, orch_error **err);

#endif
