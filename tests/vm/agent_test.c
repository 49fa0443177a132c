/* The guest agent (src/init/vm_agent.c) without a VM: its port is one end
 * of a socketpair, the host is this test. Proves: an exec answers its raw
 * wait status; a timeout kills the command's process group and answers
 * timed_out; a cancelled command is killed and never answered; an
 * overlong request line and a line that is not JSON are dropped without
 * disturbing the next one; the 17th command at once is refused; a host
 * that hangs up does not make process 1 spin. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "init/vm_agent.h"

void init_log(const char *fmt, ...); /* src/init/machine.h; quiet here */
void init_log(const char *fmt, ...)
{
    (void)fmt;
}

static pid_t spawn(const char *command, int out_fd)
{
    pid_t p = fork();
    if (p == 0) {
        setsid();
        if (out_fd >= 0)
            dup2(out_fd, 1);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    return p;
}

static int64_t ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static orch_vm_agent A;
static int host = -1;
static char got[65536];
static size_t got_len;

/* Runs process 1's loop for up to max_ms, or until want appears in what the
 * host received. Returns how many loop turns it took. */
static int run(int max_ms, const char *want)
{
    int64_t end = ms() + max_ms;
    int turns = 0;
    while (ms() < end) {
        struct pollfd pf;
        int t = orch_vm_agent_poll(&A, &pf, ms());
        if (t < 0 || t > 50)
            t = 50; /* the real one also wakes on SIGCHLD */
        poll(&pf, 1, t);
        orch_vm_agent_work(&A, pf.revents, ms());
        int st;
        pid_t p;
        while ((p = waitpid(-1, &st, WNOHANG)) > 0)
            orch_vm_agent_reaped(&A, p, st);
        ssize_t n;
        while (host >= 0 && got_len < sizeof got - 1 &&
               (n = read(host, got + got_len, sizeof got - 1 - got_len)) > 0)
            got_len += (size_t)n;
        got[got_len] = '\0';
        turns++;
        if (want && strstr(got, want))
            break;
    }
    return turns;
}

static void send_text(const char *s)
{
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = write(host, s + off, len - off);
        if (n > 0)
            off += (size_t)n;
        else
            run(20, NULL); /* let the agent drain the socket */
    }
}

