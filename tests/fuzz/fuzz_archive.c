/* libFuzzer target for the OCI archive reader (runtimes/containerd/import/
 * tar_reader.c, oci_layout.c): the input is an archive file. It is indexed
 * as a tar, then read as an OCI image layout (oci-layout, index.json,
 * nested indexes, the manifest, its config and layers), exactly as
 * `orchd import` does, from memory instead of a file. Every failure must
 * come with a message; every member and planned blob must lie inside the
 * input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "containerd/fetch/oci_layout.h"
#include "containerd/fetch/tar_reader.h"

typedef struct input {
    const uint8_t *p;
    size_t n;
    tar_index ix;
} input;

static int in_read(void *ctx, void *buf, size_t n, int64_t off)
{
    const input *in = ctx;
    /* the reader never asks for bytes outside the file */
    if (off < 0 || (uint64_t)off > in->n || n > in->n - (size_t)off)
        abort();
    memcpy(buf, in->p + off, n);
    return 0;
}

static bool in_locate(void *ctx, const char *name, oci_loc *loc)
{
    const tar_member *m = tar_find(&((input *)ctx)->ix, name);
    if (!m)
        return false;
    *loc = (oci_loc){NULL, m->off, m->size};
    return true;
}

static int in_loc_read(void *ctx, const oci_loc *loc, void *buf, size_t n)
{
    if ((int64_t)n > loc->size)
        abort();
    return in_read(ctx, buf, n, loc->off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {.p = data, .n = size};
    tar_source ts = {.read = in_read, .ctx = &in, .size = (int64_t)size, .name = "fuzz.tar"};
    orch_error *err = NULL;
    if (tar_scan(&ts, &in.ix, &err) != 0) {
        if (!err || !err->msg || !err->code)
            abort();
        orch_error_free(err);
        tar_index_free(&in.ix);
        return 0;
    }
    for (size_t i = 0; i < in.ix.n; i++) {
        const tar_member *m = &in.ix.m[i];
        if (m->off < 0 || m->size < 0 || m->off > (int64_t)size || m->size > (int64_t)size - m->off)
            abort();
    }
    oci_source src = {.ctx = &in, .locate = in_locate, .read = in_loc_read, .name = "fuzz.tar",
                      .is_archive = true, .arch = "amd64", .variant = ""};
    oci_image img;
    if (oci_resolve(&src, &img, &err) != 0) {
        if (!err || !err->msg || !err->code)
            abort();
        orch_error_free(err);
    } else {
        if (!img.top_digest || !img.top_mt || img.n_blobs == 0)
            abort();
        for (size_t i = 0; i < img.n_blobs; i++) {
            const oci_blob *b = &img.blobs[i];
            if (!b->mem && !b->have_loc)
                abort();
            if (b->have_loc && (b->loc.off + b->size > (int64_t)size || b->loc.size != b->size))
                abort();
        }
        oci_image_free(&img);
    }
    tar_index_free(&in.ix);
    return 0;
}
