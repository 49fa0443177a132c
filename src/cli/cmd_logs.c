/* orchd logs SERVICE [-f] [-n N]: a service's output, read straight from its
 * log file (the daemon only tells where that is). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/request.h"
#include "runtime/runtime.h"

/* Asks the daemon; without one, falls back to the default log path. */
static char *log_path(const orch_settings *s, const char *service)
{
    int fd = orch_client_connect(s);
    if (fd < 0)
        return orch_log_path_default(s->state_dir, s->namespace_, service);
    orch_request req;
    orch_request_from_settings(&req, ORCH_REQ_LOG_PATH, s);
    yajl_val reply = orch_client_call(fd, &req, "logs");
    orch_request_free(&req);
    close(fd);
    char *path = NULL;
    if (reply && orch_reply_ok(reply) && orch_reply_string(reply, "path"))
        path = xstrdup(orch_reply_string(reply, "path"));
    else if (reply)
        orch_reply_print_problems(reply, "logs");
    yajl_tree_free(reply);
    return path;
}

/* Offset where the last n lines begin. */
static off_t tail_offset(int fd, long n)
{
    off_t end = lseek(fd, 0, SEEK_END);
    if (end <= 0)
        return 0;
    char buf[8192];
    off_t pos = end;
    long newlines = 0;
    int skip_final = 1; /* a trailing newline ends the last line, it does not start one */
    while (pos > 0) {
        size_t chunk = pos > (off_t)sizeof buf ? sizeof buf : (size_t)pos;
        pos -= (off_t)chunk;
        if (pread(fd, buf, chunk, pos) != (ssize_t)chunk)
            return 0;
        for (size_t i = chunk; i-- > 0;) {
            if (buf[i] != '\n')
                continue;
            if (skip_final && pos + (off_t)i == end - 1) {
                skip_final = 0;
                continue;
            }
            if (++newlines > n - 1 && n > 0)
                return pos + (off_t)i + 1;
            if (n == 0)
                return end;
        }
    }
    return n == 0 ? end : 0;
}

static int copy_from(int fd, off_t *pos)
{
    char buf[65536];
    ssize_t r;
    while ((r = pread(fd, buf, sizeof buf, *pos)) > 0) {
        if (fwrite(buf, 1, (size_t)r, stdout) != (size_t)r)
            return -1;
        *pos += r;
    }
    fflush(stdout);
    return r < 0 ? -1 : 0;
}

int cmd_logs(int argc, char **argv)
{
    orch_settings s;
    int r = orch_settings_parse(&s, "logs", "follow,lines", argc, argv);
    if (r != 0) {
        orch_settings_free(&s);
        return r > 0 ? 0 : 2;
    }
    int rc = 1;
    if (s.n_names != 1) {
        fprintf(stderr, "orchd logs: name one service\n");
        rc = 2;
        goto out;
    }
    char *path = log_path(&s, s.names[0]);
    if (!path)
        goto out;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "orchd logs: %s: cannot open %s: %s\n", s.names[0], path,
                strerror(errno));
        free(path);
        goto out;
    }
    off_t pos = tail_offset(fd, s.lines);
    rc = copy_from(fd, &pos) == 0 ? 0 : 1;
    while (s.follow && rc == 0) {
        /* Following polls the file: cheap for a CLI, and it keeps working
         * across log rotation by truncation. */
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size < pos)
            pos = 0;
        rc = copy_from(fd, &pos) == 0 ? 0 : 1;
    }
    close(fd);
    free(path);
out:
    orch_settings_free(&s);
    return rc;
}
