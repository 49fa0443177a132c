/* The layer builder: the one place where the structure of an Orchfile is
 * checked, whichever front-end (text or YAML) read it. */
#include "orchfile/layer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "orchfile/expand.h"
#include "orchfile/values.h"

static const uint64_t list_fields =
    ORCH_BIT(ORCH_F_PUBLISH) | ORCH_BIT(ORCH_F_VOLUME) | ORCH_BIT(ORCH_F_ENV) |
    ORCH_BIT(ORCH_F_ENV_FILE) | ORCH_BIT(ORCH_F_REQUIRES) | ORCH_BIT(ORCH_F_AFTER);

bool orch_field_is_list(orch_field f)
{
    return (list_fields & ORCH_BIT(f)) != 0;
}

int orch_field_from_keyword(const char *keyword)
{
    for (int f = 0; f < ORCH_F__COUNT; f++)
        if (strcmp(orch_field_keyword((orch_field)f), keyword) == 0)
            return f;
    return -1;
}

void orch_layer_init(orch_layer *l, orch_diags *diags, const char *file)
{
    memset(l, 0, sizeof *l);
    l->diags = diags;
    l->file = orch_diags_intern_file(diags, file);
    l->current = -1;
}

void orch_layer_free(orch_layer *l)
{
    for (size_t i = 0; i < l->n_args; i++) {
        free(l->args[i].name);
        free(l->args[i].value);
    }
    free(l->args);
    for (size_t i = 0; i < l->n_services; i++) {
        orch_raw_service *s = &l->services[i];
        for (size_t j = 0; j < s->n; j++)
            free(s->d[j].value);
        free(s->d);
        free(s->name);
    }
    free(l->services);
    orch_strmap_free(&l->names);
    l->args = NULL;
    l->services = NULL;
    l->n_args = l->n_services = l->services_cap = 0;
}

/* Versions this parser reads: the 0.x line up to the spec version 0.2.1, and
 * the reference parser's 1.0.0 pre-releases (ORCH_REFERENCE_VERSION,
 * "1.0.0-rc"), whose Orchfile syntax is the same. */
