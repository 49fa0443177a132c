/* The YAML front-end (docs/YAML.md). It translates one YAML document into the
 * same builder calls the text parser makes (layer.h), so every check on names
 * and values lives in layer.c. This file only checks the shape of the YAML:
 * which keys exist at the top level, and whether each value is a mapping, a
 * sequence or a single value where one is expected. A shape error is reported
 * and the walk goes on with the next key, so one run shows every such error.
 *
 * The input is read twice: first with libyaml's event API, to reject what the
 * document API would accept silently (aliases, which let a tiny file expand
 * exponentially or even form a cycle; a second document; absurd nesting),
 * then with the document API, whose tree is simpler to walk. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "orchfile/layer.h"
#include "orchfile/orchfile.h"

/* An Orchfile nests four collections at most (the document, services, a
 * service, an env mapping). Deeper input is refused early: libyaml's scanner slows down
 * quadratically with the depth of flow collections ("[[[[..."). */
#define ORCH_YAML_MAX_DEPTH 64

/* Room for "services.<name>.<key>[<index>]" in messages; longer paths (only
 * ever made of names the builder rejects anyway) are cut short with "...". */
#define ORCH_YAML_PATH_CAP 160

typedef struct walk_ctx {
    orch_layer *layer;
    yaml_document_t *doc;
} walk_ctx;

/* ---- origins -------------------------------------------------------------- */

static int clamp_to_int(size_t n)
{
    return n > INT_MAX ? INT_MAX : (int)n;
}

static orch_origin make_origin(const orch_layer *l, size_t line, size_t col)
{
    orch_origin at = {l->file, clamp_to_int(line), clamp_to_int(col)};
    return at;
}

static orch_origin origin_of_mark(const orch_layer *l, yaml_mark_t mark)
{
    return make_origin(l, mark.line + 1, mark.column + 1);
}

static orch_origin origin_of(const walk_ctx *w, const yaml_node_t *n)
{
    return origin_of_mark(w->layer, n->start_mark);
}

/* libyaml's reader (encoding) errors carry a byte offset instead of a mark.
 * Columns count characters, as libyaml's marks do. */
static orch_origin origin_of_offset(const orch_layer *l, const char *data,
                                    size_t len, size_t offset)
{
    size_t line = 1, col = 1;
    size_t i = (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
    for (; i < offset && i < len; i++) {
        if (data[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)data[i] & 0xC0) != 0x80) {
            col++;
        }
    }
    return make_origin(l, line, col);
}

static void report_parser_error(orch_layer *l, const yaml_parser_t *parser,
                                const char *data, size_t len)
{
    const char *problem = parser->problem ? parser->problem : "cannot parse the document";
    if (parser->error == YAML_MEMORY_ERROR)
        problem = "out of memory";
    orch_origin at = parser->error == YAML_READER_ERROR
                         ? origin_of_offset(l, data, len, parser->problem_offset)
                         : origin_of_mark(l, parser->problem_mark);
    orch_diag_error(l->diags, at, "YAML: %s", problem);
}

static void report_out_of_memory(orch_layer *l, orch_origin at)
{
    orch_diag_error(l->diags, at, "YAML: out of memory");
}

/* ---- pass 1: the event stream --------------------------------------------- */

static const yaml_char_t *event_anchor(const yaml_event_t *e)
{
    switch (e->type) {
    case YAML_SCALAR_EVENT:
        return e->data.scalar.anchor;
    case YAML_SEQUENCE_START_EVENT:
        return e->data.sequence_start.anchor;
    case YAML_MAPPING_START_EVENT:
        return e->data.mapping_start.anchor;
    default:
        return NULL;
    }
}

static int depth_change(yaml_event_type_t type)
{
    switch (type) {
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return 1;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return -1;
    default:
        return 0;
    }
}

/* Reports every anchor and alias; a second document, nesting beyond
 * ORCH_YAML_MAX_DEPTH or a syntax error ends the scan. Returns true when the
 * stream is fit for the tree walk. */