int main(void)
{
    /* an answer written after the host hung up (the last section) is
     * EPIPE here; process 1 is immune to SIGPIPE (no handler), this test
     * is not (it killed the test now and then, under ASan more often) */
    signal(SIGPIPE, SIG_IGN);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    orch_vm_agent_init(&A, spawn);
    if (A.fd >= 0)
        close(A.fd); /* a host with a real orchd.agent port: not ours */
    A.fd = sv[0];
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    host = sv[1];
    fcntl(host, F_SETFL, O_NONBLOCK);

    send_text("{\"id\":1,\"exec\":\"exit 3\",\"timeout_ms\":0}\n");
    run(5000, "{\"id\":1,");
    CHECK(strstr(got, "{\"id\":1,\"status\":768}\n") != NULL);

    int64_t t0 = ms();
    send_text("{\"id\":2,\"exec\":\"sleep 30; echo not-killed\",\"timeout_ms\":200}\n");
    run(5000, "{\"id\":2,");
    CHECK(strstr(got, "{\"id\":2,\"timed_out\":true}\n") != NULL);
    CHECK(ms() - t0 < 3000);

    /* an overlong line, then garbage: both dropped; the next one works */
    char *big = malloc(ORCH_VM_AGENT_LINE + 100);
    memset(big, 'x', ORCH_VM_AGENT_LINE + 98);
    memcpy(big, "{\"id\":9,\"exec\":\"", 16);
    big[ORCH_VM_AGENT_LINE + 98] = '\n';
    big[ORCH_VM_AGENT_LINE + 99] = '\0';
    send_text(big);
    free(big);
    send_text("not json at all\n{\"exec\":\"true\"}\n{\"id\":3,\"exec\":\"true\"}\n");
    run(5000, "{\"id\":3,");
    CHECK(strstr(got, "{\"id\":3,\"status\":0}\n") != NULL);
    CHECK(strstr(got, "\"id\":9") == NULL);

    /* capture: the status and the command's stdout, JSON-escaped */
    send_text("{\"id\":5,\"exec\":\"printf 'hi \\\"q\\\"\\\\n'; exit 2\",\"capture\":true}\n");
    run(5000, "{\"id\":5,");
    CHECK(strstr(got, "{\"id\":5,\"status\":512,\"output\":\"hi \\\"q\\\"\\n\",\"truncated\":false}\n") != NULL);
    /* more than ORCH_VM_AGENT_CAPTURE bytes: the first ones, marked truncated */
    got_len = 0;
    send_text("{\"id\":6,\"exec\":\"head -c 40000 /dev/zero | tr '\\\\0' a\",\"capture\":true}\n");
    run(5000, "\"truncated\":");
    char *o = strstr(got, "{\"id\":6,\"status\":0,\"output\":\"");
    CHECK(o != NULL);
    if (o) {
        o += strlen("{\"id\":6,\"status\":0,\"output\":\"");
        CHECK(strspn(o, "a") == ORCH_VM_AGENT_CAPTURE);
        CHECK(strncmp(o + ORCH_VM_AGENT_CAPTURE, "\",\"truncated\":true}\n", 20) == 0);
    }
    /* output that is not UTF-8: an error, not broken JSON */
    got_len = 0;
    send_text("{\"id\":7,\"exec\":\"printf '\\\\377'\",\"capture\":true}\n");
    run(5000, "{\"id\":7,");
    CHECK(strstr(got, "{\"id\":7,\"error\":") != NULL);

    /* stop: a->stop for process 1, no command run, and no answer until
     * process 1 says it took it (its log line goes first) */
    got_len = 0;
    CHECK(!A.stop);
    send_text("{\"id\":8,\"stop\":true}\n");
    run(300, NULL);
    CHECK(A.stop);
    CHECK(strstr(got, "\"id\":8") == NULL);
    orch_vm_agent_stop_taken(&A);
    CHECK(!A.stop);
    run(2000, "{\"id\":8,");
    CHECK(strstr(got, "{\"id\":8,\"stopping\":true}\n") != NULL);
    got_len = 0;
    orch_vm_agent_stop_taken(&A); /* answered once only */
    run(200, NULL);
    CHECK(strstr(got, "\"id\":8") == NULL);
    for (int i = 0; i < ORCH_VM_AGENT_MAX; i++)
        CHECK(A.cmd[i].pid == 0);

    /* cancel: killed, never answered */
    send_text("{\"id\":4,\"exec\":\"sleep 30\"}\n");
    run(300, NULL);
    pid_t victim = 0;
    for (int i = 0; i < ORCH_VM_AGENT_MAX; i++)
        if (A.cmd[i].id == 4)
            victim = A.cmd[i].pid;
    CHECK(victim > 0);
    send_text("{\"id\":4,\"cancel\":true}\n");
    run(1500, NULL);
    CHECK(strstr(got, "\"id\":4") == NULL);
    CHECK(victim > 0 && kill(victim, 0) != 0 && errno == ESRCH);

    /* 16 at once; the 17th is refused */
    char line[128];
    for (int i = 0; i < ORCH_VM_AGENT_MAX + 1; i++) {
        snprintf(line, sizeof line, "{\"id\":%d,\"exec\":\"sleep 1\",\"timeout_ms\":5000}\n", 100 + i);
        send_text(line);
    }
    snprintf(line, sizeof line, "{\"id\":%d,\"error\":", 100 + ORCH_VM_AGENT_MAX);
    run(3000, line);
    CHECK(strstr(got, line) != NULL);
    run(4000, "{\"id\":115,\"status\":0}");
    CHECK(strstr(got, "{\"id\":100,\"status\":0}") != NULL);

    /* the host hangs up: read() says 0 and process 1 must not spin */
    close(host);
    host = -1;
    int turns = run(1000, NULL);
    CHECK(turns < 30);

    close(sv[0]);
    return check_done();
}
