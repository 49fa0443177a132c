/* The daemon's life: lock the state dir, listen, supervise, and on fell (or
 * SIGTERM) stop every service and leave. */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/fileutil.h"
#include "common/safeopen.h"
#include "common/xalloc.h"
#include "runtime/reaper.h"
#include "daemon/https_probe.h"
#include "daemon/runtime_loader.h"

char *orch_socket_path(const char *state_dir)
{
    return xasprintf("%s/orchd.sock", state_dir);
}

char *orch_lock_path(const char *state_dir)
{
    return xasprintf("%s/orchd.lock", state_dir);
}

/* flock on <state>/orchd.lock: two daemons can never share a state dir. The
 * lock dies with the process, so a crashed daemon leaves nothing stale. */
static int take_lock(const char *state_dir)
{
    char *path = orch_lock_path(state_dir);
    char *why = NULL;
    int fd = orch_open_file(path, O_RDWR | O_CREAT, 0600, ORCH_OPEN_NOFOLLOW, &why);
    if (fd < 0) {
        fprintf(stderr, "orchd daemon: cannot open the lock %s: %s\n", path, why);
        free(why);
        free(path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "orchd daemon: another orchd daemon already runs on %s\n", state_dir);
        close(fd);
        free(path);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)n) < 0) {
        /* the pid in the lock file is informational only */
    }
    free(path);
    return fd;
}

/* <state>/logs: 0750, so services' logs (and the tokens they print) are
 * not world-readable; a dir left 0755 by an older orchd is tightened. */
static int logs_dir_ensure(const char *state_dir)
{
    char *dir = xasprintf("%s/logs", state_dir);
    struct stat st;
    int rc = 0;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "orchd daemon: cannot create %s: %s\n", dir, strerror(errno));
        rc = -1;
    } else if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        fprintf(stderr, "orchd daemon: %s is not a directory of mine; remove it\n", dir);
        rc = -1;
    } else if ((st.st_mode & 0777) != 0750 && chmod(dir, 0750) != 0) {
        fprintf(stderr, "orchd daemon: cannot chmod 750 %s: %s\n", dir, strerror(errno));
        rc = -1;
    }
    free(dir);
    return rc;
}

static void finish_exit(void *arg)
{
    orch_daemon *d = arg;
    if (d->poweroff && d->opts.init_pid > 0 && getppid() == d->opts.init_pid) {
        fprintf(stderr, "orchd: every service is stopped; asking init to power off\n");
        kill(d->opts.init_pid, SIGUSR2);
    }
    orch_reaper_close();
    orch_control_close(d);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
}

/* Every service is stopped: the runtimes let go of what they kept (bare:
 * parked cgroups), the containerd module (if loaded) closes its channel,
 * then the daemon's own handles go and the loop ends. */
static void on_all_stopped(void *arg)
{
    orch_daemon *d = arg;
    orch_supervisor_shutdown_runtimes(d->sv);
    orch_runtime_modules_unload(finish_exit, arg);
}

void orch_daemon_shutdown(orch_daemon *d)
{
    if (d->shutting_down)
        return;
    d->shutting_down = 1;
    char *err = NULL;
    if (orch_supervisor_stop(d->sv, NULL, 0, on_all_stopped, d, &err) != 0) {
        fprintf(stderr, "orchd daemon: %s\n", err);
        free(err);
        on_all_stopped(d);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    orch_daemon *d = h->data;
    fprintf(stderr, "orchd daemon: %s: stopping every service\n", strsignal(signum));
    orch_daemon_shutdown(d);
}

static void watch_signal(orch_daemon *d, uv_signal_t *h, int signum)
{
    uv_signal_init(d->loop, h);
    h->data = d;
    uv_signal_start(h, on_signal, signum);
}

/* Under orchd init (or with ORCH_STATE_LINES=1, e.g. an orchd that is
 * a vm guest's service): one console line per service state change,
 * "orchd: web: running (pid 123)". */
static void print_state(void *arg, const char *service, orch_state st, const char *detail)
{
    (void)arg;
    if (detail && *detail)
        fprintf(stderr, "orchd: %s: %s (%s)\n", service, orch_state_name(st), detail);
    else
        fprintf(stderr, "orchd: %s: %s\n", service, orch_state_name(st));
}

static void ignore_sighup(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
}

int orch_daemon_run(const orch_daemon_opts *o)
{
    orch_daemon d = {.opts = *o, .lock_fd = -1};
    d.ctx = (orch_env_ctx){.state_dir = o->state_dir, .data_dir = o->data_dir,
                           .project_dir = o->project_dir, .namespace_ = o->namespace_,
                           .port_offset = o->port_offset ? o->port_offset : "0",
                           .log_max_size = o->log_max_size, .log_keep = o->log_keep};
    signal(SIGPIPE, SIG_IGN);
    char *why = NULL;
    if (orch_private_dir_ensure(o->state_dir, &why) != 0) {
        fprintf(stderr, "orchd daemon: state dir: %s\n", why);
        free(why);
        return 1;
    }
    d.lock_fd = take_lock(o->state_dir);
    if (d.lock_fd < 0)
        return 1;
    if (logs_dir_ensure(o->state_dir) != 0) {
        close(d.lock_fd);
        return 1;
    }
    d.loop = uv_default_loop();
    d.socket_path = orch_socket_path(o->state_dir);
    char *err = NULL;
    if (orch_reaper_init(d.loop) != 0 || orch_control_listen(&d, &err) != 0) {
        fprintf(stderr, "orchd daemon: %s\n", err ? err : "cannot watch SIGCHLD");
        free(err);
        free(d.socket_path);
        close(d.lock_fd);
        return 1;
    }
    d.sv = orch_supervisor_new(d.loop, &d.ctx);
    if (o->init_pid > 0 || o->state_lines)
        orch_supervisor_observe(d.sv, print_state, &d);
    watch_signal(&d, &d.sigterm, SIGTERM);
    watch_signal(&d, &d.sigint, SIGINT);
    uv_signal_init(d.loop, &d.sighup);
    uv_signal_start(&d.sighup, ignore_sighup, SIGHUP);
    if (o->ready_fd >= 0) {
        if (write(o->ready_fd, "1", 1) < 0) {
            /* the starter went away; carry on */
        }
        close(o->ready_fd);
    }
    uv_run(d.loop, UV_RUN_DEFAULT);
    unlink(d.socket_path);
    orch_supervisor_free(d.sv);
    orch_https_shutdown(); /* every checker is stopped: no probe is left */
    uv_run(d.loop, UV_RUN_DEFAULT); /* let the supervisor's handles finish closing */
    free(d.socket_path);
    if (uv_loop_close(d.loop) != 0)
        fprintf(stderr, "orchd daemon: handles left open at exit\n");
    close(d.lock_fd);
    return d.exit_code;
}
