/* orchd daemon: the supervising loop in the foreground (orchd grow starts it
 * detached when none runs). */
#include <stdlib.h>
#include <string.h>

#include "bare/log_relay.h"
#include "cli/cli.h"
#include "daemon/daemon.h"
#include "cli/settings.h"

/* Bare services' own logs go through a relay only when ORCH_LOG_RELAY asks
 * (docs/LOGS.md): a relay is a process per service (~60 KiB each, an exec
 * per start), too dear as the default for thousands of services. "on":
 * orchd-log-relay (bare/log_relay.h), next to this binary (a build tree),
 * else where `make install` puts it, ../lib/orchd; this binary's own
 * `log-relay` verb when it is missing or cannot be exec'd (even when the
 * file was replaced by an upgrade since). "self": that verb; a path: that
 * program. Unset, empty or "none": services write into their files
 * directly. */
static void set_log_relay(void)
{
    static char path[4200];
    const char *env = getenv("ORCH_LOG_RELAY");
    if (!env || !*env || strcmp(env, "none") == 0)
        return;
    if (strcmp(env, "self") == 0) {
        orch_bare_log_relay_program(NULL, "/proc/self/exe");
        return;
    }
    if (strcmp(env, "on") != 0) {
        snprintf(path, sizeof path, "%s", env);
        orch_bare_log_relay_program(path, "/proc/self/exe");
        return;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(path, sizeof path, "%s/orchd-log-relay", self);
    if (n <= 0 || access(path, X_OK) != 0)
        snprintf(path, sizeof path, "%s/../lib/orchd/orchd-log-relay", self);
    orch_bare_log_relay_program(n > 0 && access(path, X_OK) == 0 ? path : NULL, "/proc/self/exe");
}

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
                          .log_max_size = s.log_max_size, .log_keep = s.log_keep,
                          .port_offset = s.port_offset,
                          .ready_fd = ready ? atoi(ready) : -1,
                          .init_pid = init ? (pid_t)atoi(init) : 0,
                          .state_lines = getenv("ORCH_STATE_LINES") &&
                                         !strcmp(getenv("ORCH_STATE_LINES"), "1")};
    set_log_relay();
    unsetenv("ORCH_READY_FD");
    unsetenv("ORCH_INIT_PID");
    int rc = orch_daemon_run(&o);
    orch_settings_free(&s);
    return rc;
}
