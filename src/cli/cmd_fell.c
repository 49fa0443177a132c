/* orchd fell [SERVICE...]: stop services (and what requires them) in reverse
 * dependency order; with no names stop everything and the daemon. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/request.h"

int cmd_fell(int argc, char **argv)
{
    orch_settings s;
    int r = orch_settings_parse(&s, "fell", "keep-data,poweroff", argc, argv);
    if (r != 0) {
        orch_settings_free(&s);
        return r > 0 ? 0 : 2;
    }
    int rc = 1;
    int fd = orch_client_connect(&s);
    if (fd < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED) {
            /* Nothing runs: felling is already done. */
            rc = 0;
        } else {
            fprintf(stderr, "orchd fell: cannot reach the daemon on %s: %s\n", s.state_dir,
                    strerror(errno));
        }
        goto out;
    }
    orch_request req;
    orch_request_from_settings(&req, ORCH_REQ_FELL, &s);
    req.keep_data = s.keep_data;
    req.poweroff = s.poweroff;
    yajl_val reply = orch_client_call(fd, &req, "fell");
    orch_request_free(&req);
    close(fd);
    if (!reply)
        goto out;
    orch_reply_print_problems(reply, "fell");
    rc = orch_reply_ok(reply) ? 0 : 1;
    yajl_tree_free(reply);
    if (rc == 0 && s.n_names == 0 && orch_client_wait_daemon_gone(&s, 30000) != 0) {
        fprintf(stderr, "orchd fell: the daemon on %s did not exit\n", s.state_dir);
        rc = 1;
    }
out:
    orch_settings_free(&s);
    return rc;
}
