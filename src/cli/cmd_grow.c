/* orchd grow [SERVICE...]: converge to the Orchfile, starting the daemon if
 * none runs; returns once the services are up (or says which failed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/xalloc.h"
#include "cli.h"
#include "client.h"
#include "orchfile/orchfile.h"
#include "request.h"

/* Checking the files here first means bad input never starts a daemon. */
static int check_model(const orch_settings *s)
{
    const char **files;
    size_t n = orch_settings_files(s, &files);
    orch_arg_override *args = xcalloc(s->n_args + 1, sizeof *args);
    for (size_t i = 0; i < s->n_args; i++)
        args[i] = (orch_arg_override){s->args[i].name, s->args[i].value};
    orch_load_opts lo = {.files = files, .n_files = n, .cli_args = args, .n_cli_args = s->n_args};
    orch_diags d;
    orch_diags_init(&d);
    orch_model m;
    int r = orch_load(&lo, &m, &d);
    cli_print_diags(&d);
    if (r == 0) {
        for (size_t i = 0; i < s->n_names; i++) {
            if (!orch_model_find(&m, s->names[i])) {
                fprintf(stderr, "orchd grow: no service named %s in %s\n", s->names[i],
                        s->orchfile);
                r = -1;
            }
        }
        orch_model_free(&m);
    }
    orch_diags_free(&d);
    free(args);
    free(files);
    return r;
}

int cmd_grow(int argc, char **argv)
{
    orch_settings s;
    int r = orch_settings_parse(&s, "grow", "pull", argc, argv);
    if (r != 0) {
        orch_settings_free(&s);
        return r > 0 ? 0 : 2;
    }
    int rc = 1;
    if (check_model(&s) != 0)
        goto out;
    int fd = orch_client_connect_or_start(&s, "grow");
    if (fd < 0)
        goto out;
    orch_request req;
    orch_request_from_settings(&req, ORCH_REQ_GROW, &s);
    req.pull = s.pull ? xstrdup(s.pull) : NULL;
    req.progress = true; /* image pulls show on stderr (docs/IMAGES.md) */
    yajl_val reply = orch_client_call_progress(fd, &req, "grow", stderr);
    orch_request_free(&req);
    close(fd);
    if (!reply)
        goto out;
    orch_reply_print_problems(reply, "grow");
    rc = orch_reply_ok(reply) ? 0 : 1;
    yajl_tree_free(reply);
out:
    orch_settings_free(&s);
    return rc;
}