static bool check_stream(orch_layer *l, const char *data, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        report_out_of_memory(l, make_origin(l, 0, 0));
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);

    bool ok = true, done = false;
    int documents = 0, depth = 0;
    while (!done) {
        yaml_event_t e;
        if (!yaml_parser_parse(&parser, &e)) {
            report_parser_error(l, &parser, data, len);
            ok = false;
            break;
        }
        orch_origin at = origin_of_mark(l, e.start_mark);
        const yaml_char_t *anchor = event_anchor(&e);
        depth += depth_change(e.type);
        if (depth > ORCH_YAML_MAX_DEPTH) {
            orch_diag_error(l->diags, at, "YAML nesting deeper than %d levels", ORCH_YAML_MAX_DEPTH);
            ok = false;
            done = true;
        } else if (e.type == YAML_ALIAS_EVENT) {
            orch_diag_error(l->diags, at, "YAML alias '*%s': anchors and aliases are not supported",
                       (const char *)e.data.alias.anchor);
            ok = false;
        } else if (anchor) {
            orch_diag_error(l->diags, at, "YAML anchor '&%s': anchors and aliases are not supported",
                       (const char *)anchor);
            ok = false;
        } else if (e.type == YAML_DOCUMENT_START_EVENT && ++documents > 1) {
            orch_diag_error(l->diags, at, "only one YAML document is allowed per file");
            ok = false;
            done = true;
        }
        done = done || e.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&parser);
    return ok;
}

/* ---- node helpers --------------------------------------------------------- */

static const char *kind_of(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a sequence";
    case YAML_SCALAR_NODE:
        return "a single value";
    default:
        return "nothing";
    }
}

static bool is_scalar_text(const yaml_node_t *n, const char *text)
{
    return n->data.scalar.length == strlen(text) &&
           memcmp(n->data.scalar.value, text, n->data.scalar.length) == 0;
}

/* YAML's null: an empty or `~`/`null` plain scalar (a quoted one is text). */
static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return n->data.scalar.length == 0 || is_scalar_text(n, "~") || is_scalar_text(n, "null") ||
           is_scalar_text(n, "Null") || is_scalar_text(n, "NULL");
}

static bool has_nul_byte(const yaml_node_t *n)
{
    return n->data.scalar.length > 0 &&
           memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL;
}

static void path_child(char out[ORCH_YAML_PATH_CAP], const char *parent, const char *key)
{
    int n = snprintf(out, ORCH_YAML_PATH_CAP, "%s.%s", parent, key);
    if (n >= ORCH_YAML_PATH_CAP)
        memcpy(out + ORCH_YAML_PATH_CAP - 4, "...", 4);
}

static void path_item(char out[ORCH_YAML_PATH_CAP], const char *parent, size_t index)
{
    int n = snprintf(out, ORCH_YAML_PATH_CAP, "%s[%zu]", parent, index);
    if (n >= ORCH_YAML_PATH_CAP)
        memcpy(out + ORCH_YAML_PATH_CAP - 4, "...", 4);
}

static void shape_error(walk_ctx *w, const yaml_node_t *n, const char *path,
                        const char *expected)
{
    orch_diag_error(w->layer->diags, origin_of(w, n), "%s: expected %s, found %s", path, expected,
               kind_of(n));
}

/* libyaml NUL-terminates every scalar it produces, so once a scalar is known
 * to hold no NUL byte its value is a proper C string of `length` bytes. */
static const char *raw_text(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* The text of a value that must be a single value; null gives "" (the builder
 * reports a missing value). Returns NULL after reporting why it cannot. */
static const char *value_text(walk_ctx *w, const yaml_node_t *n, const char *path)
{
    if (n->type != YAML_SCALAR_NODE) {
        shape_error(w, n, path, "a single value");
        return NULL;
    }
    if (has_nul_byte(n)) {
        orch_diag_error(w->layer->diags, origin_of(w, n), "%s: the value contains a NUL byte", path);
        return NULL;
    }
    return is_null(n) ? "" : raw_text(n);
}

/* The text of a mapping key, as written (a `~` key is the name "~"). */
static const char *key_text(walk_ctx *w, const yaml_node_t *n, const char *path)
{
    if (n->type != YAML_SCALAR_NODE) {
        orch_diag_error(w->layer->diags, origin_of(w, n), "%s: a key must be a single value, found %s",
                   path, kind_of(n));
        return NULL;
    }
    if (has_nul_byte(n)) {
        orch_diag_error(w->layer->diags, origin_of(w, n), "%s: a key contains a NUL byte", path);
        return NULL;
    }
    return raw_text(n);
}

/* Mapping pairs and sequence items refer to nodes by index; libyaml always
 * fills both sides of a pair, but a missing node is skipped rather than
 * trusted. */
static bool pair_nodes(walk_ctx *w, const yaml_node_pair_t *pair, yaml_node_t **key,
                       yaml_node_t **value)
{
    *key = yaml_document_get_node(w->doc, pair->key);
    *value = yaml_document_get_node(w->doc, pair->value);
    return *key && *value;
}

static size_t sequence_length(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *sequence_item(walk_ctx *w, const yaml_node_t *n, size_t i)
{
    return yaml_document_get_node(w->doc, n->data.sequence.items.start[i]);
}

/* ---- directives ----------------------------------------------------------- */

/* A directive key upper-cased ("restart_delay" -> "RESTART_DELAY"), with the
 * plural aliases folded to their directive. Returns a malloc'ed string. */
static char *keyword_for_key(const char *key)
{
    static const struct {
        const char *alias, *keyword;
    } aliases[] = {{"VOLUMES", "VOLUME"}, {"ENV_FILES", "ENV_FILE"}};

    size_t len = strlen(key);
    char *kw = malloc(len + 1);
    if (!kw)
        return NULL;
    for (size_t i = 0; i < len; i++) /* ASCII only: no locale surprises */
        kw[i] = (key[i] >= 'a' && key[i] <= 'z') ? (char)(key[i] - 'a' + 'A') : key[i];
    kw[len] = '\0';
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        if (strcmp(kw, aliases[i].alias) == 0)
            strcpy(kw, aliases[i].keyword); /* shorter than the alias */
    }
    return kw;
}

/* Keys that make sense only at the top level (or in the text form); passing
 * them on as directives would let a service body declare services or ARGs. */
static bool is_top_level_keyword(const char *kw)
{
    static const char *const names[] = {"ORCH_VERSION", "ARG", "ARGS", "SERVICE", "SERVICES"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(kw, names[i]) == 0)
            return true;
    }
    return false;
}

