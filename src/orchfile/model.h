/* The service model: what one Orchfile (a "layer") or the merged result of
 * several says about each service. The same struct serves both: in a layer,
 * `set` tells which scalar directives that file gave and `cleared` which
 * lists it CLEARed; in the merged model, `set` tells which optional values are
 * present (absent ones are omitted from JSON). Every field remembers where its
 * value came from so later stages can name FILE:LINE. */
#ifndef ORCH_MODEL_H
#define ORCH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orchfile/diag.h"

#define ORCH_SPEC_VERSION "0.2.1"
/* The reference parser's current version string, also accepted. */
#define ORCH_REFERENCE_VERSION "1.0.0-rc"
#define ORCH_NAME_MAX 63

/* One bit per directive. Order is also the order of the directive table. */
typedef enum orch_field {
    ORCH_F_FROM,
    ORCH_F_RUN,
    ORCH_F_ENTRYPOINT,
    ORCH_F_CMD,
    ORCH_F_PUBLISH,
    ORCH_F_VOLUME,
    ORCH_F_USER,
    ORCH_F_STOP,
    ORCH_F_RELOAD,
    ORCH_F_WORKDIR,
    ORCH_F_ENV,
    ORCH_F_ENV_FILE,
    ORCH_F_REQUIRES,
    ORCH_F_AFTER,
    ORCH_F_HEALTHCHECK,
    ORCH_F_READINESS_TIMEOUT,
    ORCH_F_ONESHOT,
    ORCH_F_DISABLED,
    ORCH_F_RECREATE,
    ORCH_F_RESTART,
    ORCH_F_RESTART_DELAY,
    ORCH_F_START_LIMIT_BURST,
    ORCH_F_START_LIMIT_INTERVAL,
    ORCH_F_TIMEOUT_START,
    ORCH_F_TIMEOUT_STOP,
    ORCH_F_MEMORY,
    ORCH_F_CPUS,
    ORCH_F_CPU_QUOTA,
    ORCH_F_LIMIT_NOFILE,
    ORCH_F_LIMIT_NPROC,
    ORCH_F_TASKS_MAX,
    ORCH_F_IO_WEIGHT,
    ORCH_F_STDOUT,
    ORCH_F_STDERR,
    ORCH_F__COUNT
} orch_field;

#define ORCH_BIT(f) ((uint64_t)1 << (f))

typedef enum { ORCH_MODE_NONE, ORCH_MODE_CONTAINER, ORCH_MODE_HOST } orch_mode;
typedef enum { ORCH_RESTART_NO, ORCH_RESTART_ALWAYS, ORCH_RESTART_ON_FAILURE } orch_restart_policy;
typedef enum { ORCH_RECREATE_NEVER, ORCH_RECREATE_ALWAYS } orch_recreate;

typedef struct orch_str {
    char *s;
    orch_origin at;
} orch_str;

typedef struct orch_strv {
    orch_str *v;
    size_t n, cap;
} orch_strv;

typedef struct orch_env {
    char *key;
    char *value;
    orch_origin at;
} orch_env;

typedef struct orch_publish {
    char *address; /* NULL when not given */
    uint16_t host;
    uint16_t container;
    orch_origin at;
} orch_publish;

typedef struct orch_volume {
    char *source;
    char *destination;
    bool is_named;
    orch_origin at;
} orch_volume;

typedef struct orch_service {
    char *name;
    orch_origin at; /* the SERVICE line (first declaration) */

    uint64_t set;     /* ORCH_BIT(field) for each scalar/list given */
    uint64_t cleared; /* ORCH_BIT(field) for each list CLEARed (layers only) */
    orch_origin field_at[ORCH_F__COUNT];

    /* strings (NULL when absent) */
    char *image;
    char *run_command;
    char *entrypoint;
    char *cmd;
    char *user;
    char *stop_command;
    char *reload_command;
    char *workdir;
    char *healthcheck;
    char *stdout_path;
    char *stderr_path;

    /* lists */
    orch_publish *publish;
    size_t n_publish;
    orch_volume *volumes;
    size_t n_volumes;
    orch_env *env;
    size_t n_env;
    orch_strv env_files;
    orch_strv requires;
    orch_strv after;

    /* typed scalars; meaningful when their bit is in `set`, otherwise the
     * default (filled by orch_service_defaults) */
    uint32_t readiness_timeout; /* seconds */
    bool oneshot;
    bool disabled;
    orch_recreate recreate;
    orch_restart_policy restart;
    uint32_t restart_delay;        /* seconds */
    uint32_t start_limit_burst;    /* 0 = no limit */
    uint32_t start_limit_interval; /* seconds */
    uint32_t timeout_start;        /* seconds */
    uint32_t timeout_stop;         /* seconds */
    uint64_t memory;               /* bytes */
    double cpus;
    uint32_t cpu_quota; /* percent */
    uint64_t limit_nofile;
    uint64_t limit_nproc;
    uint64_t tasks_max;
    uint32_t io_weight;

    /* The value of each typed scalar directive as written (after ${var}
     * expansion): "2m", "512M", "150%". NULL when the directive is absent.
     * The reference JSON carries durations, sizes and percentages in this
     * form; the typed members above are what the engine uses. */
    char *written[ORCH_F__COUNT];
} orch_service;

typedef struct orch_arg {
    char *name;
    char *value;
    orch_origin at;
} orch_arg;

typedef struct orch_model {
    orch_arg *args;
    size_t n_args;
    orch_service *services; /* declaration order */
    size_t n_services;
} orch_model;

void orch_service_defaults(orch_service *s);
void orch_service_free(orch_service *s);
void orch_model_free(orch_model *m);

orch_mode orch_service_mode(const orch_service *s);
orch_service *orch_model_find(const orch_model *m, const char *name);
const char *orch_field_keyword(orch_field f); /* "FROM", "RUN", ... */

/* The one CPU rule every runtime and `orchd export` apply: when CPUS and
 * CPU_QUOTA are both set the stricter wins, so a service never gets more CPU
 * than either line asked for (CPUS 2 with CPU_QUOTA 150% is 1.5 cores).
 * Returns false when neither is set; otherwise *cores is the limit and *from
 * the directive it comes from (CPUS on a tie). */
bool orch_service_cpu_limit(const orch_service *s, double *cores, orch_field *from);

/* A PUBLISH whose host and container ports differ needs a network namespace
 * and port forwarding; containers here share the host's network, which
 * cannot remap. Returns the message for it (malloc'ed), or NULL when p
 * publishes the same port on both sides. */
char *orch_publish_remap_problem(const orch_publish *p);

#endif
