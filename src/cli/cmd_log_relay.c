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
 * the shim's child and outlives a daemon restart.
 *
 * Bare services use it too (--stdin: one stream on fd 0, a pipe the
 * service writes into; runtimes/bare/log_relay.c). For both, every line
 * gets the time it was read in front (cli/logline.h) and the files rotate
 * past --max-size, keeping --keep old ones (docs/LOGS.md). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/logline.h"
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

/* One log file the relay appends to, rotated by size (--max-size, --keep):
 * path -> path.1 -> ... -> path.K, the oldest dropped. Rotation happens only
 * between whole lines (the relay writes whole lines), so no line is split
 * or repeated across files. Two relays may share a file for a moment (a
 * service restarting: the old one still draining): the size is read with
 * fstat before each write, and a rotation happens under a lock on the
 * directory after checking that the path still names our file; a relay
 * that finds it renamed by the other just reopens the path. */
typedef struct sink {
    const char *path;
    int fd;
    /* a file the Orchfile names (--named stdout|stderr|both): the
     * service's output as it wrote it, unstamped and never rotated, as for a
     * bare service's named files (docs/LOGS.md) */
    bool named;
} sink;

static unsigned long long max_size; /* 0: never rotate */
static unsigned keep = 5;

static void rotate(sink *s)
{
    char *dir = strdup(s->path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (!slash) {
        free(dir);
        return;
    }
    *slash = slash == dir ? '/' : '\0';
    if (slash == dir)
        slash[1] = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (dfd < 0)
        return;
    flock(dfd, LOCK_EX);
    struct stat mine, named;
    if (fstat(s->fd, &mine) == 0 && lstat(s->path, &named) == 0 && mine.st_ino == named.st_ino &&
        mine.st_dev == named.st_dev) {
        size_t n = strlen(s->path) + 24;
        char *from = malloc(n), *to = malloc(n);
        if (from && to) {
            /* rename never follows a symlink at either end */
            for (unsigned k = keep; k > 1; k--) {
                snprintf(from, n, "%s.%u", s->path, k - 1);
                snprintf(to, n, "%s.%u", s->path, k);
                rename(from, to);
            }
            if (keep > 0) {
                snprintf(to, n, "%s.1", s->path);
                rename(s->path, to);
            } else {
                unlink(s->path);
            }
        }
        free(from);
        free(to);
    }
    int nfd = open_log(s->path);
    if (nfd >= 0) { /* else: keep appending to the renamed file, losing nothing */
        close(s->fd);
        s->fd = nfd;
    }
    flock(dfd, LOCK_UN);
    close(dfd);
}

static void write_all(sink *s, const char *buf, size_t n)
{
    if (n == 0)
        return;
    struct stat st;
    if (s->fd >= 0 && max_size > 0 && !s->named && fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size > 0 && (unsigned long long)st.st_size + n > max_size)
        rotate(s);
    while (s->fd >= 0 && n > 0) {
        ssize_t w = write(s->fd, buf, n);
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

/* One input stream: what it wrote since its last newline waits here, so
 * that each line is written whole, with its stamp, even when two streams
 * share a file. A partial line is written (ended with a newline) when it
 * reaches LINE_MAX, at end of file, or after PARTIAL_MS without more. */
#define READ_SIZE 65536
#define LINE_MAX_BYTES 16384
#define PARTIAL_MS 200
#define WRITE_CHUNK 16384
typedef struct stream {
    int in;
    bool open;
    sink *out;
    char pend[LINE_MAX_BYTES];
    size_t npend;
} stream;

/* out: flushed once past WRITE_CHUNK, so room for that and one more line */
#define OUT_SIZE (WRITE_CHUNK + LINE_MAX_BYTES + ORCH_LOGLINE_STAMP_LEN + 2)
static char outbuf[OUT_SIZE];

static size_t emit_line(char *o, const char *stamp, const char *a, size_t na, const char *b,
                        size_t nb)
{
    size_t k = strlen(stamp); /* "" for a named file */
    memcpy(o, stamp, k);
    memcpy(o + k, a, na);
    k += na;
    memcpy(o + k, b, nb);
    k += nb;
    o[k++] = '\n';
    return k;
}

/* Turns buf (n bytes just read; NULL to flush the partial line) into
 * stamped lines and writes them. */
static void take(stream *s, const char *buf, size_t n)
{
    char stamp[ORCH_LOGLINE_STAMP_LEN + 1] = "";
    if (!s->out->named) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        orch_logline_stamp(&ts, stamp);
    }
    size_t o = 0;
    if (!buf) {
        if (s->npend)
            o = emit_line(outbuf, stamp, s->pend, s->npend, "", 0);
        s->npend = 0;
        write_all(s->out, outbuf, o);
        return;
    }
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (buf + i)) : n - i;
        if (!nl && s->npend + len < LINE_MAX_BYTES) {
            memcpy(s->pend + s->npend, buf + i, len);
            s->npend += len;
            break;
        }
        if (!nl) /* too long for one line: cut it */
            len = LINE_MAX_BYTES - s->npend;
        o += emit_line(outbuf + o, stamp, s->pend, s->npend, buf + i, len);
        s->npend = 0;
        i += len + (nl ? 1 : 0);
        if (o >= WRITE_CHUNK) { /* rotation is checked per write: keep files near the size */
            write_all(s->out, outbuf, o);
            o = 0;
        }
    }
    write_all(s->out, outbuf, o);
}

