/* Helpers for unit tests that run real processes: temp dirs removed at the
 * end, a registry of pids to SIGKILL at the end whatever happened, and
 * running a libuv loop until a flag is set or a deadline passes. */
#ifndef ORCH_TEST_PROC_HELPERS_H
#define ORCH_TEST_PROC_HELPERS_H

#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/fileutil.h"

/* ---- pids to kill at the end ---- */

static pid_t test_pids[256];
static size_t test_n_pids;

static inline void test_track_pid(pid_t pid)
{
    if (pid > 0 && test_n_pids < sizeof test_pids / sizeof *test_pids)
        test_pids[test_n_pids++] = pid;
}

static inline pid_t test_proc_ppid(pid_t pid);

/* SIGKILLs the tracked pids that are still our children (a pid already
 * reaped may belong to someone else by now), then reaps every child. */
static inline void test_kill_tracked(void)
{
    for (size_t i = 0; i < test_n_pids; i++)
        if (test_proc_ppid(test_pids[i]) == getpid())
            kill(test_pids[i], SIGKILL);
    for (int waited = 0; waited < 5000; waited += 10) {
        pid_t r = waitpid(-1, NULL, WNOHANG);
        if (r > 0)
            continue;
        if (r < 0)
            break; /* no children left */
        usleep(10000);
    }
}

/* ---- files ---- */

/* The whole file, NUL-terminated (malloc'ed), or NULL. Not inlined: GCC 12
 * then mistakes pointers into the result for pointers to the local. */
__attribute__((noinline, unused)) static char *test_read(const char *path)
{
    char *text = NULL;
    if (orch_read_file(path, &text, NULL) < 0)
        return NULL;
    return text;
}

static inline void test_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static inline char *test_mkdtemp(void)
{
    char tmpl[] = "/tmp/orchd-test-XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        exit(1);
    }
    return strdup(tmpl);
}

static inline int test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static inline void test_rm_rf(const char *dir)
{
    if (dir)
        nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- processes ---- */

/* The state letter from /proc/PID/stat; 0 when the pid does not exist. */
static inline char test_proc_state(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *text = test_read(path);
    if (!text)
        return 0;
    char *paren = strrchr(text, ')');
    char state = paren && paren[1] == ' ' ? paren[2] : '?';
    free(text);
    return state;
}

static inline bool test_proc_gone(pid_t pid)
{
    char s = test_proc_state(pid);
    return s == 0; /* a zombie still has /proc/PID */
}

/* The parent pid from /proc/PID/stat, or -1. */
static inline pid_t test_proc_ppid(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *text = test_read(path);
    if (!text)
        return -1;
    char *paren = strrchr(text, ')');
    int ppid = -1;
    char state;
    if (paren)
        sscanf(paren + 1, " %c %d", &state, &ppid);
    free(text);
    return ppid;
}

/* ---- the loop ---- */

static inline void test_on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Runs loop until *flag (re-evaluated after every iteration) or ms pass.
 * Returns whether the flag was set. */
static inline bool test_run_until(uv_loop_t *loop, const volatile bool *flag, unsigned ms)
{
    bool expired = false;
    uv_timer_t deadline;
    uv_timer_init(loop, &deadline);
    deadline.data = &expired;
    uv_timer_start(&deadline, test_on_deadline, ms, 0);
    while (!*flag && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag;
}

static inline void test_on_poll_tick(uv_timer_t *t)
{
}

/* Runs the loop, checking cond(arg) every 20 ms, for at most ms. */
static inline bool test_run_until_cond(uv_loop_t *loop, bool (*cond)(void *arg), void *arg, unsigned ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, test_on_poll_tick, 20, 20);
    uv_update_time(loop);
    uint64_t deadline = uv_now(loop) + ms;
    bool ok;
    while (!(ok = cond(arg)) && uv_now(loop) < deadline)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

#endif
