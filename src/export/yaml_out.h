/* A small YAML writer over libyaml's emitter, for manifests: block style,
 * strings quoted whenever a YAML reader could take them for something else
 * ("yes", "0755", "1e3", "null", ": " inside), comments between documents. */
#ifndef ORCH_EXPORT_YAML_OUT_H
#define ORCH_EXPORT_YAML_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

typedef struct yout {
    char *buf; /* the whole stream so far, NUL-terminated */
    size_t len, cap;
    yaml_emitter_t em;
    bool in_doc;
    bool failed; /* the emitter refused an event (a bug: unbalanced calls) */
    /* Strings are written with every '$' doubled: compose interpolates
     * $VAR everywhere, Kubernetes $(VAR) in command, args and env, and both
     * turn "$$" into "$", so doubling keeps the text as orchd ran it. */
    bool escape_dollar;
} yout;

void yout_init(yout *y);
void yout_free(yout *y);
/* "# text" lines before the next document (text may hold newlines). */
void yout_comment(yout *y, const char *text);
void yout_doc_begin(yout *y); /* "---" */
void yout_doc_end(yout *y);
void yout_map_open(yout *y);
void yout_map_close(yout *y);
void yout_seq_open(yout *y);
void yout_seq_close(yout *y);
void yout_str(yout *y, const char *s); /* a string, quoted when needed */
void yout_key(yout *y, const char *k); /* same as yout_str */
void yout_int(yout *y, long long v);
void yout_num(yout *y, double v); /* 0.5, 2 */
void yout_bool(yout *y, bool v);
/* key: value shorthands */
void yout_kv_str(yout *y, const char *k, const char *v);
void yout_kv_int(yout *y, const char *k, long long v);
/* key: {k: v} */
void yout_kv_map1(yout *y, const char *key, const char *k, const char *v);
/* Ends the stream; returns the text (owned by y) or NULL if it failed. */
const char *yout_finish(yout *y);

#endif
