/* Turning a layer's raw directives into typed services, after ${var}
 * expansion, and merging typed layers (overlays) left to right. */
#ifndef ORCH_APPLY_H
#define ORCH_APPLY_H

#include "orchfile/expand.h"
#include "orchfile/layer.h"
#include "orchfile/model.h"

typedef struct orch_typed_layer {
    orch_service *services;
    size_t n_services;
} orch_typed_layer;

/* Types every directive of l into out (services in file order); values are
 * expanded with lookup first. Errors go to l->diags, naming FILE:LINE. */
void orch_apply_layer(const orch_layer *l, orch_lookup_fn lookup, void *ctx,
                      orch_typed_layer *out);
void orch_typed_layer_free(orch_typed_layer *t);

/* Merges overlay into base (ORCHFILE.md, "Composition"): services only in
 * the overlay are appended (moved out of overlay). */
void orch_merge_layer(orch_model *base, orch_typed_layer *overlay);

/* C1-C4 on the merged model. */
void orch_validate(const orch_model *m, orch_diags *d);

/* List helpers shared by apply and merge. */
void orch_strv_add_unique(orch_strv *v, const char *s, orch_origin at);
void orch_env_set(orch_service *s, const char *key, const char *value, orch_origin at);

#endif
