/* orchd parse / orchd validate: the Orchfile pipeline from the shell. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "cli/cli.h"
#include "orchfile/orchfile.h"

void cli_print_diags(const orch_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        char *line = orch_diag_format(&d->items[i]);
        fprintf(stderr, "%s\n", line);
        free(line);
    }
    char *more = orch_diags_more(d);
    if (more)
        fprintf(stderr, "%s\n", more);
    free(more);
}

static void usage(FILE *f, const char *verb)
{
    fprintf(f,
            "usage: orchd %s FILE... [--arg NAME=VALUE]...%s\n"
            "  FILE...   the base Orchfile, then overlays, merged left to right\n"
            "            (a name ending in .yaml or .yml is read as YAML)\n"
            "  --arg     override an ARG (wins over ORCH_ARG_<NAME> and the file)\n",
            verb, strcmp(verb, "parse") == 0 ? " [--compact] [--typed]" : "");
    if (strcmp(verb, "parse") == 0)
        fprintf(f, "  --compact one line instead of indented JSON\n"
                   "  --typed   durations in seconds, sizes in bytes, CPU_QUOTA in percent,\n"
                   "            defaults filled in (the reference shape keeps values as\n"
                   "            written and omits what was not written; docs/JSON.md)\n");
}

int cli_load_model(int argc, char **argv, const char *verb, orch_model *m, orch_diags *d)
{
    const char **files = xcalloc((size_t)argc + 1, sizeof *files);
    orch_arg_override *args = xcalloc((size_t)argc + 1, sizeof *args);
    char **arg_copies = xcalloc((size_t)argc + 1, sizeof *arg_copies);
    size_t n_files = 0, n_args = 0;
    int rc = 2;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *kv = NULL;
        if (strcmp(a, "--arg") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "orchd %s: --arg needs NAME=VALUE\n", verb);
                goto out;
            }
            kv = argv[++i];
        } else if (strncmp(a, "--arg=", 6) == 0) {
            kv = a + 6;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "orchd %s: unknown option '%s'\n", verb, a);
            goto out;
        } else {
            files[n_files++] = a;
        }
        if (kv) {
            const char *eq = strchr(kv, '=');
            if (!eq || eq == kv) {
                fprintf(stderr, "orchd %s: --arg '%s': expected NAME=VALUE\n", verb, kv);
                goto out;
            }
            arg_copies[n_args] = xstrndup(kv, (size_t)(eq - kv));
            args[n_args].name = arg_copies[n_args];
            args[n_args].value = eq + 1;
            n_args++;
        }
    }
    if (n_files == 0) {
        fprintf(stderr, "orchd %s: no Orchfile given\n", verb);
        goto out;
    }
    orch_load_opts opts = {.files = files, .n_files = n_files, .cli_args = args,
                           .n_cli_args = n_args};
    int r = orch_load(&opts, m, d);
    cli_print_diags(d);
    rc = r == 0 ? 0 : 1;
out:
    for (size_t i = 0; i < n_args; i++)
        free(arg_copies[i]);
    free(arg_copies);
    free(args);
    free(files);
    return rc;
}

static int run(int argc, char **argv, const char *verb, int print_json)
{
    char **rest = xcalloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0, pretty = 1, typed = 0, rc;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout, verb);
            free(rest);
            return 0;
        }
        if (strcmp(argv[i], "--compact") == 0 && print_json)
            pretty = 0;
        else if (strcmp(argv[i], "--typed") == 0 && print_json)
            typed = 1;
        else
            rest[n_rest++] = argv[i];
    }
    orch_model m;
    orch_diags d;
    orch_diags_init(&d);
    rc = cli_load_model(n_rest, rest, verb, &m, &d);
    free(rest);
    if (rc == 2)
        usage(stderr, verb);
    if (rc != 0) {
        orch_diags_free(&d);
        return rc;
    }
    if (!print_json) {
        /* validate: also what this orchd cannot run (docs/ORCHFILE.md). */
        size_t printed = d.n, errors = d.n_errors;
        orch_check_runnable(&m, &d);
        for (size_t i = printed; i < d.n; i++) {
            char *line = orch_diag_format(&d.items[i]);
            fprintf(stderr, "%s\n", line);
            free(line);
        }
        if (d.n_errors > errors)
            rc = 1;
    }
    if (print_json) {
        /* NULL when a value is not valid UTF-8 or memory ran out. */
        char *json = orch_model_to_json(&m, (pretty ? ORCH_JSON_PRETTY : 0u) |
                                                (typed ? ORCH_JSON_TYPED : 0u));
        if (json) {
            fputs(json, stdout);
            if (!pretty)
                fputc('\n', stdout);
        } else {
            fprintf(stderr, "orchd %s: cannot write the model as JSON\n", verb);
            rc = 1;
        }
        free(json);
    }
    orch_model_free(&m);
    orch_diags_free(&d);
    return rc;
}

int cmd_parse(int argc, char **argv)
{
    return run(argc, argv, "parse", 1);
}

int cmd_validate(int argc, char **argv)
{
    return run(argc, argv, "validate", 0);
}
