/* orchd logs [SERVICE...] [-f] [-n N] [-t] [--since WHEN] [--no-prefix]:
 * services' output, read straight from their log files (the daemon only
 * tells where those are). Each line in a file orchd's log relay writes
 * begins with the time it was logged (cli/logline.h), so the lines of
 * several services interleave in time order; rotated files (path.1 ...
 * path.K, oldest last) come before the current one. docs/LOGS.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/logline.h"
#include "cli/request.h"
#include "runtime/runtime.h"

typedef struct line {
    char stamp[ORCH_LOGLINE_STAMP_LEN + 1]; /* its own, or the one before it in its file */
    char *text;                             /* without the stamp, with its newline */
    size_t src;
    size_t seq; /* keeps a service's own order among equal stamps */
} line;

typedef struct lines {
    line *v;
    size_t n, cap;
} lines;

typedef struct source {
    char *name;
    char *path;
    int fd; /* the current file, followed */
    dev_t dev;
    ino_t ino;
    off_t pos;
    char *partial; /* the end of the file after its last newline */
    size_t npartial;
    char last[ORCH_LOGLINE_STAMP_LEN + 1];
} source;

static size_t seq_counter;

static void lines_push(lines *ls, const char *stamp, const char *text, size_t len, size_t src)
{
    if (ls->n == ls->cap) {
        ls->cap = ls->cap ? ls->cap * 2 : 256;
        ls->v = xrealloc(ls->v, ls->cap * sizeof *ls->v);
    }
    line *l = &ls->v[ls->n++];
    memcpy(l->stamp, stamp, sizeof l->stamp);
    l->text = xstrndup(text, len);
    l->src = src;
    l->seq = seq_counter++;
}

/* Keeps at most the last keep lines (keep < 0: all). */
static void lines_trim(lines *ls, long keep)
{
    if (keep < 0 || ls->n <= (size_t)keep)
        return;
    size_t drop = ls->n - (size_t)keep;
    for (size_t i = 0; i < drop; i++)
        free(ls->v[i].text);
    memmove(ls->v, ls->v + drop, (size_t)keep * sizeof *ls->v);
    ls->n = (size_t)keep;
}

static void lines_free(lines *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        free(ls->v[i].text);
    free(ls->v);
    memset(ls, 0, sizeof *ls);
}

