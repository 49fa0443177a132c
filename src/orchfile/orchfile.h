/* The Orchfile pipeline: read files (text or YAML) -> layers -> resolve ARGs
 * -> expand ${var} -> type every value -> merge overlays left to right ->
 * check C1-C4. This is the only header the rest of orchd needs. */
#ifndef ORCH_ORCHFILE_H
#define ORCH_ORCHFILE_H

#include <stddef.h>

#include "orchfile/diag.h"
#include "orchfile/model.h"

typedef struct orch_arg_override {
    const char *name;
    const char *value;
} orch_arg_override;

typedef struct orch_load_opts {
    const char *const *files; /* base first, then overlays */
    size_t n_files;
    const orch_arg_override *cli_args; /* --arg name=value, in order */
    size_t n_cli_args;
    /* Environment to read ORCH_ARG_<name> from; NULL means the process's. */
    char *const *environ;
} orch_load_opts;

/* Returns 0 and fills *out on success; on failure returns -1, leaves *out
 * empty, and d holds at least one error. Warnings may be present either way. */
int orch_load(const orch_load_opts *opts, orch_model *out, orch_diags *d);

/* What `orchd validate` adds to orch_load's checks (C1-C4): errors for what
 * the spec allows but this orchd cannot run (a PUBLISH that remaps a port in
 * the host network), warnings for what it runs differently than a reader may
 * think (CPUS with CPU_QUOTA: the stricter applies). */
void orch_check_runnable(const orch_model *m, orch_diags *d);

/* Parses one buffer into a layer (front-end chosen by file name: .yaml/.yml
 * is YAML, anything else text). Exposed for the fuzzers and tests. */
struct orch_layer;
void orch_parse_buffer(struct orch_layer *l, const char *data, size_t len);
void orch_parse_text(struct orch_layer *l, const char *data, size_t len);
void orch_parse_yaml(struct orch_layer *l, const char *data, size_t len);
int orch_is_yaml_name(const char *file);

/* JSON (yajl). By default the interchange form of ORCHFILE.md, the reference
 * parser's shape: durations, sizes and percentages as written, values that
 * were not written omitted. ORCH_JSON_TYPED writes the typed form instead
 * (seconds, bytes, percent; defaults filled in): the same spec always gives
 * the same text, which change detection and run records rely on.
 * Returns a malloc'ed, NUL-terminated string (docs/JSON.md). */
enum {
    ORCH_JSON_PRETTY = 1u << 0,
    ORCH_JSON_TYPED = 1u << 1,
};
char *orch_model_to_json(const orch_model *m, unsigned flags);

#endif
