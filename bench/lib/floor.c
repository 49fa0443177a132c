/* The machine's floor for the host benchmark, with no supervisor logic.
 * Like the s6/runit run scripts, every service goes through /bin/sh: the
 * child execs `/bin/sh -c "exec sleep M"` (orchd, since issue 15, execs such
 * a plain line itself: one exec less than this floor).
 *
 *   floor start N MARK    fork+exec `sleep MARK+i` for i = 0..N-1, waiting
 *                         for each exec (a close-on-exec pipe, as orchd
 *                         does), prints the seconds taken, then waits for
 *                         SIGTERM and kills its children;
 *   floor respawn MARK    runs `sleep MARK` and restarts it at once
 *                         whenever it dies (the restart floor).
 *
 * Built by bench/run with cc -O2; not part of the CMake build. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t spawn_sleep(long arg, int wait_exec)
{
    char buf[48];
    snprintf(buf, sizeof buf, "exec sleep %ld", arg);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        execl("/bin/sh", "sh", "-c", buf, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    if (wait_exec) {
        char c;
        while (read(p[0], &c, 1) < 0)
            ;
    }
    close(p[0]);
    return pid;
}

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "start") == 0) {
        long n = atol(argv[2]), mark = atol(argv[3]);
        pid_t *pids = calloc((size_t)n, sizeof *pids);
        struct sigaction sa = {.sa_handler = on_term};
        sigaction(SIGTERM, &sa, NULL);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (long i = 0; i < n; i++)
            pids[i] = spawn_sleep(mark + i, 1);
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("%.6f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
        fflush(stdout);
        while (!stop)
            pause();
        for (long i = 0; i < n; i++)
            if (pids[i] > 0)
                kill(pids[i], SIGKILL);
        for (long i = 0; i < n; i++)
            if (pids[i] > 0)
                waitpid(pids[i], NULL, 0);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "respawn") == 0) {
        long mark = atol(argv[2]);
        signal(SIGTERM, SIG_DFL);
        for (;;) {
            pid_t pid = spawn_sleep(mark, 0);
            if (pid < 0)
                return 1;
            int st;
            while (waitpid(pid, &st, 0) < 0)
                ;
        }
    }
    fprintf(stderr, "usage: floor start N MARK | floor respawn MARK\n");
    return 2;
}
