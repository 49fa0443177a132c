/* orchd import FILE|DIR...: imports OCI image archives (a tar file, as
 * `skopeo copy ... oci-archive:F` or buildkit's OCI exporter write them) or
 * OCI image layouts (a directory) into containerd's store through the
 * daemon (started if none runs), under the names their index gives and as
 * oci-archive:/abs/FILE (or oci:/abs/DIR), the name a FROM uses. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/request.h"

int cmd_import(int argc, char **argv)
{
    orch_settings s;
    int r = orch_settings_parse(&s, "import", "", argc, argv);
    if (r != 0) {
        orch_settings_free(&s);
        return r > 0 ? 0 : 2;
    }
    int rc = 1;
    if (s.n_names == 0) {
        fprintf(stderr, "usage: orchd import [options] FILE|DIR...\n");
        rc = 2;
        goto out;
    }
    for (size_t i = 0; i < s.n_names; i++) {
        char abs[PATH_MAX];
        if (!realpath(s.names[i], abs)) {
            perror(s.names[i]);
            goto out;
        }
    }
    rc = 0;
    for (size_t i = 0; i < s.n_names; i++) {
        char abs[PATH_MAX];
        if (!realpath(s.names[i], abs)) {
            perror(s.names[i]);
            rc = 1;
            continue;
        }
        int fd = orch_client_connect_or_start(&s, "import");
        if (fd < 0) {
            rc = 1;
            break;
        }
        orch_request req;
        memset(&req, 0, sizeof req);
        req.kind = ORCH_REQ_IMPORT;
        req.files = xcalloc(2, sizeof *req.files);
        req.files[0] = xstrdup(abs);
        req.n_files = 1;
        req.progress = true;
        yajl_val reply = orch_client_call_progress(fd, &req, "import", stdout);
        orch_request_free(&req);
        close(fd);
        if (!reply) {
            rc = 1;
            continue;
        }
        if (!orch_reply_ok(reply)) {
            orch_reply_print_problems(reply, "import");
            rc = 1;
        }
        yajl_tree_free(reply);
    }
out:
    orch_settings_free(&s);
    return rc;
}
