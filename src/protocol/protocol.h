/* The control protocol between the CLI and the daemon: one JSON object per
 * line on a unix socket; one request per connection, one reply line back.
 * Decoding is separate from I/O so it can be fuzzed (tests/fuzz). See
 * docs/PROTOCOL.md. */
#ifndef ORCH_PROTOCOL_H
#define ORCH_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

#define ORCH_REQUEST_MAX (1u << 20)

typedef enum orch_req_kind {
    ORCH_REQ_PING,
    ORCH_REQ_GROW,
    ORCH_REQ_FELL,
    ORCH_REQ_SURVEY,
    ORCH_REQ_RELOAD,
    ORCH_REQ_LOG_PATH,
    ORCH_REQ_PULL,   /* pull (or import) the images of the model's FROM services */
    ORCH_REQ_IMPORT, /* import an OCI archive or layout: files[0] */
} orch_req_kind;

typedef struct orch_request {
    orch_req_kind kind;
    char **files; /* grow: absolute paths, base first */
    size_t n_files;
    char **arg_names; /* grow: --arg overrides, in order */
    char **arg_values;
    size_t n_args;
    char **env; /* grow: the client's ORCH_ARG_* as NAME=VALUE, NULL-terminated */
    size_t n_env;
    char **names; /* grow/fell/reload/log-path: SERVICE names */
    size_t n_names;
    char *project_dir; /* grow: must match the daemon's */
    char *data_dir;
    char *namespace_;
    char *port_offset; /* grow: ${PORT_OFFSET}, must match the daemon's */
    bool keep_data;
    bool poweroff;
    char *pull;    /* grow: always|missing|never (NULL: missing) */
    char **rerun;  /* grow: ONESHOTs to run again even if their success is on record */
    size_t n_rerun;
    bool progress; /* grow/pull/import: stream {"progress": ...} lines before the reply */
} orch_request;

/* Returns 0, or -1 with *err (malloc'ed) saying what is wrong. */
int orch_request_decode(const char *buf, size_t len, orch_request *r, char **err);
/* Returns a malloc'ed JSON line (with the trailing newline). */
char *orch_request_encode(const orch_request *r);
void orch_request_free(orch_request *r);
const char *orch_req_kind_name(orch_req_kind k);

#endif