static void emit(walk_ctx *w, const char *keyword, const char *value, const yaml_node_t *at)
{
    orch_layer_directive(w->layer, keyword, value, origin_of(w, at));
}

/* A scalar directive (FROM, MEMORY, ...): one single value. */
static void emit_single(walk_ctx *w, const char *path, const char *keyword,
                        const yaml_node_t *value)
{
    const char *text = value_text(w, value, path);
    if (text)
        emit(w, keyword, text, value);
}

/* A repeatable directive (ENV_FILE, PUBLISH, VOLUME, ENV): a single value, or
 * a sequence of them giving one directive per item. */
static void emit_each(walk_ctx *w, const char *path, const char *keyword,
                      const yaml_node_t *value)
{
    if (value->type == YAML_MAPPING_NODE) {
        shape_error(w, value, path, "a single value or a sequence of values");
        return;
    }
    if (value->type != YAML_SEQUENCE_NODE) {
        emit_single(w, path, keyword, value);
        return;
    }
    for (size_t i = 0; i < sequence_length(value); i++) {
        const yaml_node_t *item = sequence_item(w, value, i);
        char item_path[ORCH_YAML_PATH_CAP];
        path_item(item_path, path, i);
        if (item)
            emit_single(w, item_path, keyword, item);
    }
}

static char *join_key_value(const char *key, const char *value)
{
    size_t kl = strlen(key), vl = strlen(value);
    char *s = malloc(kl + vl + 2);
    if (s) {
        memcpy(s, key, kl);
        s[kl] = '=';
        memcpy(s + kl + 1, value, vl + 1);
    }
    return s;
}

/* ENV as a mapping: one "KEY=value" directive per pair, placed at the key. */
static void emit_env_mapping(walk_ctx *w, const char *path, const yaml_node_t *map)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key, *value;
        if (!pair_nodes(w, p, &key, &value))
            continue;
        const char *name = key_text(w, key, path);
        if (!name)
            continue;
        char entry_path[ORCH_YAML_PATH_CAP];
        path_child(entry_path, path, name);
        if (strchr(name, '=')) {
            /* "A=B: c" would silently become the variable A. */
            orch_diag_error(w->layer->diags, origin_of(w, key),
                       "%s: an environment variable name cannot contain '='", entry_path);
            continue;
        }
        const char *text = value_text(w, value, entry_path);
        if (!text)
            continue;
        char *entry = join_key_value(name, text);
        if (!entry) {
            report_out_of_memory(w->layer, origin_of(w, key));
            continue;
        }
        emit(w, "ENV", entry, key);
        free(entry);
    }
}

static void emit_env(walk_ctx *w, const char *path, const yaml_node_t *value)
{
    if (value->type == YAML_MAPPING_NODE)
        emit_env_mapping(w, path, value);
    else
        emit_each(w, path, "ENV", value); /* "KEY=value" strings */
}

/* Checks every item of a REQUIRES/AFTER sequence and returns the length of
 * the names joined by spaces, or 0 after reporting bad items. */
