#include "cli/client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/fileutil.h"
#include "common/safeopen.h"
#include "common/xalloc.h"

static char *sock_path(const orch_settings *s)
{
    return xasprintf("%s/orchd.sock", s->state_dir);
}

/* Before a byte is sent (ORCH_ARG_* values, the Orchfile's path): the
 * server must be root or ourselves, never another user who planted a socket
 * in a state dir we can be pointed at. Says why on refusal. */
static int check_peer(int fd, const char *path)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) {
        fprintf(stderr, "orchd: %s: cannot learn who serves it: %s\n", path, strerror(errno));
        return -1;
    }
    if (cr.uid == 0 || cr.uid == geteuid())
        return 0;
    fprintf(stderr, "orchd: %s is served by uid %u (pid %ld), neither root nor you (uid %u): "
                    "refusing to talk to it\n",
            path, (unsigned)cr.uid, (long)cr.pid, (unsigned)geteuid());
    return -1;
}

int orch_client_connect(const orch_settings *s)
{
    char *path = sock_path(s);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "orchd: socket path too long: %s\n", path);
        free(path);
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    free(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (check_peer(fd, sa.sun_path) != 0) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

int orch_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

yajl_val orch_client_call(int fd, const orch_request *r, const char *verb)
{
    char *line = orch_request_encode(r);
    int w = orch_write_all(fd, line, strlen(line));
    free(line);
    if (w != 0) {
        fprintf(stderr, "orchd %s: cannot talk to the daemon: %s\n", verb, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap)
            buf = xrealloc(buf, cap *= 2);
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf + len - n, '\n', (size_t)n))
            break;
    }
    buf[len] = '\0';
    if (len == 0) {
        fprintf(stderr, "orchd %s: the daemon closed the connection without a reply "
                        "(see its log)\n", verb);
        free(buf);
        return NULL;
    }
    char err[256] = "";
    yajl_val v = yajl_tree_parse(buf, err, sizeof err);
    free(buf);
    if (!v || !YAJL_IS_OBJECT(v)) {
        fprintf(stderr, "orchd %s: the daemon's reply is not a JSON object\n", verb);
        yajl_tree_free(v);
        return NULL;
    }
    return v;
}

yajl_val orch_reply_member(yajl_val reply, const char *key)
{
    const char *path[] = {key, NULL};
    return yajl_tree_get(reply, path, yajl_t_any);
}

int orch_reply_ok(yajl_val reply)
{
    yajl_val ok = orch_reply_member(reply, "ok");
    return ok && YAJL_IS_TRUE(ok);
}

const char *orch_reply_string(yajl_val reply, const char *key)
{
    yajl_val v = orch_reply_member(reply, key);
    return v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
}

static void print_lines(yajl_val arr, const char *prefix)
{
    if (!arr || !YAJL_IS_ARRAY(arr))
        return;
    for (size_t i = 0; i < YAJL_GET_ARRAY(arr)->len; i++) {
        yajl_val s = YAJL_GET_ARRAY(arr)->values[i];
        if (YAJL_IS_STRING(s))
            fprintf(stderr, "%s%s\n", prefix, YAJL_GET_STRING(s));
    }
}

void orch_reply_print_problems(yajl_val reply, const char *verb)
{
    const char *e = orch_reply_string(reply, "error");
    if (e)
        fprintf(stderr, "orchd %s: %s\n", verb, e);
    print_lines(orch_reply_member(reply, "errors"), "");
    print_lines(orch_reply_member(reply, "warnings"), "");
    const char *report = orch_reply_string(reply, "report");
    if (report && *report) /* an empty one has no last character to look at */
        fprintf(stderr, "%s%s", report, report[strlen(report) - 1] == '\n' ? "" : "\n");
}

/* The daemon runs detached (double fork, own session) with its output in
 * <state>/orchd.log, and tells us through a pipe when its socket listens. */
int orch_client_start_daemon(const orch_settings *s)
{
    char *why = NULL;
    if (orch_private_dir_ensure(s->state_dir, &why) != 0) {
        fprintf(stderr, "orchd: state dir: %s\n", why);
        free(why);
        return -1;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "orchd: cannot find my own executable: %s\n", strerror(errno));
        return -1;
    }
    self[n] = '\0';
    int ready[2];
    if (pipe(ready) != 0) {
        fprintf(stderr, "orchd: cannot start the daemon on %s: pipe: %s\n", s->state_dir,
                strerror(errno));
        return -1;
    }
    char *log = xasprintf("%s/orchd.log", s->state_dir);
    char fdnum[16];
    snprintf(fdnum, sizeof fdnum, "%d", ready[1]);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "orchd: cannot start the daemon on %s: fork: %s\n", s->state_dir,
                strerror(errno));
        close(ready[0]);
        close(ready[1]);
        free(log);
        return -1;
    }
    if (pid == 0) {
        close(ready[0]);
        setsid();
        if (fork() != 0)
            _exit(0);
        int null = open("/dev/null", O_RDONLY);
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK, 0600);
        if (null >= 0)
            dup2(null, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        /* The daemon keeps only 0-2 and the ready pipe. */
        if (null > 2)
            close(null);
        if (out > 2)
            close(out);
        setenv("ORCH_READY_FD", fdnum, 1);
        char max_size[32], keep[16];
        snprintf(max_size, sizeof max_size, "%llu", s->log_max_size);
        snprintf(keep, sizeof keep, "%u", s->log_keep);
        execl(self, "orchd", "daemon", "--state-dir", s->state_dir, "--data-dir", s->data_dir,
              "--project-dir", s->project_dir, "--namespace", s->namespace_,
              "--containerd-socket", s->containerd_socket, "--runtime", s->runtime,
              "--vm-kernel", s->vm_kernel, "--port-offset", s->port_offset,
              "--log-max-size", max_size, "--log-keep", keep, (char *)NULL);
        _exit(127);
    }
    close(ready[1]);
    waitpid(pid, NULL, 0);
    char c;
    ssize_t r;
    do
        r = read(ready[0], &c, 1);
    while (r < 0 && errno == EINTR);
    close(ready[0]);
    int fd = orch_client_connect(s);
    if (fd < 0) {
        /* r == 0: it exited before listening (another daemon may have won
         * the lock: then the connect above succeeds). */
        fprintf(stderr, "orchd: the daemon did not start; see %s\n", log);
    }
    free(log);
    return fd;
}

int orch_client_wait_daemon_gone(const orch_settings *s, int timeout_ms)
{
    char *path = xasprintf("%s/orchd.lock", s->state_dir);
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    free(path);
    if (fd < 0)
        return 0;
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            flock(fd, LOCK_UN);
            close(fd);
            return 0;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    close(fd);
    return -1;
}

int orch_client_connect_or_start(const orch_settings *s, const char *verb)
{
    int fd = orch_client_connect(s);
    if (fd < 0 && (errno == ENOENT || errno == ECONNREFUSED))
        return orch_client_start_daemon(s); /* it says why when it fails */
    if (fd < 0 && errno != EPERM) /* EPERM: check_peer said why */
        fprintf(stderr, "orchd %s: cannot reach the daemon on %s: %s\n", verb, s->state_dir,
                strerror(errno));
    return fd;
}