/* Copies what is readable now (all of it when drain; in is non-blocking);
 * returns false at end of file or error. */
static bool pump(stream *s, bool drain)
{
    static char buf[READ_SIZE];
    for (;;) {
        ssize_t n = read(s->in, buf, sizeof buf);
        if (n > 0) {
            take(s, buf, (size_t)n);
            if ((size_t)n < sizeof buf && !drain)
                return true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        take(s, NULL, 0);
        return false;
    }
}

static bool parse_size(const char *v, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-')
        return false;
    *out = n;
    return true;
}

static void usage(FILE *f)
{
    fputs("usage: orchd log-relay --stdout FILE --stderr FILE [--status FILE]\n"
          "                       [--max-size BYTES] [--keep N] [--stdin]\n"
          "                       [--named stdout|stderr|both]\n"
          "  containerd's binary logger: copies fd 3 to the stdout file and fd 4 to the\n"
          "  stderr file (appending, each line stamped with the time), closing fd 5 once\n"
          "  ready; rotates a file past BYTES (0: never), keeping N old ones (default 5).\n"
          "  --stdin: one stream, fd 0, to the stdout file (bare services).\n"
          "  --named: that file (or both) is the Orchfile's: copied as\n"
          "  written, unstamped, never rotated.\n",
          f);
}

int cmd_log_relay(int argc, char **argv)
{
    const char *out = NULL, *err = NULL, *status = NULL, *size = NULL, *nkeep = NULL;
    const char *named_arg = NULL; /* --named stdout|stderr|both: always a value,
                                     as containerd's binary:// URI passes one */
    bool from_stdin = false;
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
        else if (strncmp(a, "--max-size", 10) == 0)
            dst = &size, n = 10;
        else if (strncmp(a, "--keep", 6) == 0)
            dst = &nkeep, n = 6;
        else if (strncmp(a, "--named", 7) == 0)
            dst = &named_arg, n = 7;
        else if (strcmp(a, "--stdin") == 0) {
            from_stdin = true;
            continue;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
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
    if (from_stdin && out && !err)
        err = out;
    bool named[2] = {false, false};
    if (named_arg) {
        named[0] = !strcmp(named_arg, "stdout") || !strcmp(named_arg, "both");
        named[1] = !strcmp(named_arg, "stderr") || !strcmp(named_arg, "both");
        if (!named[0] && !named[1]) {
            fprintf(stderr, "orchd log-relay: --named takes stdout, stderr or both\n");
            return 2;
        }
    }
    unsigned long long k = keep;
    if (!out || !err || !*out || !*err || (size && !parse_size(size, &max_size)) ||
        (nkeep && (!parse_size(nkeep, &k) || k > 1000))) {
        usage(stderr);
        return 2;
    }
    keep = (unsigned)k;
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
    static sink sinks[2];
    static stream streams[2];
    bool one_file = strcmp(out, err) == 0;
    sinks[0] = (sink){.path = out, .fd = open_log(out), .named = named[0] || (one_file && named[1])};
    if (!one_file)
        sinks[1] = (sink){.path = err, .fd = open_log(err), .named = named[1]};
    int in[2] = {3, 4};
    if (from_stdin)
        in[0] = 0, in[1] = -1;
    for (int i = 0; i < 2; i++) {
        stream *st = &streams[i];
        st->in = in[i];
        st->out = i == 0 || one_file ? &sinks[0] : &sinks[1];
        st->open = in[i] >= 0 && fcntl(in[i], F_GETFD) >= 0;
        if (st->open)
            fcntl(in[i], F_SETFL, fcntl(in[i], F_GETFL) | O_NONBLOCK);
    }
    if (!from_stdin)
        close(5); /* ready: the shim goes on to start the task */

    while (streams[0].open || streams[1].open) {
        struct pollfd p[2];
        nfds_t n = 0;
        int which[2];
        bool partial = false;
        for (int i = 0; i < 2; i++)
            if (streams[i].open) {
                p[n] = (struct pollfd){.fd = streams[i].in, .events = POLLIN};
                which[n++] = i;
                partial |= streams[i].npend > 0;
            }
        if (terminating) {
            /* SIGTERM (the shim is done with us): what is buffered, then out */
            for (int i = 0; i < 2; i++)
                if (streams[i].open) {
                    pump(&streams[i], true);
                    take(&streams[i], NULL, 0);
                }
            break;
        }
        int r = poll(p, n, partial ? PARTIAL_MS : -1);
        if (r < 0 && errno != EINTR)
            break;
        if (r == 0) /* a partial line waited long enough */
            for (int i = 0; i < 2; i++)
                take(&streams[i], NULL, 0);
        if (r <= 0)
            continue;
        for (nfds_t j = 0; j < n; j++) {
            stream *st = &streams[which[j]];
            if (p[j].revents & (POLLIN | POLLHUP | POLLERR)) {
                if (!pump(st, false)) {
                    close(st->in);
                    st->open = false;
                }
            }
        }
    }
    return 0;
}