static size_t joined_length(walk_ctx *w, const char *path, const yaml_node_t *seq)
{
    size_t total = 0;
    bool ok = true;
    for (size_t i = 0; i < sequence_length(seq); i++) {
        const yaml_node_t *item = sequence_item(w, seq, i);
        char item_path[ORCH_YAML_PATH_CAP];
        path_item(item_path, path, i);
        const char *text = item ? value_text(w, item, item_path) : NULL;
        if (text && *text == '\0') {
            orch_diag_error(w->layer->diags, origin_of(w, item), "%s: empty service name", item_path);
            text = NULL;
        }
        if (text)
            total += strlen(text) + 1;
        else
            ok = false;
    }
    return ok ? total : 0;
}

/* REQUIRES/AFTER: a sequence becomes one directive with the names joined by
 * spaces (the text form's "REQUIRES a b"); a single value passes as is. */
static void emit_joined(walk_ctx *w, const char *path, const char *keyword,
                        const yaml_node_t *value)
{
    if (value->type == YAML_MAPPING_NODE) {
        shape_error(w, value, path, "a sequence of service names or a single value");
        return;
    }
    if (value->type != YAML_SEQUENCE_NODE) {
        emit_single(w, path, keyword, value);
        return;
    }
    size_t total = joined_length(w, path, value);
    if (total == 0)
        return; /* an empty sequence, or errors already reported */
    char *names = malloc(total);
    if (!names) {
        report_out_of_memory(w->layer, origin_of(w, value));
        return;
    }
    size_t used = 0;
    for (size_t i = 0; i < sequence_length(value); i++) {
        /* every item was checked by joined_length: a NUL-free scalar */
        const char *text = raw_text(sequence_item(w, value, i));
        size_t n = strlen(text);
        if (used > 0)
            names[used++] = ' ';
        memcpy(names + used, text, n);
        used += n;
    }
    names[used] = '\0';
    emit(w, keyword, names, value);
    free(names);
}

static void emit_clear_item(walk_ctx *w, const char *path, const yaml_node_t *item)
{
    const char *text = value_text(w, item, path);
    if (!text)
        return;
    char *kw = keyword_for_key(text);
    if (!kw) {
        report_out_of_memory(w->layer, origin_of(w, item));
        return;
    }
    emit(w, "CLEAR", kw, item);
    free(kw);
}

/* CLEAR: a directive name or a sequence of them, one CLEAR each. */
static void emit_clear(walk_ctx *w, const char *path, const yaml_node_t *value)
{
    if (value->type == YAML_MAPPING_NODE) {
        shape_error(w, value, path, "a directive name or a sequence of them");
        return;
    }
    if (value->type != YAML_SEQUENCE_NODE) {
        emit_clear_item(w, path, value);
        return;
    }
    for (size_t i = 0; i < sequence_length(value); i++) {
        const yaml_node_t *item = sequence_item(w, value, i);
        char item_path[ORCH_YAML_PATH_CAP];
        path_item(item_path, path, i);
        if (item)
            emit_clear_item(w, item_path, item);
    }
}

/* An unknown key still goes to the builder, which reports it the same way as
 * in the text form; the shape of its value does not matter then. */
static void emit_unknown(walk_ctx *w, const char *keyword, const yaml_node_t *key,
                         const yaml_node_t *value)
{
    const char *text = "";
    if (value->type == YAML_SCALAR_NODE && !is_null(value) && !has_nul_byte(value))
        text = raw_text(value);
    emit(w, keyword, text, key);
}

static void translate_directive(walk_ctx *w, const char *service_path, const yaml_node_t *key,
                                const char *name, const yaml_node_t *value)
{
    char path[ORCH_YAML_PATH_CAP];
    path_child(path, service_path, name);
    char *kw = keyword_for_key(name);
    if (!kw) {
        report_out_of_memory(w->layer, origin_of(w, key));
        return;
    }
    int field = orch_field_from_keyword(kw);
    if (is_top_level_keyword(kw)) {
        orch_diag_error(w->layer->diags, origin_of(w, key),
                   "%s: '%s' is not a service directive (orch_version, args and services "
                   "are top-level keys)",
                   path, name);
    } else if (strcmp(kw, "CLEAR") == 0) {
        emit_clear(w, path, value);
    } else if (field < 0) {
        emit_unknown(w, kw, key, value);
    } else if (field == ORCH_F_ENV) {
        emit_env(w, path, value);
    } else if (field == ORCH_F_REQUIRES || field == ORCH_F_AFTER) {
        emit_joined(w, path, kw, value);
    } else if (orch_field_is_list((orch_field)field)) {
        emit_each(w, path, kw, value);
    } else {
        emit_single(w, path, kw, value);
    }
    free(kw);
}

