/* orchd log-relay --stdout FILE --stderr FILE: containerd's binary logger
 * protocol (containerd pkg/process/io.go NewBinaryIO). The runc shim starts
 * it with the container's stdout on fd 3, its stderr on fd 4, and fd 5 to
 * close once ready; it appends each stream to its file and ends when both
 * reach end of file (the shim closes them when the task is deleted, then
 * sends SIGTERM: whatever is still buffered is drained first).
 *
 * The containerd runtime uses it for every container (the shim's own
 * file:// logger stops copying at the first failed write, after which the
 * container blocks on its full pipe for good): a full disk drops output
 * here, counted in the --status file, and never stops the draining. The
 * shim passes the URI's query as "key value" pairs in random order, so the
 * runtime runs it as <state>/orchd-log-relay (a link to orchd) and main()
 * dispatches on that name; the options may come in any order. The relay is
 * the shim's child and outlives a daemon restart. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/safeopen.h"

static volatile sig_atomic_t terminating;

static void on_term(int sig)
{
    (void)sig;
    terminating = 1;
}

/* Run by containerd's shim as root, into a directory a container may write
 * to (a VOLUME over it): the runtime made the file already; a symlink or
 * FIFO put in its place is refused, never followed or waited on. */
static int open_log(const char *path)
{
    char *why = NULL;
    int fd = orch_open_file(path, O_WRONLY | O_APPEND | O_CREAT, 0640,
                            ORCH_OPEN_NOFOLLOW | ORCH_OPEN_CHARDEV, &why);
    if (fd < 0)
        fprintf(stderr, "orchd log-relay: cannot open %s: %s (output dropped)\n", path, why);
    free(why);
    return fd;
}

/* Dropped output, for orchd (--status FILE, read by the containerd
 * runtime's log watch): "<lines dropped> <1 while writes fail>\n", padded to
 * a fixed size and rewritten in place, so updating it needs no new disk
 * blocks even when its filesystem is the full one. */
#define STATUS_SIZE 40
static int status_fd = -1;
static unsigned long long dropped_lines;
static bool failing;

static void status_write(void)
{
    if (status_fd < 0)
        return;
    char b[STATUS_SIZE];
    memset(b, ' ', sizeof b);
    int n = snprintf(b, sizeof b, "%llu %d", dropped_lines, failing ? 1 : 0);
    if (n > 0 && n < STATUS_SIZE)
        b[n] = ' ';
    b[STATUS_SIZE - 1] = '\n';
    if (pwrite(status_fd, b, sizeof b, 0) < 0) {
        /* nothing to do: orchd then sees no report */
    }
}

static void count_dropped(const char *buf, size_t n)
{
    unsigned long long lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    dropped_lines += lines ? lines : 1;
    if (!failing) {
        failing = true;
        status_write();
    }
}

static time_t last_status;
static void status_maybe_write(void)
{
    time_t now = time(NULL);
    if (now != last_status) { /* at most once a second while dropping */
        last_status = now;
        status_write();
    }
}

static void write_all(int fd, const char *buf, size_t n)
{
    while (fd >= 0 && n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            /* a full disk: drop (and count) rather than block the container */
            count_dropped(buf, n);
            status_maybe_write();
            return;
        }
        if (failing) { /* space is back */
            failing = false;
            status_write();
        }
        buf += w;
        n -= (size_t)w;
    }
}

/* Copies what is readable now (all of it when drain; in is non-blocking);
 * returns false at end of file or error. */
static bool pump(int in, int out, bool drain)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n > 0) {
            write_all(out, buf, (size_t)n);
            if ((size_t)n < sizeof buf && !drain)
                return true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        return false;
    }
}

static void usage(FILE *f)
{
    fputs("usage: orchd log-relay --stdout FILE --stderr FILE [--status FILE]\n"
          "  containerd's binary logger: copies fd 3 to the stdout file and fd 4 to the\n"
          "  stderr file (appending), closing fd 5 once ready.\n",
          f);
}

int cmd_log_relay(int argc, char **argv)
{
    const char *out = NULL, *err = NULL, *status = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        size_t n = 0;
        if (strncmp(a, "--stdout", 8) == 0)
            dst = &out, n = 8;
        else if (strncmp(a, "--stderr", 8) == 0)
            dst = &err, n = 8;
        else if (strncmp(a, "--status", 8) == 0)
            dst = &status, n = 8;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!dst || (a[n] != '\0' && a[n] != '=')) {
            fprintf(stderr, "orchd log-relay: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (a[n] == '=')
            *dst = a + n + 1;
        else if (i + 1 < argc)
            *dst = argv[++i];
        else {
            fprintf(stderr, "orchd log-relay: %s needs a value\n", a);
            return 2;
        }
    }
    if (!out || !err || !*out || !*err) {
        usage(stderr);
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (status && *status) {
        /* <state>/log-drops: orchd's own directory, one level */
        char *dir = strdup(status);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash && slash != dir) {
            *slash = '\0';
            mkdir(dir, 0750);
        }
        free(dir);
        status_fd = open(status, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
        status_write(); /* allocates its blocks now, while there may be room */
    }
    int ofd = open_log(out);
    int efd = strcmp(out, err) == 0 ? ofd : open_log(err);
    int in[2] = {3, 4}, dst[2] = {ofd, efd};
    bool open_in[2];
    for (int i = 0; i < 2; i++) {
        open_in[i] = fcntl(in[i], F_GETFD) >= 0;
        if (open_in[i])
            fcntl(in[i], F_SETFL, fcntl(in[i], F_GETFL) | O_NONBLOCK);
    }
    close(5); /* ready: the shim goes on to start the task */

    while (open_in[0] || open_in[1]) {
        struct pollfd p[2];
        nfds_t n = 0;
        int which[2];
        for (int i = 0; i < 2; i++)
            if (open_in[i]) {
                p[n] = (struct pollfd){.fd = in[i], .events = POLLIN};
                which[n++] = i;
            }
        if (terminating) {
            /* SIGTERM (the shim is done with us): what is buffered, then out */
            for (int i = 0; i < 2; i++)
                if (open_in[i])
                    pump(in[i], dst[i], true);
            break;
        }
        int r = poll(p, n, -1);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        for (nfds_t k = 0; k < n; k++) {
            int i = which[k];
            if (p[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                if (!pump(in[i], dst[i], false)) {
                    close(in[i]);
                    open_in[i] = false;
                }
            }
        }
    }
    return 0;
}
