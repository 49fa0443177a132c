/* orchd pull [SERVICE...]: pulls (or imports) the images of the Orchfile's
 * FROM services ahead of time, through the daemon (started if none runs),
 * so several services sharing an image, and a grow running at the same time,
 * share one download. Also the progress display that grow uses:
 *
 *   on a terminal: one line per layer, rewritten in place (bytes of total,
 *   rate), finished lines scroll away;
 *   in a pipe or a log: one line per layer when it is complete, and a line
 *   per image (resolved, pulled with its size and time, failed).
 *
 * The daemon sends {"progress": EVENT} lines before its reply
 * (docs/PROTOCOL.md, docs/IMAGES.md). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "orchfile/orchfile.h"
#include "cli/request.h"

/* ---------------------------------------------------------------- progress */

typedef struct row {
    char *key;
    char *text;
    bool finished;
} row;

typedef struct progress {
    FILE *out;
    bool tty;
    bool quiet; /* grow: only what was fetched, not what was there already */
    row *rows;
    size_t n, frozen, drawn;
    uint64_t last_draw;
} progress;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void human(char *buf, size_t n, double bytes)
{
    const char *u[] = {"B", "kB", "MB", "GB", "TB"};
    int i = 0;
    while (bytes >= 1000 && i < 4) {
        bytes /= 1000;
        i++;
    }
    if (i == 0)
        snprintf(buf, n, "%.0f %s", bytes, u[i]);
    else
        snprintf(buf, n, "%.1f %s", bytes, u[i]);
}

static const char *vstr(yajl_val v, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val s = yajl_tree_get(v, path, yajl_t_string);
    return s ? YAJL_GET_STRING(s) : NULL;
}

static long long vnum(yajl_val v, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val s = yajl_tree_get(v, path, yajl_t_number);
    return s && YAJL_IS_INTEGER(s) ? YAJL_GET_INTEGER(s) : -1;
}

static row *row_get(progress *p, const char *key)
{
    for (size_t i = p->frozen; i < p->n; i++)
        if (strcmp(p->rows[i].key, key) == 0)
            return &p->rows[i];
    p->rows = xrealloc(p->rows, (p->n + 1) * sizeof *p->rows);
    row *r = &p->rows[p->n++];
    r->key = xstrdup(key);
    r->text = xstrdup("");
    r->finished = false;
    return r;
}