/* ---- services, args, version ---------------------------------------------- */

static void translate_service(walk_ctx *w, const yaml_node_t *key, const char *name,
                              const yaml_node_t *body)
{
    char path[ORCH_YAML_PATH_CAP];
    path_child(path, "services", name);
    if (body->type != YAML_MAPPING_NODE && !is_null(body)) {
        shape_error(w, body, path, "a mapping of directives");
        return;
    }
    orch_layer_service(w->layer, name, origin_of(w, key));
    if (body->type != YAML_MAPPING_NODE)
        return; /* `name:` alone declares a service with no directives */
    for (yaml_node_pair_t *p = body->data.mapping.pairs.start; p < body->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k, *v;
        if (!pair_nodes(w, p, &k, &v))
            continue;
        const char *directive = key_text(w, k, path);
        if (directive)
            translate_directive(w, path, k, directive, v);
    }
}

static void translate_services(walk_ctx *w, const yaml_node_t *services)
{
    if (is_null(services))
        return;
    if (services->type != YAML_MAPPING_NODE) {
        shape_error(w, services, "services", "a mapping from service names to their directives");
        return;
    }
    for (yaml_node_pair_t *p = services->data.mapping.pairs.start;
         p < services->data.mapping.pairs.top; p++) {
        yaml_node_t *key, *body;
        if (!pair_nodes(w, p, &key, &body))
            continue;
        const char *name = key_text(w, key, "services");
        if (name)
            translate_service(w, key, name, body);
    }
}

static void translate_args(walk_ctx *w, const yaml_node_t *args)
{
    if (is_null(args))
        return;
    if (args->type != YAML_MAPPING_NODE) {
        shape_error(w, args, "args", "a mapping from ARG names to values");
        return;
    }
    for (yaml_node_pair_t *p = args->data.mapping.pairs.start; p < args->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key, *value;
        if (!pair_nodes(w, p, &key, &value))
            continue;
        const char *name = key_text(w, key, "args");
        if (!name)
            continue;
        char path[ORCH_YAML_PATH_CAP];
        path_child(path, "args", name);
        const char *text = value_text(w, value, path);
        if (text)
            orch_layer_arg_kv(w->layer, name, text, origin_of(w, key));
    }
}

static void translate_version(walk_ctx *w, const yaml_node_t *version)
{
    const char *text = value_text(w, version, "orch_version");
    if (text)
        orch_layer_version(w->layer, text, origin_of(w, version));
}

/* The top-level keys are gathered first and then handled in a fixed order:
 * a YAML mapping is unordered, and the builder wants ORCH_VERSION before any
 * SERVICE. */
static void translate_document(walk_ctx *w)
{
    const yaml_node_t *root = yaml_document_get_root_node(w->doc);
    if (!root || is_null(root))
        return; /* an empty document: no services */
    if (root->type != YAML_MAPPING_NODE) {
        shape_error(w, root, "document", "a mapping with orch_version, args and services");
        return;
    }
    const yaml_node_t *version = NULL, *args = NULL, *services = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key, *value;
        if (!pair_nodes(w, p, &key, &value))
            continue;
        const char *name = key_text(w, key, "document");
        if (!name)
            continue;
        const yaml_node_t **slot = strcmp(name, "orch_version") == 0 ? &version
                                   : strcmp(name, "args") == 0       ? &args
                                   : strcmp(name, "services") == 0   ? &services
                                                                     : NULL;
        if (!slot)
            orch_diag_error(w->layer->diags, origin_of(w, key),
                       "unknown top-level key '%s' (expected orch_version, args or services)",
                       name);
        else if (*slot)
            orch_diag_error(w->layer->diags, origin_of(w, key), "duplicate top-level key '%s'", name);
        else
            *slot = value;
    }
    if (version)
        translate_version(w, version);
    if (args)
        translate_args(w, args);
    if (services)
        translate_services(w, services);
}

/* ---- entry point ---------------------------------------------------------- */

void orch_parse_yaml(orch_layer *l, const char *data, size_t len)
{
    if (!data) {
        data = "";
        len = 0;
    }
    if (!check_stream(l, data, len))
        return;

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        report_out_of_memory(l, make_origin(l, 0, 0));
        return;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    yaml_document_t doc;
    if (yaml_parser_load(&parser, &doc)) {
        walk_ctx w = {l, &doc};
        translate_document(&w);
        yaml_document_delete(&doc);
    } else {
        /* not expected after check_stream, short of memory */
        report_parser_error(l, &parser, data, len);
    }
    yaml_parser_delete(&parser);
}