static int by_time(const void *a, const void *b)
{
    const line *x = a, *y = b;
    int c = strcmp(x->stamp, y->stamp);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* One line of a file (len bytes, with its newline). A line without a stamp
 * (written by something other than the relay: an older orchd, a helper of
 * an adopted service) sorts with the line before it. */
static void take_line(source *s, size_t src, const char *p, size_t len, const char *since,
                      lines *out)
{
    const char *text = p;
    if (orch_logline_has_stamp(p, len)) {
        memcpy(s->last, p, ORCH_LOGLINE_STAMP_LEN);
        s->last[ORCH_LOGLINE_STAMP_LEN] = '\0';
        text += ORCH_LOGLINE_STAMP_LEN;
        len -= ORCH_LOGLINE_STAMP_LEN;
    }
    if (since && strcmp(s->last, since) < 0)
        return;
    lines_push(out, s->last, text, len, src);
}

/* Reads fd from *pos to its end, taking every complete line; the rest
 * waits in s->partial. */
static void read_lines(source *s, size_t src, int fd, off_t *pos, const char *since,
                       long keep, lines *out)
{
    char buf[65536];
    ssize_t r;
    while ((r = pread(fd, buf, sizeof buf, *pos)) > 0) {
        *pos += r;
        size_t i = 0;
        while (i < (size_t)r) {
            char *nl = memchr(buf + i, '\n', (size_t)r - i);
            size_t len = nl ? (size_t)(nl - (buf + i)) + 1 : (size_t)r - i;
            s->partial = xrealloc(s->partial, s->npartial + len + 1);
            memcpy(s->partial + s->npartial, buf + i, len);
            s->npartial += len;
            i += len;
            if (nl) {
                take_line(s, src, s->partial, s->npartial, since, out);
                s->npartial = 0;
            }
        }
        if (keep >= 0 && out->n > 2 * (size_t)keep + 1024)
            lines_trim(out, keep);
    }
}

/* The rotated files of s, oldest first, then the current one (s->fd). */
static void read_all(source *s, size_t src, const char *since, long keep, lines *out)
{
    unsigned k = 0;
    for (;;) {
        char *p = xasprintf("%s.%u", s->path, k + 1);
        int ok = access(p, F_OK) == 0;
        free(p);
        if (!ok)
            break;
        k++;
    }
    for (unsigned i = k; i >= 1; i--) {
        char *p = xasprintf("%s.%u", s->path, i);
        int fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        free(p);
        struct stat st;
        if (fd < 0)
            continue;
        /* rotated since we opened the current one: read it there, once */
        if (fstat(fd, &st) == 0 && !(s->fd >= 0 && st.st_ino == s->ino && st.st_dev == s->dev)) {
            off_t pos = 0;
            read_lines(s, src, fd, &pos, since, keep, out);
            if (s->npartial) { /* a file ends with a whole line; keep it apart anyway */
                take_line(s, src, s->partial, s->npartial, since, out);
                s->npartial = 0;
            }
        }
        close(fd);
    }
    if (s->fd >= 0)
        read_lines(s, src, s->fd, &s->pos, since, keep, out);
}

/* Reopens s's path when it names another file than s->fd (rotated, or
 * made anew): the rest of the old file is read, then the files rotated
 * after it (path.k-1 ... path.1 when the old one is path.k now: a burst of
 * output may rotate several times between two looks), then the new one.
 * Everything is opened first and kept only if path did not change
 * meanwhile (a rotation always puts a new file there), else tried again. */
#define MAX_CATCHUP 1000
static void reopen_if_moved(source *s, size_t src, lines *out)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        struct stat st;
        if (stat(s->path, &st) != 0)
            return; /* between the rename and the new file: next time */
        if (s->fd >= 0 && st.st_ino == s->ino && st.st_dev == s->dev) {
            if (st.st_size < s->pos) /* truncated */
                s->pos = 0;
            return;
        }
        int fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        struct stat cur;
        if (fd < 0 || fstat(fd, &cur) != 0) {
            if (fd >= 0)
                close(fd);
            return;
        }
        int *newer = xcalloc(MAX_CATCHUP, sizeof *newer);
        size_t k = 0;
        while (s->fd >= 0 && k < MAX_CATCHUP) {
            char *p = xasprintf("%s.%zu", s->path, k + 1);
            int r = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
            free(p);
            struct stat rs;
            if (r < 0 || fstat(r, &rs) != 0) {
                if (r >= 0)
                    close(r);
                break; /* the old file is gone: all of these are newer */
            }
            if (rs.st_ino == s->ino && rs.st_dev == s->dev) {
                close(r);
                break;
            }
            newer[k++] = r;
        }
        struct stat again;
        bool stable = stat(s->path, &again) == 0 && again.st_ino == cur.st_ino &&
                      again.st_dev == cur.st_dev;
        if (stable) {
            if (s->fd >= 0) {
                read_lines(s, src, s->fd, &s->pos, NULL, -1, out);
                close(s->fd);
            }
            for (size_t j = k; j-- > 0;) {
                off_t pos = 0;
                read_lines(s, src, newer[j], &pos, NULL, -1, out);
            }
            s->fd = fd;
            s->dev = cur.st_dev;
            s->ino = cur.st_ino;
            s->pos = 0;
        } else {
            close(fd);
        }
        for (size_t j = 0; j < k; j++)
            close(newer[j]);
        free(newer);
        if (stable)
            return;
    }
}

/* --since: "30s", "10m", "2h", "1d" ago, or a UTC time
 * "2025-05-01T12:00:00Z" / "2025-05-01T12:00:00" / "2025-05-01", as a
 * stamp to compare lines with. */