static void redraw(progress *p, bool force)
{
    uint64_t t = now_ms();
    if (!force && t - p->last_draw < 100)
        return;
    p->last_draw = t;
    if (p->drawn > 0)
        fprintf(p->out, "\033[%zuA", p->drawn);
    /* a line longer than the terminal would wrap and spoil the cursor-up */
    struct winsize ws;
    int width = ioctl(fileno(p->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10 ? ws.ws_col : 200;
    for (size_t i = p->frozen; i < p->n; i++)
        fprintf(p->out, "\r\033[2K%.*s\n", width - 1, p->rows[i].text);
    while (p->frozen < p->n && p->rows[p->frozen].finished)
        p->frozen++;
    p->drawn = p->n - p->frozen;
    fflush(p->out);
}

static bool is_one_of(const char *s, const char *a, const char *b, const char *c)
{
    return s && ((a && !strcmp(s, a)) || (b && !strcmp(s, b)) || (c && !strcmp(s, c)));
}

static void on_event(progress *p, yajl_val ev)
{
    const char *image = vstr(ev, "image"), *status = vstr(ev, "status");
    const char *id = vstr(ev, "id"), *what = vstr(ev, "what");
    if (!image || !status)
        return;
    char line[512];
    bool finished;
    if (id) {
        if (what && (strcmp(what, "manifest") == 0 || strcmp(what, "index") == 0))
            return; /* a few hundred bytes each: not worth a line */
        long long done = vnum(ev, "done"), total = vnum(ev, "total"), rate = vnum(ev, "rate");
        char d[32], t[32], r[32] = "";
        human(d, sizeof d, done > 0 ? (double)done : 0);
        human(t, sizeof t, total > 0 ? (double)total : 0);
        if (rate > 0) {
            human(r, sizeof r - 2, (double)rate);
            strcat(r, "/s");
        }
        finished = is_one_of(status, "done", "exists", "failed");
        if (strcmp(status, "exists") == 0)
            snprintf(line, sizeof line, "  %s %s: already present (%s)", what ? what : "blob", id,
                     t);
        else if (strcmp(status, "failed") == 0)
            snprintf(line, sizeof line, "  %s %s: failed at %s of %s", what ? what : "blob", id,
                     d, t);
        else if (finished)
            snprintf(line, sizeof line, "  %s %s: %s %s%s%s%s", what ? what : "blob", id, status,
                     t, *r ? " (" : "", r, *r ? ")" : "");
        else
            snprintf(line, sizeof line, "  %s %s: %-11s %9s / %-9s %s", what ? what : "blob", id,
                     status, d, t, r);
        if (p->tty) {
            char key[512];
            snprintf(key, sizeof key, "%s %s", image, id);
            row *rw = row_get(p, key);
            free(rw->text);
            rw->text = xstrdup(line);
            rw->finished = finished;
            redraw(p, finished);
        } else if (finished) {
            fprintf(p->out, "%s: %s\n", image, line + 2);
            fflush(p->out);
        }
        return;
    }
    /* the image itself */
    const char *digest = vstr(ev, "digest"), *err = vstr(ev, "error");
    long long bytes = vnum(ev, "bytes"), ms = vnum(ev, "ms"), layers = vnum(ev, "layers");
    long long existed = vnum(ev, "existed");
    finished = is_one_of(status, "pulled", "imported", "failed") ||
               is_one_of(status, "present", NULL, NULL);
    if (is_one_of(status, "pulled", "imported", NULL)) {
        char b[32];
        human(b, sizeof b, bytes > 0 ? (double)bytes : 0);
        snprintf(line, sizeof line, "%s: %s %s (%lld layer%s, %lld already present; %s in %.1f s)",
                 image, status, digest ? digest : "", layers, layers == 1 ? "" : "s",
                 existed > 0 ? existed : 0, b, ms > 0 ? (double)ms / 1000 : 0.0);
    } else if (strcmp(status, "failed") == 0) {
        snprintf(line, sizeof line, "%s: failed: %s", image, err ? err : "?");
    } else if (strcmp(status, "present") == 0) {
        snprintf(line, sizeof line, "%s: present%s%s", image, digest ? " " : "",
                 digest ? digest : "");
    } else if (strcmp(status, "resolved") == 0) {
        snprintf(line, sizeof line, "%s: resolved to %s", image, digest ? digest : "?");
    } else {
        snprintf(line, sizeof line, "%s: %s", image, status);
    }
    if (p->quiet && strcmp(status, "present") == 0)
        return;
    if (p->tty) {
        row *rw = row_get(p, image);
        free(rw->text);
        rw->text = xstrdup(line);
        rw->finished = finished;
        redraw(p, true);
    } else if (!is_one_of(status, "resolving", "unpacking", "importing")) {
        fprintf(p->out, "%s\n", line);
        fflush(p->out);
    }
}

static void progress_end(progress *p)
{
    if (p->tty && p->n > p->frozen) {
        for (size_t i = p->frozen; i < p->n; i++)
            p->rows[i].finished = true;
        redraw(p, true);
    }
    for (size_t i = 0; i < p->n; i++) {
        free(p->rows[i].key);
        free(p->rows[i].text);
    }
    free(p->rows);
}

static void (*quiet_fn)(void *);
static void *quiet_arg;
static int quiet_ms;

void orch_client_set_quiet_hook(void (*fn)(void *arg), void *arg, int ms)
{
    quiet_fn = fn;
    quiet_arg = arg;
    quiet_ms = ms;
}

yajl_val orch_client_call_progress(int fd, const orch_request *r, const char *verb, FILE *out)
{
    char *line = orch_request_encode(r);
    int w = orch_write_all(fd, line, strlen(line));
    free(line);
    if (w != 0) {
        fprintf(stderr, "orchd %s: cannot talk to the daemon: %s\n", verb, strerror(errno));
        return NULL;
    }
    progress p = {.out = out,
                  .tty = isatty(fileno(out)) && getenv("TERM") &&
                         strcmp(getenv("TERM"), "dumb") != 0,
                  .quiet = r->kind == ORCH_REQ_GROW};
    size_t cap = 8192, len = 0;
    char *buf = xmalloc(cap);
    yajl_val reply = NULL;
    bool eof = false;
    while (!reply) {
        char *nl = len ? memchr(buf, '\n', len) : NULL;
        if (!nl) {
            if (eof)
                break;
            if (len + 4096 > cap)
                buf = xrealloc(buf, cap *= 2);
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            if (quiet_fn && poll(&pfd, 1, quiet_ms) == 0) {
                quiet_fn(quiet_arg);
                continue;
            }
            ssize_t n = read(fd, buf + len, cap - len - 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                eof = true;
            else
                len += (size_t)n;
            continue;
        }
        *nl = '\0';
        char err[128] = "";
        yajl_val v = yajl_tree_parse(buf, err, sizeof err);
        size_t used = (size_t)(nl - buf) + 1;
        memmove(buf, nl + 1, len - used);
        len -= used;
        if (!v || !YAJL_IS_OBJECT(v)) {
            yajl_tree_free(v);
            fprintf(stderr, "orchd %s: the daemon's reply is not a JSON object\n", verb);
            break;
        }
        yajl_val ev = orch_reply_member(v, "progress");
        if (ev && YAJL_IS_OBJECT(ev)) {
            on_event(&p, ev);
            yajl_tree_free(v);
            continue;
        }
        reply = v;
    }
    progress_end(&p);
    free(buf);
    if (!reply && eof)
        fprintf(stderr, "orchd %s: the daemon closed the connection without a reply "
                        "(see its log)\n", verb);
    return reply;
}

/* ---------------------------------------------------------------- the verb */

/* The named services must exist and be container services. */
static int check_model(const orch_settings *s)
{
    orch_model m;
    if (orch_cli_load_model(s, "pull", &m) != 0)
        return -1;
    int r = 0;
    for (size_t i = 0; i < s->n_names; i++) {
        if (!orch_model_find(&m, s->names[i])->image) {
            fprintf(stderr, "orchd pull: service %s has no image (it is a RUN service)\n",
                    s->names[i]);
            r = -1;
        }
    }
    orch_model_free(&m);
    return r;
}

int cmd_pull(int argc, char **argv)
{
    orch_settings s;
    int r = orch_settings_parse(&s, "pull", "", argc, argv);
    if (r != 0) {
        orch_settings_free(&s);
        return r > 0 ? 0 : 2;
    }
    int rc = 1;
    if (check_model(&s) != 0)
        goto out;
    int fd = orch_client_connect_or_start(&s, "pull");
    if (fd < 0)
        goto out;
    orch_request req;
    orch_request_from_settings(&req, ORCH_REQ_PULL, &s);
    req.progress = true;
    yajl_val reply = orch_client_call_progress(fd, &req, "pull", stdout);
    orch_request_free(&req);
    close(fd);
    if (!reply)
        goto out;
    if (orch_reply_ok(reply)) {
        const char *report = orch_reply_string(reply, "report");
        if (report)
            printf("%s\n", report);
    } else {
        orch_reply_print_problems(reply, "pull");
    }
    rc = orch_reply_ok(reply) ? 0 : 1;
    yajl_tree_free(reply);
out:
    orch_settings_free(&s);
    return rc;
}
