/* The pipeline: files -> layers -> ARGs -> typed layers -> merged model. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "orchfile/apply.h"
#include "orchfile/layer.h"
#include "orchfile/orchfile.h"
#include "orchfile/values.h"

extern char **environ;

/* Orchfiles are small; anything past this is not an Orchfile. */
#define ORCH_MAX_FILE_SIZE (64u << 20)

static char *read_file(const char *path, size_t *len, int *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = errno;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        *err = EISDIR;
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= ORCH_MAX_FILE_SIZE) {
                free(buf);
                close(fd);
                *err = EFBIG;
                return NULL;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *err = errno;
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf;
}

/* The ARG table after every source has spoken. */
typedef struct arg_table {
    orch_arg *args;
    size_t n;
} arg_table;

static orch_arg *arg_find(arg_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->args[i].name, name) == 0)
            return &t->args[i];
    return NULL;
}

static void arg_set(arg_table *t, const char *name, const char *value, orch_origin at)
{
    orch_arg *a = arg_find(t, name);
    if (a) {
        free(a->value);
        a->value = xstrdup(value);
        a->at = at;
        return;
    }
    t->args = xrealloc(t->args, (t->n + 1) * sizeof *t->args);
    t->args[t->n++] = (orch_arg){.name = xstrdup(name), .value = xstrdup(value), .at = at};
}

static const char *arg_lookup(void *ctx, const char *name)
{
    orch_arg *a = arg_find(ctx, name);
    return a ? a->value : NULL;
}

/* File defaults (last file wins), then ORCH_ARG_<name>, then --arg. An
 * override for an ARG that no file declares changes nothing: warn. Files are
 * checked to be UTF-8 when read; an override's value is checked here, or it
 * would reach the JSON, which cannot carry it. */
static void resolve_args(const orch_load_opts *o, orch_layer *layers, arg_table *t,
                         orch_diags *d)
{
    for (size_t i = 0; i < o->n_files; i++)
        for (size_t j = 0; j < layers[i].n_args; j++)
            arg_set(t, layers[i].args[j].name, layers[i].args[j].value, layers[i].args[j].at);

    char *const *env = o->environ ? o->environ : environ;
    for (size_t i = 0; env && env[i]; i++) {
        if (strncmp(env[i], "ORCH_ARG_", 9) != 0)
            continue;
        const char *eq = strchr(env[i], '=');
        if (!eq)
            continue;
        char *name = xstrndup(env[i] + 9, (size_t)(eq - env[i] - 9));
        if (arg_find(t, name) && !orch_valid_utf8(eq + 1, strlen(eq + 1)))
            orch_diag_error(d, (orch_origin){0},
                       "environment sets ORCH_ARG_%s to a value that is not valid UTF-8", name);
        else if (arg_find(t, name))
            arg_set(t, name, eq + 1, (orch_origin){0});
        else
            orch_diag_warn(d, (orch_origin){0},
                      "environment sets ORCH_ARG_%s, but no file declares ARG %s; ignored",
                      name, name);
        free(name);
    }
    for (size_t i = 0; i < o->n_cli_args; i++) {
        const orch_arg_override *a = &o->cli_args[i];
        if (arg_find(t, a->name) && !orch_valid_utf8(a->value, strlen(a->value)))
            orch_diag_error(d, (orch_origin){0}, "--arg %s: the value is not valid UTF-8", a->name);
        else if (arg_find(t, a->name))
            arg_set(t, a->name, a->value, (orch_origin){0});
        else
            orch_diag_warn(d, (orch_origin){0}, "--arg %s: no file declares ARG %s; ignored",
                      a->name, a->name);
    }
}

int orch_load(const orch_load_opts *o, orch_model *out, orch_diags *d)
{
    memset(out, 0, sizeof *out);
    if (o->n_files == 0) {
        orch_diag_error(d, (orch_origin){0}, "no Orchfile given");
        return -1;
    }
    orch_layer *layers = xcalloc(o->n_files, sizeof *layers);
    for (size_t i = 0; i < o->n_files; i++) {
        orch_layer_init(&layers[i], d, o->files[i]);
        size_t len = 0;
        int err = 0;
        char *data = read_file(o->files[i], &len, &err);
        if (!data) {
            orch_diag_error(d, (orch_origin){.file = layers[i].file}, "cannot read: %s",
                       strerror(err));
            continue;
        }
        orch_parse_buffer(&layers[i], data, len);
        free(data);
    }

    arg_table args = {0};
    resolve_args(o, layers, &args, d);

    orch_model merged = {0};
    for (size_t i = 0; i < o->n_files; i++) {
        orch_typed_layer t = {0};
        orch_apply_layer(&layers[i], arg_lookup, &args, &t);
        orch_merge_layer(&merged, &t);
        orch_typed_layer_free(&t);
        orch_layer_free(&layers[i]);
    }
    free(layers);
    merged.args = args.args;
    merged.n_args = args.n;

    if (d->n_errors == 0)
        orch_validate(&merged, d);
    orch_diags_sort(d);
    if (d->n_errors > 0) {
        orch_model_free(&merged);
        return -1;
    }
    *out = merged;
    return 0;
}
