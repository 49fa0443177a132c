/* The text front-end: one directive per line, "KEYWORD value". */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "orchfile/layer.h"
#include "orchfile/orchfile.h"
#include "orchfile/values.h"

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void parse_line(orch_layer *l, const char *line, size_t len, int lineno)
{
    size_t i = 0;
    while (i < len && is_blank(line[i]))
        i++;
    if (i == len || line[i] == '#')
        return;
    size_t kw_start = i;
    while (i < len && !is_blank(line[i]))
        i++;
    char *keyword = xstrndup(line + kw_start, i - kw_start);
    while (i < len && is_blank(line[i]))
        i++;
    size_t end = len;
    while (end > i && is_blank(line[end - 1]))
        end--;
    char *value = xstrndup(line + i, end - i);
    orch_origin at = {.file = l->file, .line = lineno};
    orch_layer_directive(l, keyword, value, at);
    free(keyword);
    free(value);
}

void orch_parse_text(orch_layer *l, const char *data, size_t len)
{
    int lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        size_t line_len = end - pos;
        if (line_len > 0 && data[pos + line_len - 1] == '\r')
            line_len--;
        parse_line(l, data + pos, line_len, ++lineno);
        pos = end + 1;
    }
}

int orch_is_yaml_name(const char *file)
{
    size_t n = strlen(file);
    return (n >= 5 && strcmp(file + n - 5, ".yaml") == 0) ||
           (n >= 4 && strcmp(file + n - 4, ".yml") == 0);
}

/* Characters (not bytes) from start to offset n of data, plus one: the
 * column of the byte at n, counted as libyaml counts its marks (a byte order
 * mark that starts the file does not count). */
static size_t column_at(const char *data, size_t start, size_t n)
{
    size_t col = 1, i = start;
    if (start == 0 && n >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    for (; i < n; i++)
        col += ((unsigned char)data[i] & 0xC0) != 0x80;
    return col;
}

/* Offset of the first byte of line that does not begin a well-formed UTF-8
 * sequence; len when there is none. */
static size_t first_bad_utf8(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = 1;
        while (n <= 4 && (n > len - i || !orch_valid_utf8(line + i, n)))
            n++;
        if (n > 4)
            return i;
        i += n;
    }
    return len;
}

/* The text form names the column in the message; YAML diagnostics carry
 * line and column in their origin, like libyaml's own errors. */
static void bad_byte(orch_layer *l, int lineno, size_t col, const char *what, const char *why)
{
    orch_origin at = {.file = l->file, .line = lineno};
    if (orch_is_yaml_name(l->file)) {
        at.col = col > INT_MAX ? INT_MAX : (int)col;
        orch_diag_error(l->diags, at, "%s: %s", what, why);
    } else {
        orch_diag_error(l->diags, at, "%s (column %zu): %s", what, col, why);
    }
}

/* An Orchfile is UTF-8 text: a NUL byte or a bad sequence is reported at its
 * line and column and the file is not parsed further (its content cannot be
 * trusted). */
static bool check_text(orch_layer *l, const char *data, size_t len)
{
    int lineno = 1;
    size_t line_start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && data[i] == '\0') {
            bad_byte(l, lineno, column_at(data, line_start, i),
                     "NUL byte in file", "an Orchfile is text");
            return false;
        }
        if (i == len || data[i] == '\n') {
            const char *line = data + line_start;
            size_t n = i - line_start;
            if (!orch_valid_utf8(line, n)) {
                size_t bad = line_start + first_bad_utf8(line, n);
                bad_byte(l, lineno, column_at(data, line_start, bad), "not valid UTF-8",
                         "an Orchfile is UTF-8 text");
                return false;
            }
            lineno++;
            line_start = i + 1;
        }
    }
    return true;
}

void orch_parse_buffer(orch_layer *l, const char *data, size_t len)
{
    if (!check_text(l, data, len))
        return;
    /* Skip a UTF-8 byte order mark; editors on some systems add one. */
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        data += 3;
        len -= 3;
    }
    if (orch_is_yaml_name(l->file))
        orch_parse_yaml(l, data, len);
    else
        orch_parse_text(l, data, len);
}
