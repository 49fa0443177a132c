/* The body shared by the libFuzzer targets: one input drives the whole
 * Orchfile pipeline past the front-end, the way orch_load does, but without
 * touching the file system. The input is split at its first NUL byte into a
 * base and an overlay (a NUL is never valid in an Orchfile, so no coverage
 * is lost), both parsed as a file named `name`, then: ARGs resolved (last
 * file wins), values expanded and typed, the overlay merged into the base,
 * C1-C4 checked, the model written as JSON (compact and pretty) and every
 * diagnostic formatted. Everything is freed, so leaks show under LSan. */
#ifndef ORCH_FUZZ_COMMON_H
#define ORCH_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "orchfile/apply.h"
#include "orchfile/layer.h"
#include "orchfile/orchfile.h"

typedef struct fuzz_args {
    const orch_layer *layers;
    size_t n;
} fuzz_args;

/* The last file that declares an ARG wins, as in load.c. */
static const char *fuzz_lookup(void *ctx, const char *name)
{
    const fuzz_args *a = ctx;
    for (size_t i = a->n; i-- > 0;)
        for (size_t j = 0; j < a->layers[i].n_args; j++)
            if (strcmp(a->layers[i].args[j].name, name) == 0)
                return a->layers[i].args[j].value;
    return NULL;
}

static char *fuzz_dup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* The resolved ARG table, owned by the model (orch_model_free frees it). */
static void fuzz_model_args(orch_model *m, const fuzz_args *a)
{
    for (size_t i = 0; i < a->n; i++) {
        for (size_t j = 0; j < a->layers[i].n_args; j++) {
            const orch_arg *arg = &a->layers[i].args[j];
            size_t k = 0;
            while (k < m->n_args && strcmp(m->args[k].name, arg->name) != 0)
                k++;
            if (k == m->n_args) {
                m->args = realloc(m->args, (m->n_args + 1) * sizeof *m->args);
                if (!m->args)
                    abort();
                m->args[m->n_args++] = (orch_arg){.name = fuzz_dup(arg->name), .at = arg->at};
            } else {
                free(m->args[k].value);
            }
            m->args[k].value = fuzz_dup(fuzz_lookup((void *)a, arg->name));
        }
    }
}

static void fuzz_pipeline(const char *name, const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t base_len = nul ? (size_t)(nul - text) : size;

    orch_diags d;
    orch_diags_init(&d);
    orch_layer layers[2];
    size_t n = nul ? 2 : 1;
    orch_layer_init(&layers[0], &d, name);
    orch_parse_buffer(&layers[0], text, base_len);
    if (nul) {
        /* A distinct name keeps the overlay's diagnostics apart from the base's. */
        orch_layer_init(&layers[1], &d, strstr(name, ".yaml") ? "overlay.yaml" : "overlay.orch");
        orch_parse_buffer(&layers[1], nul + 1, size - base_len - 1);
    }

    fuzz_args args = {layers, n};
    orch_model m = {0};
    for (size_t i = 0; i < n; i++) {
        orch_typed_layer t = {0};
        orch_apply_layer(&layers[i], fuzz_lookup, &args, &t);
        orch_merge_layer(&m, &t);
        orch_typed_layer_free(&t);
    }
    fuzz_model_args(&m, &args);
    for (size_t i = 0; i < n; i++)
        orch_layer_free(&layers[i]);

    /* load.c validates only an error-free model; the fuzzer validates
     * whatever came out, which is a harder test of validate.c. */
    orch_validate(&m, &d);
    free(orch_model_to_json(&m, 0));
    free(orch_model_to_json(&m, 1));
    free(orch_model_to_json(&m, ORCH_JSON_TYPED));

    orch_diags_sort(&d);
    for (size_t i = 0; i < d.n; i++)
        free(orch_diag_format(&d.items[i]));
    orch_model_free(&m);
    orch_diags_free(&d);
}

#endif
