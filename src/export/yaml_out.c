/* The YAML writer (yaml_out.h). */
#include "export/yaml_out.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

static void append(yout *y, const char *s, size_t n)
{
    xgrow((void **)&y->buf, &y->cap, y->len + n + 1, 1);
    memcpy(y->buf + y->len, s, n);
    y->len += n;
    y->buf[y->len] = '\0';
}

static int on_write(void *data, unsigned char *buffer, size_t size)
{
    append(data, (const char *)buffer, size);
    return 1;
}

static void emit(yout *y, yaml_event_t *ev)
{
    if (y->failed) {
        yaml_event_delete(ev);
        return;
    }
    if (!yaml_emitter_emit(&y->em, ev)) /* takes the event either way */
        y->failed = true;
}

void yout_init(yout *y)
{
    memset(y, 0, sizeof *y);
    append(y, "", 0);
}

void yout_free(yout *y)
{
    free(y->buf);
    memset(y, 0, sizeof *y);
}

void yout_comment(yout *y, const char *text)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        append(y, "# ", 2);
        append(y, p, n);
        append(y, "\n", 1);
        p += n + (nl ? 1 : 0);
    }
}

/* Each document gets an emitter of its own, so comments can go between. */
void yout_doc_begin(yout *y)
{
    yaml_emitter_initialize(&y->em);
    yaml_emitter_set_output(&y->em, on_write, y);
    yaml_emitter_set_unicode(&y->em, 1);
    yaml_emitter_set_width(&y->em, 100);
    yaml_emitter_set_indent(&y->em, 2);
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    emit(y, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0);
    emit(y, &ev);
    y->in_doc = true;
}

void yout_doc_end(yout *y)
{
    yaml_event_t ev;
    yaml_document_end_event_initialize(&ev, 1);
    emit(y, &ev);
    yaml_stream_end_event_initialize(&ev);
    emit(y, &ev);
    if (!y->failed && !yaml_emitter_flush(&y->em))
        y->failed = true;
    yaml_emitter_delete(&y->em);
    y->in_doc = false;
}

void yout_map_open(yout *y)
{
    yaml_event_t ev;
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    emit(y, &ev);
}

void yout_map_close(yout *y)
{
    yaml_event_t ev;
    yaml_mapping_end_event_initialize(&ev);
    emit(y, &ev);
}

void yout_seq_open(yout *y)
{
    yaml_event_t ev;
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
    emit(y, &ev);
}

void yout_seq_close(yout *y)
{
    yaml_event_t ev;
    yaml_sequence_end_event_initialize(&ev);
    emit(y, &ev);
}

static bool looks_like_number(const char *s)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p == '.')
        p++;
    return isdigit((unsigned char)*p) || strncmp(p, "inf", 3) == 0 ||
           strncmp(p, "Inf", 3) == 0 || strncmp(p, "INF", 3) == 0 ||
           strncmp(p, "nan", 3) == 0 || strncmp(p, "NaN", 3) == 0 || strncmp(p, "NAN", 3) == 0;
}

/* YAML 1.1 and 1.2 readers resolve these plain scalars to non-strings. */
static bool needs_quotes(const char *s)
{
    static const char *const words[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No",
                                        "NO", "true", "True", "TRUE", "false", "False",
                                        "FALSE", "on", "On", "ON", "off", "Off", "OFF",
                                        "null", "Null", "NULL", "~", ""};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    if (looks_like_number(s))
        return true;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_./=@+", *p))
            return true; /* let libyaml pick nothing clever: quote */
    return strchr("-.@", s[0]) != NULL;
}

static char *double_dollars(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '$' ? 2 : 1;
    char *out = xmalloc(n + 1), *q = out;
    for (const char *p = s; *p; p++) {
        *q++ = *p;
        if (*p == '$')
            *q++ = '$';
    }
    *q = '\0';
    return out;
}

void yout_str(yout *y, const char *s)
{
    if (!s)
        s = "";
    if (y->escape_dollar && strchr(s, '$')) {
        char *d = double_dollars(s);
        bool keep = y->escape_dollar;
        y->escape_dollar = false;
        yout_str(y, d);
        y->escape_dollar = keep;
        free(d);
        return;
    }
    yaml_event_t ev;
    yaml_scalar_style_t style =
        needs_quotes(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, style);
    emit(y, &ev);
}

void yout_key(yout *y, const char *k)
{
    yout_str(y, k);
}

static void plain(yout *y, const char *text)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), 1, 1,
                                 YAML_PLAIN_SCALAR_STYLE);
    emit(y, &ev);
}

void yout_int(yout *y, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    plain(y, b);
}

void yout_num(yout *y, double v)
{
    char b[64];
    snprintf(b, sizeof b, "%.15g", v);
    plain(y, b);
}

void yout_bool(yout *y, bool v)
{
    plain(y, v ? "true" : "false");
}

void yout_kv_str(yout *y, const char *k, const char *v)
{
    yout_key(y, k);
    yout_str(y, v);
}

void yout_kv_int(yout *y, const char *k, long long v)
{
    yout_key(y, k);
    yout_int(y, v);
}

void yout_kv_map1(yout *y, const char *key, const char *k, const char *v)
{
    yout_key(y, key);
    yout_map_open(y);
    yout_kv_str(y, k, v);
    yout_map_close(y);
}

const char *yout_finish(yout *y)
{
    if (y->in_doc)
        yout_doc_end(y);
    return y->failed ? NULL : y->buf;
}
