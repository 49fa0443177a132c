/* Building requests from settings, shared by the verbs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "cli/cli.h"
#include "orchfile/orchfile.h"
#include "cli/request.h"

extern char **environ;

void orch_request_from_settings(orch_request *r, orch_req_kind kind, const orch_settings *s)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->names = xcalloc(s->n_names + 1, sizeof *r->names);
    for (size_t i = 0; i < s->n_names; i++)
        r->names[r->n_names++] = xstrdup(s->names[i]);
    if (kind != ORCH_REQ_GROW && kind != ORCH_REQ_PULL)
        return;
    const char **files;
    size_t n = orch_settings_files(s, &files);
    r->files = xcalloc(n + 1, sizeof *r->files);
    for (size_t i = 0; i < n; i++)
        r->files[r->n_files++] = xstrdup(files[i]);
    free(files);
    r->arg_names = xcalloc(s->n_args + 1, sizeof *r->arg_names);
    r->arg_values = xcalloc(s->n_args + 1, sizeof *r->arg_values);
    for (size_t i = 0; i < s->n_args; i++) {
        r->arg_names[i] = xstrdup(s->args[i].name);
        r->arg_values[i] = xstrdup(s->args[i].value);
    }
    r->n_args = s->n_args;
    /* The daemon reads ORCH_ARG_* from the client's environment, not its own. */
    size_t n_env = 0;
    for (char **e = environ; e && *e; e++)
        n_env += strncmp(*e, "ORCH_ARG_", 9) == 0;
    r->env = xcalloc(n_env + 1, sizeof *r->env);
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "ORCH_ARG_", 9) == 0)
            r->env[r->n_env++] = xstrdup(*e);
    r->project_dir = xstrdup(s->project_dir);
    r->data_dir = xstrdup(s->data_dir);
    r->namespace_ = xstrdup(s->namespace_);
    r->port_offset = xstrdup(s->port_offset);
}

int orch_cli_load_model(const orch_settings *s, const char *verb, orch_model *m)
{
    const char **files;
    size_t n = orch_settings_files(s, &files);
    orch_arg_override *args = xcalloc(s->n_args + 1, sizeof *args);
    for (size_t i = 0; i < s->n_args; i++)
        args[i] = (orch_arg_override){s->args[i].name, s->args[i].value};
    orch_load_opts lo = {.files = files, .n_files = n, .cli_args = args, .n_cli_args = s->n_args};
    orch_diags d;
    orch_diags_init(&d);
    int r = orch_load(&lo, m, &d);
    cli_print_diags(&d);
    orch_diags_free(&d);
    free(args);
    free(files);
    if (r != 0)
        return -1;
    for (size_t i = 0; i < s->n_names; i++) {
        if (!orch_model_find(m, s->names[i])) {
            fprintf(stderr, "orchd %s: no service named %s in %s\n", verb, s->names[i],
                    s->orchfile);
            r = -1;
        }
    }
    if (r != 0)
        orch_model_free(m);
    return r;
}
