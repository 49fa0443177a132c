/* A full log disk, made visible. Every container's output goes through the
 * log relay (src/cli/cmd_log_relay.c), which drops what it cannot write and
 * keeps a count in <state>/log-drops/<ns>.<service>: "<lines> <failing>".
 * Every 2 s the watch reads those files and writes to orchd.log, once per
 * episode and service, "log disk full: N lines dropped", and "log output
 * resumed" when the relay writes again; survey shows the note (ops
 * describe). The report waits one more tick after the first drop is seen,
 * so the count says how fast lines are lost, not just "1 line". The files are small, root's, in the state dir; reading them
 * is a local open + read of 40 bytes. docs/CONTAINERD.md, "Crashes". */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "containerd/container/container.h"
#include "common/xalloc.h"

#define LOGWATCH_MS 2000
#define STATUS_MAX 64

typedef struct seen {
    char *name; /* file name: <ns>.<service> */
    bool pending;  /* failing seen once: reported at the next tick */
    bool reported;
} seen;

typedef struct ctd_logwatch {
    uv_timer_t timer;
    char *dir;
    char *ns;
    seen *v;
    size_t n;
} ctd_logwatch;

char *ctd_log_status_path(const char *state_dir, const char *ns, const char *service)
{
    return xasprintf("%s/log-drops/%s.%s", state_dir, ns, service);
}

/* Reads one status file: 0 with *lines and *failing, -1 when absent or odd. */
static int read_status(const char *path, unsigned long long *lines, int *failing)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -1;
    char b[STATUS_MAX + 1];
    ssize_t n = read(fd, b, STATUS_MAX);
    close(fd);
    if (n <= 0)
        return -1;
    b[n] = '\0';
    return sscanf(b, "%llu %d", lines, failing) == 2 ? 0 : -1;
}

static const char *lines_word(unsigned long long n)
{
    return n == 1 ? "line" : "lines";
}

char *ctd_log_note(const char *state_dir, const char *ns, const char *service)
{
    if (!state_dir)
        return NULL;
    char *path = ctd_log_status_path(state_dir, ns, service);
    unsigned long long lines = 0;
    int failing = 0;
    int rc = read_status(path, &lines, &failing);
    free(path);
    if (rc != 0 || lines == 0)
        return NULL;
    if (failing)
        return xasprintf("disk full: %llu %s dropped", lines, lines_word(lines));
    return xasprintf("%llu %s dropped while the log disk was full; output resumed", lines,
                     lines_word(lines));
}

static seen *seen_for(ctd_logwatch *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->v[i].name, name) == 0)
            return &w->v[i];
    w->v = xrealloc(w->v, (w->n + 1) * sizeof *w->v);
    w->v[w->n] = (seen){xstrdup(name), false, false};
    return &w->v[w->n++];
}

static void on_watch(uv_timer_t *t)
{
    ctd_logwatch *w = t->data;
    DIR *d = opendir(w->dir);
    if (!d)
        return;
    size_t nl = strlen(w->ns);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, w->ns, nl) != 0 || e->d_name[nl] != '.')
            continue;
        char *path = xasprintf("%s/%s", w->dir, e->d_name);
        unsigned long long lines = 0;
        int failing = 0;
        int rc = read_status(path, &lines, &failing);
        free(path);
        if (rc != 0)
            continue;
        seen *s = seen_for(w, e->d_name);
        const char *service = e->d_name + nl + 1;
        if (failing && !s->reported && !s->pending) {
            s->pending = true; /* settle for one tick: the count then means something */
        } else if (failing && s->pending) {
            fprintf(stderr, "orchd: service %s: log disk full: %llu %s dropped\n", service, lines,
                    lines_word(lines));
            s->pending = false;
            s->reported = true;
        } else if (!failing && (s->reported || s->pending)) {
            fprintf(stderr, "orchd: service %s: log output resumed%s (%llu %s dropped in all)\n",
                    service, s->reported ? "" : " after the log disk was full for a moment",
                    lines, lines_word(lines));
            s->pending = s->reported = false;
        }
    }
    closedir(d);
}

void ctd_logwatch_start(ctd_rt *rt, const char *state_dir)
{
    if (rt->logwatch || !state_dir)
        return;
    ctd_logwatch *w = xcalloc(1, sizeof *w);
    w->dir = xasprintf("%s/log-drops", state_dir);
    w->ns = xstrdup(rt->ns);
    uv_timer_init(rt->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_watch, LOGWATCH_MS, LOGWATCH_MS);
    uv_unref((uv_handle_t *)&w->timer);
    rt->logwatch = w;
}

static void on_closed(uv_handle_t *h)
{
    ctd_logwatch *w = h->data;
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i].name);
    free(w->v);
    free(w->dir);
    free(w->ns);
    free(w);
}

void ctd_logwatch_stop(ctd_rt *rt)
{
    if (!rt->logwatch)
        return;
    uv_timer_stop(&rt->logwatch->timer);
    uv_close((uv_handle_t *)&rt->logwatch->timer, on_closed);
    rt->logwatch = NULL;
}
