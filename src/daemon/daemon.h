/* orchd daemon: one libuv loop that owns every service of one state dir. */
#ifndef ORCH_DAEMON_H
#define ORCH_DAEMON_H

#include <uv.h>

#include "runtime/runtime.h"
#include "daemon/supervisor.h"

typedef struct orch_daemon_opts {
    const char *state_dir;
    const char *data_dir;
    const char *project_dir;
    const char *namespace_;
    const char *containerd_socket;
    const char *runtime;   /* for FROM services: "containerd" (NULL) or "vm" */
    const char *vm_kernel; /* vm: the kernel directory */
    const char *port_offset; /* ${PORT_OFFSET}, decimal; NULL means "0" */
    uint64_t log_max_size; /* own logs rotate past this (0: never) */
    unsigned log_keep;     /* and keep this many old files */
    int ready_fd; /* >= 0: write one byte when the socket listens, then close */
    /* > 0: the daemon runs under `orchd init` (that pid, its parent): it
     * prints every service state change on stderr (the console), and after
     * `orchd fell --poweroff` has stopped everything it sends SIGUSR2 to
     * init, which powers the machine off (docs/PID1.md). */
    pid_t init_pid;
    bool state_lines; /* ORCH_STATE_LINES=1: state changes on stderr, as under init */
} orch_daemon_opts;

typedef struct orch_daemon {
    uv_loop_t *loop;
    orch_daemon_opts opts;
    orch_env_ctx ctx;
    orch_supervisor *sv;
    const orch_runtime_ops *container_runtime; /* loaded on first FROM service */
    uv_poll_t server; /* the listening socket (control.c accepts itself) */
    int server_fd;
    uv_timer_t accept_retry; /* accept paused: out of file descriptors */
    uv_signal_t sigterm, sigint, sighup;
    int lock_fd;
    char *socket_path;
    int shutting_down;
    int poweroff; /* fell --poweroff: signal init once everything stopped */
    int exit_code;
} orch_daemon;

/* Runs until fell (or SIGTERM/SIGINT) stops everything. Returns the exit code. */
int orch_daemon_run(const orch_daemon_opts *o);

/* Starts stopping every service; the loop ends when all are stopped. */
void orch_daemon_shutdown(orch_daemon *d);

/* control.c: accepts CLI connections on d->server (docs/PROTOCOL.md:
 * at most ORCH_CONN_MAX at once, each closed after ORCH_CONN_IDLE_MS
 * without a request). */
#define ORCH_CONN_MAX 64
#define ORCH_CONN_IDLE_MS 60000 /* the env var ORCH_CONN_IDLE_MS overrides it */
int orch_control_listen(orch_daemon *d, char **err);
/* Closes the socket and every client connection (at exit: an idle client
 * must not keep the loop alive). */
void orch_control_close(orch_daemon *d);

/* Paths inside the state dir. */
char *orch_socket_path(const char *state_dir);
char *orch_lock_path(const char *state_dir);

#endif
