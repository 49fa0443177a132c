/* orchd daemon: the supervising loop in the foreground (orchd grow starts it
 * detached when none runs). */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "daemon/daemon.h"
#include "cli/settings.h"

int cmd_daemon(int argc, char **argv)
{
    orch_settings s;
    int r = orch_settings_parse(&s, "daemon", "", argc, argv);
    if (r != 0) {
        orch_settings_free(&s);
        return r > 0 ? 0 : 2;
    }
    const char *ready = getenv("ORCH_READY_FD");
    const char *init = getenv("ORCH_INIT_PID"); /* set by orchd init */
    orch_daemon_opts o = {.state_dir = s.state_dir, .data_dir = s.data_dir,
                          .project_dir = s.project_dir, .namespace_ = s.namespace_,
                          .containerd_socket = s.containerd_socket,
                          .runtime = s.runtime, .vm_kernel = s.vm_kernel,
                          .port_offset = s.port_offset,
                          .ready_fd = ready ? atoi(ready) : -1,
                          .init_pid = init ? (pid_t)atoi(init) : 0,
                          .state_lines = getenv("ORCH_STATE_LINES") &&
                                         !strcmp(getenv("ORCH_STATE_LINES"), "1")};
    unsetenv("ORCH_READY_FD");
    unsetenv("ORCH_INIT_PID");
    int rc = orch_daemon_run(&o);
    orch_settings_free(&s);
    return rc;
}