static int since_stamp(const char *v, char *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!errno && end != v && n >= 0 && end[0] && !end[1] && strchr("smhd", end[0])) {
        long mult = end[0] == 's' ? 1 : end[0] == 'm' ? 60 : end[0] == 'h' ? 3600 : 86400;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec -= n * mult;
        orch_logline_stamp(&ts, out);
        return 0;
    }
    struct tm tm = {0};
    const char *rest = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) {
        memset(&tm, 0, sizeof tm);
        rest = strptime(v, "%Y-%m-%d", &tm);
    }
    if (!rest || (*rest && strcmp(rest, "Z") != 0))
        return -1;
    struct timespec ts = {.tv_sec = timegm(&tm)};
    orch_logline_stamp(&ts, out);
    return 0;
}

/* Asks the daemon; without one, the default log path. */
static char *log_path(const orch_settings *s, const char *service, int *missing)
{
    int fd = orch_client_connect(s);
    if (fd < 0)
        return orch_log_path_default(s->state_dir, s->namespace_, service);
    orch_request req;
    orch_settings one = *s;
    char *names[1] = {(char *)service};
    one.names = names;
    one.n_names = 1;
    orch_request_from_settings(&req, ORCH_REQ_LOG_PATH, &one);
    yajl_val reply = orch_client_call(fd, &req, "logs");
    orch_request_free(&req);
    close(fd);
    char *path = NULL;
    if (reply && orch_reply_ok(reply) && orch_reply_string(reply, "path"))
        path = xstrdup(orch_reply_string(reply, "path"));
    else if (reply)
        orch_reply_print_problems(reply, "logs");
    if (!path)
        *missing = 1;
    yajl_tree_free(reply);
    return path;
}

/* Every service: the daemon's, else the log files in <state>/logs. */
static char **all_services(const orch_settings *s, size_t *n)
{
    char **v = NULL;
    *n = 0;
    int fd = orch_client_connect(s);
    if (fd >= 0) {
        orch_request req;
        orch_request_from_settings(&req, ORCH_REQ_SURVEY, s);
        yajl_val reply = orch_client_call(fd, &req, "logs");
        orch_request_free(&req);
        close(fd);
        yajl_val svcs = reply ? orch_reply_member(reply, "services") : NULL;
        if (svcs && YAJL_IS_ARRAY(svcs)) {
            v = xcalloc(YAJL_GET_ARRAY(svcs)->len + 1, sizeof *v);
            for (size_t i = 0; i < YAJL_GET_ARRAY(svcs)->len; i++) {
                yajl_val name = orch_reply_member(YAJL_GET_ARRAY(svcs)->values[i], "service");
                if (name && YAJL_IS_STRING(name))
                    v[(*n)++] = xstrdup(YAJL_GET_STRING(name));
            }
        }
        yajl_tree_free(reply);
        return v;
    }
    char *dir = xasprintf("%s/logs", s->state_dir);
    char *prefix = xasprintf("%s.", s->namespace_);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name), pl = strlen(prefix);
        if (len > pl + 4 && strncmp(e->d_name, prefix, pl) == 0 &&
            strcmp(e->d_name + len - 4, ".log") == 0) {
            v = xrealloc(v, (*n + 2) * sizeof *v);
            v[(*n)++] = xstrndup(e->d_name + pl, len - pl - 4);
        }
    }
    if (d)
        closedir(d);
    free(dir);
    free(prefix);
    return v;
}

typedef struct out_style {
    int prefix, color, timestamps;
    int width;
} out_style;

static void print_lines(const source *srcs, const lines *ls, size_t from, const out_style *o)
{
    static const int colors[] = {36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91};
    for (size_t i = from; i < ls->n; i++) {
        const line *l = &ls->v[i];
        if (o->prefix) {
            const char *name = srcs[l->src].name;
            if (o->color)
                printf("\033[%dm%-*s |\033[0m ", colors[l->src % 12], o->width, name);
            else
                printf("%-*s | ", o->width, name);
        }
        if (o->timestamps)
            fputs(l->stamp[0] ? l->stamp : "-                           ", stdout);
        fputs(l->text, stdout);
        size_t len = strlen(l->text);
        if (len == 0 || l->text[len - 1] != '\n')
            putchar('\n');
    }
    fflush(stdout);
}