static bool version_supported(const char *v, bool *well_formed)
{
    unsigned major, minor, patch;
    int used = 0;
    *well_formed = false;
    if (sscanf(v, "%u.%u.%u%n", &major, &minor, &patch, &used) != 3)
        return false;
    if (!isdigit((unsigned char)v[0]))
        return false;
    const char *rest = v + used;
    if (*rest != '\0') {
        if (*rest != '-' || rest[1] == '\0')
            return false;
        for (const char *p = rest + 1; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
                return false;
    }
    *well_formed = true;
    if (major == 1 && minor == 0 && patch == 0 && *rest == '-')
        return true;
    if (major != 0)
        return false;
    return minor < 2 || (minor == 2 && patch <= 1);
}

void orch_layer_version(orch_layer *l, const char *value, orch_origin at)
{
    if (l->n_services > 0 || l->current >= 0 || l->discarding) {
        orch_diag_error(l->diags, at, "ORCH_VERSION must come before any SERVICE");
        return;
    }
    if (l->seen_version) {
        orch_diag_error(l->diags, at, "ORCH_VERSION given twice");
        return;
    }
    l->seen_version = true;
    bool well_formed;
    if (!version_supported(value, &well_formed)) {
        if (!well_formed)
            orch_diag_error(l->diags, at, "ORCH_VERSION '%s' is not a version (expected x.y.z)",
                       value);
        else
            orch_diag_error(l->diags, at,
                       "unsupported ORCH_VERSION %s: this orchd reads version " ORCH_SPEC_VERSION
                       " and earlier 0.x versions, and " ORCH_REFERENCE_VERSION,
                       value);
    }
}

void orch_layer_arg_kv(orch_layer *l, const char *name, const char *value, orch_origin at)
{
    const char *why;
    if (!orch_valid_arg_name(name, &why)) {
        orch_diag_error(l->diags, at, "ARG name '%s' is invalid: %s", name, why);
        return;
    }
    if (orch_find_unterminated(value) >= 0) {
        orch_diag_error(l->diags, at, "ARG %s: unterminated '${' in value", name);
        return;
    }
    for (size_t i = 0; i < l->n_args; i++) {
        if (strcmp(l->args[i].name, name) == 0) {
            orch_diag_warn(l->diags, at, "ARG %s declared again (first at line %d); the later value wins",
                      name, l->args[i].at.line);
            free(l->args[i].value);
            l->args[i].value = xstrdup(value);
            l->args[i].at = at;
            return;
        }
    }
    l->args = xrealloc(l->args, (l->n_args + 1) * sizeof *l->args);
    l->args[l->n_args++] = (orch_arg){.name = xstrdup(name), .value = xstrdup(value), .at = at};
}

void orch_layer_arg(orch_layer *l, const char *name_eq_value, orch_origin at)
{
    const char *eq = strchr(name_eq_value, '=');
    if (!eq) {
        orch_diag_error(l->diags, at, "ARG needs name=value (got '%s'); use 'ARG %s=' for an empty default",
                   name_eq_value, name_eq_value);
        return;
    }
    char *name = xstrndup(name_eq_value, (size_t)(eq - name_eq_value));
    orch_layer_arg_kv(l, name, eq + 1, at);
    free(name);
}

void orch_layer_service(orch_layer *l, const char *name, orch_origin at)
{
    const char *why;
    l->current = -1;
    l->discarding = true; /* until the name proves good */
    if (!orch_valid_service_name(name, &why)) {
        orch_diag_error(l->diags, at, "SERVICE name '%s' is invalid: %s", name, why);
        return;
    }
    size_t first;
    if (orch_strmap_get(&l->names, name, &first)) {
        orch_diag_error(l->diags, at, "duplicate SERVICE %s (first at line %d)", name,
                   l->services[first].at.line);
        return;
    }
    /* Grown geometrically: one realloc per service is quadratic where
     * realloc cannot grow in place (as under ASan). */
    xgrow((void **)&l->services, &l->services_cap, l->n_services + 1, sizeof *l->services);
    l->services[l->n_services] = (orch_raw_service){.name = xstrdup(name), .at = at};
    orch_strmap_put(&l->names, l->services[l->n_services].name, l->n_services);
    l->current = (long)l->n_services++;
    l->discarding = false;
}

static const orch_raw_directive *find_directive(const orch_raw_service *s, orch_field f)
{
    for (size_t i = 0; i < s->n; i++)
        if (!s->d[i].is_clear && s->d[i].field == f)
            return &s->d[i];
    return NULL;
}

static void push(orch_raw_service *s, orch_raw_directive d)
{
    xgrow((void **)&s->d, &s->cap, s->n + 1, sizeof *s->d);
    s->d[s->n++] = d;
}

static void clear_directive(orch_layer *l, orch_raw_service *s, const char *value,
                            orch_origin at)
{
    int f = orch_field_from_keyword(value);
    if (f < 0) {
        orch_diag_error(l->diags, at, "CLEAR %s: unknown directive (CLEAR takes ENV, ENV_FILE, "
                                 "PUBLISH, VOLUME, REQUIRES or AFTER)", value);
        return;
    }
    if (!orch_field_is_list((orch_field)f)) {
        orch_diag_error(l->diags, at, "CLEAR %s: %s is a single value, not a list; CLEAR works on "
                                 "ENV, ENV_FILE, PUBLISH, VOLUME, REQUIRES and AFTER "
                                 "(set %s again to override it)", value, value, value);
        return;
    }
    if (s)
        push(s, (orch_raw_directive){.field = (orch_field)f, .is_clear = true, .at = at});
}

/* Lower-case or mixed-case spellings of a known keyword get a hint. */
static void unknown_directive(orch_layer *l, const char *keyword, orch_origin at)
{
    char upper[32];
    size_t n = strlen(keyword);
    if (n < sizeof upper) {
        for (size_t i = 0; i <= n; i++)
            upper[i] = (char)toupper((unsigned char)keyword[i]);
        if (strcmp(upper, keyword) != 0 &&
            (orch_field_from_keyword(upper) >= 0 || strcmp(upper, "SERVICE") == 0 ||
             strcmp(upper, "ARG") == 0 || strcmp(upper, "CLEAR") == 0 ||
             strcmp(upper, "ORCH_VERSION") == 0)) {
            orch_diag_error(l->diags, at, "unknown directive '%s' (directives are upper case: %s)",
                       keyword, upper);
            return;
        }
    }
    orch_diag_error(l->diags, at, "unknown directive '%s'", keyword);
}

void orch_layer_directive(orch_layer *l, const char *keyword, const char *value,
                          orch_origin at)
{
    bool is_global = strcmp(keyword, "SERVICE") == 0 || strcmp(keyword, "ARG") == 0 ||
                     strcmp(keyword, "ORCH_VERSION") == 0;
    bool is_clear = strcmp(keyword, "CLEAR") == 0;
    int f = is_global || is_clear ? -1 : orch_field_from_keyword(keyword);
    if (!is_global && !is_clear && f < 0) {
        unknown_directive(l, keyword, at);
        return;
    }
    /* ARG may be empty after '=', but every directive needs something. */
    if (value[0] == '\0') {
        orch_diag_error(l->diags, at, "%s needs a value", keyword);
        if (strcmp(keyword, "SERVICE") == 0) {
            l->current = -1;
            l->discarding = true;
        }
        return;
    }
    long bad = orch_find_unterminated(value);
    if (bad >= 0 && strcmp(keyword, "ARG") != 0) {
        orch_origin where = at;
        orch_diag_error(l->diags, where, "%s: unterminated '${' in value (at '%.20s')", keyword,
                   value + bad);
        return;
    }
    if (strcmp(keyword, "SERVICE") == 0) {
        orch_layer_service(l, value, at);
        return;
    }
    if (strcmp(keyword, "ARG") == 0) {
        orch_layer_arg(l, value, at);
        return;
    }
    if (strcmp(keyword, "ORCH_VERSION") == 0) {
        orch_layer_version(l, value, at);
        return;
    }
    if (l->current < 0 && !l->discarding) {
        orch_diag_error(l->diags, at, "%s before any SERVICE (service directives follow a "
                                 "'SERVICE name' line)", keyword);
        return;
    }
    orch_raw_service *s = l->current >= 0 ? &l->services[l->current] : NULL;
    if (is_clear) {
        clear_directive(l, s, value, at);
        return;
    }
    if (!s)
        return; /* inside a rejected SERVICE block: its own error was reported */
    orch_field field = (orch_field)f;
    if (!orch_field_is_list(field)) {
        const orch_raw_directive *prev = find_directive(s, field);
        if (prev) {
            orch_diag_error(l->diags, at, "%s given twice in service %s (first at line %d)", keyword,
                       s->name, prev->at.line);
            return;
        }
        orch_field other = field == ORCH_F_FROM  ? ORCH_F_RUN
                           : field == ORCH_F_RUN ? ORCH_F_FROM
                                                 : ORCH_F__COUNT;
        if (other != ORCH_F__COUNT && (prev = find_directive(s, other))) {
            orch_diag_error(l->diags, at, "service %s has both FROM and RUN (%s at line %d); a service "
                                     "is either a container (FROM) or a host process (RUN)",
                       s->name, orch_field_keyword(other), prev->at.line);
            return;
        }
    }
    push(s, (orch_raw_directive){.field = field, .value = xstrdup(value), .at = at});
}
