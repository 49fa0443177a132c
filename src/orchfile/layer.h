/* A layer is one Orchfile as written: its ARGs and, per service, the
 * directives in file order with their raw (unexpanded) values. Both front-ends
 * (text and YAML) fill a layer through the same builder calls, so every
 * structural check (unknown directive, duplicates, CLEAR of a scalar, FROM and
 * RUN together, ...) lives in one place: layer.c. Values are typed later, after
 * ARGs from every file are known and `${var}` is expanded (apply.c). */
#ifndef ORCH_LAYER_H
#define ORCH_LAYER_H

#include <stdbool.h>
#include <stddef.h>

#include "orchfile/diag.h"
#include "orchfile/model.h"
#include "common/strmap.h"

typedef struct orch_raw_directive {
    orch_field field;
    bool is_clear; /* CLEAR <field>; value is NULL */
    char *value;   /* raw text, NUL-terminated, never NULL unless is_clear */
    orch_origin at;
} orch_raw_directive;

typedef struct orch_raw_service {
    char *name;
    orch_origin at;
    orch_raw_directive *d;
    size_t n, cap;
} orch_raw_service;

typedef struct orch_layer {
    const char *file; /* interned in the diags */
    orch_arg *args;
    size_t n_args;
    orch_raw_service *services;
    size_t n_services, services_cap;
    bool seen_version;
    /* builder state */
    long current;    /* index of the service the next directive belongs to, or -1 */
    orch_strmap names;         /* service name -> index in services */
    bool discarding;           /* inside a rejected SERVICE block: check, don't keep */
    orch_diags *diags;
} orch_layer;

void orch_layer_init(orch_layer *l, orch_diags *diags, const char *file);
void orch_layer_free(orch_layer *l);

/* Builder calls used by the front-ends. Each validates what it can see on its
 * own and records errors in l->diags; none of them fails hard. */
void orch_layer_version(orch_layer *l, const char *value, orch_origin at);
void orch_layer_arg(orch_layer *l, const char *name_eq_value, orch_origin at);
/* ARG given as separate name and value (YAML `args:` mapping). */
void orch_layer_arg_kv(orch_layer *l, const char *name, const char *value, orch_origin at);
void orch_layer_service(orch_layer *l, const char *name, orch_origin at);
/* keyword is an upper-case directive name such as "FROM" or "CLEAR". */
void orch_layer_directive(orch_layer *l, const char *keyword, const char *value,
                          orch_origin at);

/* Looks up a directive keyword ("FROM" ...). Returns -1 when unknown. */
int orch_field_from_keyword(const char *keyword);
bool orch_field_is_list(orch_field f);

#endif