int cmd_logs(int argc, char **argv)
{
    orch_settings s;
    int r = orch_settings_parse(&s, "logs", "follow,lines,timestamps,since,no-prefix", argc,
                                argv);
    if (r != 0) {
        orch_settings_free(&s);
        return r > 0 ? 0 : 2;
    }
    int rc = 1;
    char since_buf[ORCH_LOGLINE_STAMP_LEN + 1], *since = NULL;
    if (s.since) {
        if (since_stamp(s.since, since_buf) < 0) {
            fprintf(stderr, "orchd logs: --since '%s': expected 30s, 10m, 2h, 1d or "
                            "2025-05-01T12:00:00Z\n", s.since);
            orch_settings_free(&s);
            return 2;
        }
        since = since_buf;
    }
    size_t n = 0;
    char **names;
    if (s.n_names) {
        names = xcalloc(s.n_names + 1, sizeof *names);
        for (size_t i = 0; i < s.n_names; i++)
            names[n++] = xstrdup(s.names[i]);
    } else {
        names = all_services(&s, &n);
        if (n == 0) {
            fprintf(stderr, "orchd logs: no service has a log in %s/logs\n", s.state_dir);
            free(names);
            goto out;
        }
    }
    source *srcs = xcalloc(n, sizeof *srcs);
    out_style style = {.prefix = !s.no_prefix && (s.n_names != 1),
                       .color = isatty(STDOUT_FILENO), .timestamps = s.timestamps};
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        source *src = &srcs[i];
        src->name = names[i];
        src->fd = -1;
        int w = (int)strlen(src->name);
        style.width = w > style.width ? w : style.width;
        src->path = log_path(&s, src->name, &missing);
        if (!src->path)
            continue;
        src->fd = open(src->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        struct stat st;
        if (src->fd < 0 && !(s.follow && errno == ENOENT)) {
            fprintf(stderr, "orchd logs: %s: cannot open %s: %s\n", src->name, src->path,
                    strerror(errno));
            missing = 1;
        } else if (src->fd >= 0 && fstat(src->fd, &st) == 0) {
            src->dev = st.st_dev;
            src->ino = st.st_ino;
        }
    }
    if (missing && n == 1)
        goto done;
    lines all = {0};
    for (size_t i = 0; i < n; i++) {
        if (!srcs[i].path)
            continue;
        lines one = {0};
        read_all(&srcs[i], i, since, s.lines, &one);
        lines_trim(&one, s.lines);
        for (size_t j = 0; j < one.n; j++) {
            lines_push(&all, one.v[j].stamp, "", 0, i);
            free(all.v[all.n - 1].text);
            all.v[all.n - 1] = one.v[j];
        }
        free(one.v);
    }
    if (n > 1)
        qsort(all.v, all.n, sizeof *all.v, by_time);
    lines_trim(&all, s.lines);
    print_lines(srcs, &all, 0, &style);
    lines_free(&all);
    rc = missing ? 1 : 0;
    while (s.follow) {
        /* Following polls the files: cheap for a CLI, and by name (like
         * tail -F): a rotated file is read to its end, then the new one. */
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        lines fresh = {0};
        for (size_t i = 0; i < n; i++) {
            if (!srcs[i].path)
                continue;
            if (srcs[i].fd >= 0)
                read_lines(&srcs[i], i, srcs[i].fd, &srcs[i].pos, NULL, -1, &fresh);
            reopen_if_moved(&srcs[i], i, &fresh);
        }
        if (n > 1)
            qsort(fresh.v, fresh.n, sizeof *fresh.v, by_time);
        print_lines(srcs, &fresh, 0, &style);
        lines_free(&fresh);
        if (ferror(stdout)) {
            rc = 1;
            break;
        }
    }
done:
    for (size_t i = 0; i < n; i++) {
        if (srcs[i].fd >= 0)
            close(srcs[i].fd);
        free(srcs[i].path);
        free(srcs[i].partial);
        free(srcs[i].name);
    }
    free(srcs);
    free(names);
out:
    orch_settings_free(&s);
    return rc;
}
