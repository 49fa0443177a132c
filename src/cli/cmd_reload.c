/* orchd reload SERVICE: run its RELOAD command (SIGHUP when it has none). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/request.h"

int cmd_reload(int argc, char **argv)
{
    orch_settings s;
    int r = orch_settings_parse(&s, "reload", "", argc, argv);
    if (r != 0) {
        orch_settings_free(&s);
        return r > 0 ? 0 : 2;
    }
    int rc = 1;
    if (s.n_names != 1) {
        fprintf(stderr, "orchd reload: name one service\n");
        rc = 2;
        goto out;
    }
    int fd = orch_client_connect(&s);
    if (fd < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED)
            fprintf(stderr, "orchd reload: no daemon runs on %s\n", s.state_dir);
        else
            fprintf(stderr, "orchd reload: cannot reach the daemon on %s: %s\n", s.state_dir,
                    strerror(errno));
        goto out;
    }
    orch_request req;
    orch_request_from_settings(&req, ORCH_REQ_RELOAD, &s);
    yajl_val reply = orch_client_call(fd, &req, "reload");
    orch_request_free(&req);
    close(fd);
    if (reply) {
        orch_reply_print_problems(reply, "reload");
        rc = orch_reply_ok(reply) ? 0 : 1;
        yajl_tree_free(reply);
    }
out:
    orch_settings_free(&s);
    return rc;
}
