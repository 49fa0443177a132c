/* ENV_FILE files and the ordered KEY=value lists they produce.
 *
 * Format (one variable per line):
 *   # comment                     blank lines and '#' lines are skipped
 *   KEY=value                     value runs to the end of the line; spaces
 *                                 around it are trimmed; " #" starts a comment
 *   export KEY=value              the shell's `export ` prefix is allowed
 *   KEY='value'                   literal, no escapes
 *   KEY="value"                   \" and \\ are unescaped; other text literal
 * KEY is [A-Za-z_][A-Za-z0-9_]*; blanks before '=' are allowed. A trailing
 * '\r' (CRLF files) is ignored. Anything else is an error naming FILE:LINE. */
#ifndef ORCH_ENVFILE_H
#define ORCH_ENVFILE_H

#include <stddef.h>

typedef struct orch_kv {
    char *key;
    char *value;
} orch_kv;

/* Keys are unique; order is the order of first appearance. */
typedef struct orch_kvlist {
    orch_kv *v;
    size_t n, cap;
} orch_kvlist;

/* Sets key to value: replaces an existing entry, else appends. */
void orch_kvlist_set(orch_kvlist *l, const char *key, const char *value);
const char *orch_kvlist_get(const orch_kvlist *l, const char *key);
/* "KEY=value" strings, NULL-terminated, for execve; free with orch_strv_free. */
char **orch_kvlist_envp(const orch_kvlist *l);
void orch_kvlist_free(orch_kvlist *l);
void orch_strv_free(char **v);

/* Parses text (len bytes; name is used in messages) into out, later lines
 * overriding earlier ones and whatever out already held. Returns 0, or -1
 * with *err = "NAME:LINE: what is wrong" (malloc'ed); out keeps the lines
 * before the bad one. */
int orch_envfile_parse(const char *text, size_t len, const char *name, orch_kvlist *out,
                       char **err);
/* The largest ENV_FILE read: a mistake (or /dev/zero) must not grow the
 * daemon without bound. */
#define ORCH_ENVFILE_MAX ((size_t)1 << 20)

/* Reads and parses the file at path; *err names the path on I/O errors. The
 * file must be a regular file of at most ORCH_ENVFILE_MAX bytes; it is
 * opened without blocking (a FIFO is refused, never waited on). Whose
 * permissions apply is the caller's choice (common/fsid.h). */
int orch_envfile_read(const char *path, orch_kvlist *out, char **err);

#endif
