/* The guest agent (vm_agent.h). Requests come from orchd on the host; the
 * port is also visible to the guest's own root, which can only fake answers
 * about itself. */
#include "init/vm_agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "common/fileutil.h"
#include "common/xalloc.h"
#include "init/machine.h"

#define PORTS "/sys/class/virtio-ports"
#define HUP_RETRY_MS 200

static int open_port(void)
{
    DIR *d = opendir(PORTS);
    if (!d)
        return -1;
    int fd = -1;
    struct dirent *de;
    while (fd < 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[512], *name = NULL;
        snprintf(p, sizeof p, PORTS "/%s/name", de->d_name);
        if (orch_read_file(p, &name, NULL) == 0) {
            name[strcspn(name, "\n")] = '\0';
            if (!strcmp(name, ORCH_VM_AGENT_PORT)) {
                snprintf(p, sizeof p, "/dev/%s", de->d_name);
                fd = open(p, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                    init_log("agent %s: %s", p, strerror(errno));
                else
                    init_log("agent on %s", p);
            }
        }
        free(name);
    }
    closedir(d);
    return fd;
}

void orch_vm_agent_init(orch_vm_agent *a, pid_t (*spawn)(const char *command, int out_fd))
{
    memset(a, 0, sizeof *a);
    a->spawn = spawn;
    a->in = xmalloc(ORCH_VM_AGENT_LINE);
    a->fd = open_port();
}

static void say(orch_vm_agent *a, long long id, const char *what)
{
    char line[256];
    int n = snprintf(line, sizeof line, "{\"id\":%lld,%s}\n", id, what);
    /* a host that is not listening loses the answer; its timer covers it */
    if (a->fd >= 0 && write(a->fd, line, (size_t)n) != n)
        init_log("agent: answer for %lld lost: %s", id, strerror(errno));
}

/* A long answer (a capture) on the non-blocking port: waits for room at
 * most ~2 s in all (process 1 blocks meanwhile); a line cut short is ended
 * with a newline, so the host drops it whole and the next line is intact. */
static void say_long(orch_vm_agent *a, long long id, const char *text, size_t len)
{
    size_t done = 0;
    int waits = 0;
    while (a->fd >= 0 && done < len && waits < 20) {
        ssize_t n = write(a->fd, text + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            break;
        struct pollfd pf = {.fd = a->fd, .events = POLLOUT};
        poll(&pf, 1, 100);
        waits++;
    }
    if (done < len) {
        init_log("agent: answer for %lld cut short (%zu of %zu bytes)", id, done, len);
        if (done > 0 && write(a->fd, "\n", 1) != 1)
            init_log("agent: %s", strerror(errno));
    }
}

void orch_vm_agent_stop_taken(orch_vm_agent *a)
{
    if (!a->stop)
        return;
    a->stop = false;
    say(a, a->stop_id, "\"stopping\":true");
}

/* The answer of a capture: status and the first ORCH_VM_AGENT_CAPTURE
 * bytes of its stdout, as a JSON string (invalid UTF-8: an error). */
static void say_capture(orch_vm_agent *a, long long id, int status, int fd)
{
    char *out = xmalloc(ORCH_VM_AGENT_CAPTURE + 1);
    ssize_t n = pread(fd, out, ORCH_VM_AGENT_CAPTURE + 1, 0);
    if (n < 0)
        n = 0;
    bool truncated = n > ORCH_VM_AGENT_CAPTURE;
    if (truncated)
        n = ORCH_VM_AGENT_CAPTURE;
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);
    yajl_gen_map_open(g);
    yajl_gen_string(g, (const unsigned char *)"id", 2);
    yajl_gen_integer(g, id);
    yajl_gen_string(g, (const unsigned char *)"status", 6);
    yajl_gen_integer(g, status);
    yajl_gen_string(g, (const unsigned char *)"output", 6);
    bool ok = yajl_gen_string(g, (const unsigned char *)out, (size_t)n) == yajl_gen_status_ok;
    yajl_gen_string(g, (const unsigned char *)"truncated", 9);
    yajl_gen_bool(g, truncated);
    yajl_gen_map_close(g);
    const unsigned char *buf;
    size_t len;
    if (ok && yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) {
        char *line = xasprintf("%.*s\n", (int)len, (const char *)buf);
        say_long(a, id, line, len + 1);
        free(line);
    } else
        say(a, id, "\"error\":\"the output is not UTF-8\"");
    yajl_gen_free(g);
    free(out);
}

static void request(orch_vm_agent *a, const char *line, int64_t now)
{
    char eb[128];
    yajl_val v = yajl_tree_parse(line, eb, sizeof eb);
    const char *ip[] = {"id", NULL}, *xp[] = {"exec", NULL}, *tp[] = {"timeout_ms", NULL},
               *cp[] = {"cancel", NULL}, *kp[] = {"capture", NULL};
    yajl_val id = v ? yajl_tree_get(v, ip, yajl_t_number) : NULL;
    if (!id || !YAJL_IS_INTEGER(id)) {
        init_log("agent: a request without an id");
        yajl_tree_free(v);
        return;
    }
    long long n = YAJL_GET_INTEGER(id);
    const char *sp[] = {"stop", NULL};
    if (YAJL_IS_TRUE(yajl_tree_get(v, sp, yajl_t_any))) {
        /* process 1 acts on it after this pass (orch_vm_agent.stop) and
         * answers then (orch_vm_agent_stop_taken) */
        a->stop = true;
        a->stop_id = n;
        yajl_tree_free(v);
        return;
    }
    if (YAJL_IS_TRUE(yajl_tree_get(v, cp, yajl_t_any))) {
        for (int i = 0; i < ORCH_VM_AGENT_MAX; i++)
            if (a->cmd[i].pid && a->cmd[i].id == n) {
                a->cmd[i].cancelled = true;
                kill(-a->cmd[i].pid, SIGKILL);
            }
        yajl_tree_free(v);
        return;
    }
    const char *command = YAJL_GET_STRING(yajl_tree_get(v, xp, yajl_t_string));
    yajl_val to = yajl_tree_get(v, tp, yajl_t_number);
    int slot = -1;
    for (int i = 0; i < ORCH_VM_AGENT_MAX && slot < 0; i++)
        if (!a->cmd[i].pid)
            slot = i;
    if (!command)
        say(a, n, "\"error\":\"no command\"");
    else if (slot < 0)
        say(a, n, "\"error\":\"too many commands at once in the guest\"");
    else {
        int out = -1;
        if (YAJL_IS_TRUE(yajl_tree_get(v, kp, yajl_t_any)) &&
            (out = memfd_create("orchd-agent-capture", MFD_CLOEXEC)) < 0) {
            say(a, n, "\"error\":\"memfd_create failed in the guest\"");
            yajl_tree_free(v);
            return;
        }
        pid_t p = a->spawn(command, out);
        if (p < 0) {
            say(a, n, "\"error\":\"fork failed in the guest\"");
            if (out >= 0)
                close(out);
        } else {
            long long ms = to && YAJL_IS_INTEGER(to) ? YAJL_GET_INTEGER(to) : 0;
            a->cmd[slot] = (orch_vm_agent_cmd){.id = n, .pid = p, .out_fd = out,
                                               .deadline = ms > 0 ? now + ms : 0};
        }
    }
    yajl_tree_free(v);
}

int orch_vm_agent_poll(orch_vm_agent *a, struct pollfd *pf, int64_t now)
{
    pf->fd = -1;
    pf->events = POLLIN;
    pf->revents = 0;
    int64_t next = -1;
    if (a->fd < 0 || a->retry_at > now)
        next = a->fd < 0 ? 500 : a->retry_at - now; /* the port may come late */
    else
        pf->fd = a->fd;
    for (int i = 0; i < ORCH_VM_AGENT_MAX; i++) {
        if (!a->cmd[i].pid || !a->cmd[i].deadline || a->cmd[i].timed_out)
            continue;
        int64_t left = a->cmd[i].deadline > now ? a->cmd[i].deadline - now : 0;
        if (next < 0 || left < next)
            next = left;
    }
    return next > 1000000 ? 1000000 : (int)next;
}

void orch_vm_agent_work(orch_vm_agent *a, short revents, int64_t now)
{
    if (a->fd < 0 && a->retry_at <= now) {
        a->fd = open_port();
        a->retry_at = now + 500;
    }
    for (int i = 0; i < ORCH_VM_AGENT_MAX; i++) {
        orch_vm_agent_cmd *c = &a->cmd[i];
        if (c->pid && c->deadline && !c->timed_out && c->deadline <= now) {
            c->timed_out = true;
            kill(-c->pid, SIGKILL);
            kill(c->pid, SIGKILL);
        }
    }
    if (a->fd < 0 || !revents)
        return;
    if (!(revents & POLLIN)) { /* POLLHUP: no host on the other end yet */
        a->retry_at = now + HUP_RETRY_MS;
        return;
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(a->fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                a->in[a->in_len] = '\0';
                if (!a->discarding && a->in_len)
                    request(a, a->in, now);
                a->in_len = 0;
                a->discarding = false;
            } else if (a->in_len + 1 < ORCH_VM_AGENT_LINE)
                a->in[a->in_len++] = buf[i];
            else
                a->discarding = true;
        }
    }
    if (n == 0)
        a->retry_at = now + HUP_RETRY_MS;
}

void orch_vm_agent_reaped(orch_vm_agent *a, pid_t pid, int status)
{
    for (int i = 0; i < ORCH_VM_AGENT_MAX; i++) {
        orch_vm_agent_cmd *c = &a->cmd[i];
        if (c->pid != pid)
            continue;
        char what[64];
        if (c->timed_out)
            snprintf(what, sizeof what, "\"timed_out\":true");
        else
            snprintf(what, sizeof what, "\"status\":%d", status);
        if (!c->cancelled && !c->timed_out && c->out_fd >= 0)
            say_capture(a, c->id, status, c->out_fd);
        else if (!c->cancelled)
            say(a, c->id, what);
        if (c->out_fd >= 0)
            close(c->out_fd);
        memset(c, 0, sizeof *c);
    }
}
