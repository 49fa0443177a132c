/* orchd grow [SERVICE...]: converge to the Orchfile, starting the daemon if
 * none runs; returns once the services are up (or says which failed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "orchfile/orchfile.h"
#include "cli/request.h"

/* Named volumes made before the default data dir moved off the tmpfs: say
 * so once per grow (a warning, not a failure; the data is not moved). */
static void warn_old_data_dir(const orch_settings *s)
{
    char *old = orch_settings_old_data_dir(s);
    struct stat st;
    if (strcmp(old, s->data_dir) != 0 && lstat(old, &st) == 0 && S_ISDIR(st.st_mode))
        fprintf(stderr, "orchd grow: warning: %s holds data from an older orchd, whose default "
                        "data dir it was; the data dir is now %s (move the data there, or set "
                        "ORCH_DATA=%s to keep using it)\n",
                old, s->data_dir, old);
    free(old);
}

int cmd_grow(int argc, char **argv)
{
    orch_settings s;
    int r = orch_settings_parse(&s, "grow", "pull,rerun", argc, argv);
    if (r != 0) {
        orch_settings_free(&s);
        return r > 0 ? 0 : 2;
    }
    int rc = 1;
    orch_model m;
    if (orch_cli_load_model(&s, "grow", &m) != 0)
        goto out;
    orch_model_free(&m);
    warn_old_data_dir(&s);
    int fd = orch_client_connect_or_start(&s, "grow");
    if (fd < 0)
        goto out;
    orch_request req;
    orch_request_from_settings(&req, ORCH_REQ_GROW, &s);
    req.pull = s.pull ? xstrdup(s.pull) : NULL;
    if (s.n_rerun) {
        req.rerun = xcalloc(s.n_rerun, sizeof *req.rerun);
        for (size_t i = 0; i < s.n_rerun; i++)
            req.rerun[i] = xstrdup(s.rerun[i]);
        req.n_rerun = s.n_rerun;
    }
    req.progress = true; /* image pulls show on stderr (docs/IMAGES.md) */
    if (isatty(STDERR_FILENO)) /* never in output a script reads */
        orch_client_set_quiet_hook(orch_grow_report_waits, &s, 2000);
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
