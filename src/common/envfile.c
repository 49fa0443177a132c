/* ENV_FILE parsing (format in envfile.h) and the KEY=value list. */
#include "common/envfile.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/safeopen.h"
#include "common/xalloc.h"

/* ---- the list ---- */

void orch_kvlist_set(orch_kvlist *l, const char *key, const char *value)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].key, key) == 0) {
            free(l->v[i].value);
            l->v[i].value = xstrdup(value);
            return;
        }
    }
    xgrow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v);
    l->v[l->n++] = (orch_kv){xstrdup(key), xstrdup(value)};
}

const char *orch_kvlist_get(const orch_kvlist *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].key, key) == 0)
            return l->v[i].value;
    return NULL;
}

char **orch_kvlist_envp(const orch_kvlist *l)
{
    char **v = xcalloc(l->n + 1, sizeof *v);
    for (size_t i = 0; i < l->n; i++)
        v[i] = xasprintf("%s=%s", l->v[i].key, l->v[i].value);
    return v;
}

void orch_kvlist_free(orch_kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].value);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

void orch_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* ---- parsing ---- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_key_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_key_char(char c)
{
    return is_key_start(c) || (c >= '0' && c <= '9');
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && is_blank(*p))
        p++;
    return p;
}

/* After a closing quote only blanks and a comment may follow. */
static bool only_comment_left(const char *p, const char *end)
{
    p = skip_blanks(p, end);
    return p == end || *p == '#';
}

/* Parses the value in [p, end) into a new string; NULL with *why on error. */
static char *parse_value(const char *p, const char *end, const char **why)
{
    p = skip_blanks(p, end);
    if (p < end && *p == '\'') {
        const char *close = memchr(p + 1, '\'', (size_t)(end - p - 1));
        if (!close) {
            *why = "unterminated single-quoted value";
            return NULL;
        }
        if (!only_comment_left(close + 1, end)) {
            *why = "unexpected text after the closing quote";
            return NULL;
        }
        return xstrndup(p + 1, (size_t)(close - p - 1));
    }
    if (p < end && *p == '"') {
        char *out = xmalloc((size_t)(end - p));
        size_t n = 0;
        for (p++; p < end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\'))
                p++;
            out[n++] = *p;
        }
        if (p == end) {
            free(out);
            *why = "unterminated double-quoted value";
            return NULL;
        }
        if (!only_comment_left(p + 1, end)) {
            free(out);
            *why = "unexpected text after the closing quote";
            return NULL;
        }
        out[n] = '\0';
        return out;
    }
    /* Unquoted: up to a comment that follows a blank, trailing blanks cut. */
    const char *stop = p;
    while (stop < end && !(*stop == '#' && stop > p && is_blank(stop[-1])))
        stop++;
    while (stop > p && is_blank(stop[-1]))
        stop--;
    return xstrndup(p, (size_t)(stop - p));
}

/* One line without its newline. Returns 0, or -1 with *why. */
static int parse_line(const char *p, const char *end, orch_kvlist *out, const char **why)
{
    p = skip_blanks(p, end);
    if (p == end || *p == '#')
        return 0;
    if (end - p > 7 && memcmp(p, "export", 6) == 0 && is_blank(p[6]))
        p = skip_blanks(p + 7, end);
    const char *key = p;
    if (p == end || !is_key_start(*p)) {
        *why = "expected KEY=value with KEY made of letters, digits and '_'";
        return -1;
    }
    while (p < end && is_key_char(*p))
        p++;
    const char *key_end = p;
    p = skip_blanks(p, end);
    if (p == end || *p != '=') {
        *why = "expected KEY=value with KEY made of letters, digits and '_'";
        return -1;
    }
    char *value = parse_value(p + 1, end, why);
    if (!value)
        return -1;
    char *k = xstrndup(key, (size_t)(key_end - key));
    orch_kvlist_set(out, k, value);
    free(k);
    free(value);
    return 0;
}

int orch_envfile_parse(const char *text, size_t len, const char *name, orch_kvlist *out,
                       char **err)
{
    *err = NULL;
    if (memchr(text, '\0', len)) {
        *err = xasprintf("%s: contains a NUL byte; not a text file", name);
        return -1;
    }
    const char *end = text + len;
    int line = 1;
    for (const char *p = text; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *content_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        const char *why = NULL;
        if (parse_line(p, content_end, out, &why) < 0) {
            *err = xasprintf("%s:%d: %s", name, line, why);
            return -1;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int orch_envfile_read(const char *path, orch_kvlist *out, char **err)
{
    char *text, *why;
    size_t len;
    if (orch_read_file_capped(path, ORCH_ENVFILE_MAX, 0, &text, &len, &why) < 0) {
        *err = xasprintf("%s: %s", path, why);
        free(why);
        return -1;
    }
    int r = orch_envfile_parse(text, len, path, out, err);
    free(text);
    return r;
}
