/* The one SIGCHLD reaper. State is process-wide (there is one SIGCHLD):
 *  - watches: pid -> (cb, owner), a sorted array (binary search);
 *  - unclaimed: a small ring of recent exits nobody watched yet, so a watch
 *    that comes late still gets its exit;
 *  - pending: exits found by orch_reaper_watch, delivered from an idle
 *    callback so cb never runs inside orch_reaper_watch. */
#include "runtime/reaper.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/xalloc.h"

#define UNCLAIMED_MAX 64
/* An unclaimed exit older than this is dropped: by then its pid may belong
 * to a new process, whose watch must not get the old status. */
#define UNCLAIMED_TTL_MS 10000

typedef struct watch {
    pid_t pid;
    orch_reap_cb cb;
    void *owner;
} watch;

typedef struct exit_record {
    pid_t pid;
    int status;
    uint64_t when; /* uv_now */
} exit_record;

typedef struct delivery {
    pid_t pid;
    int status;
    orch_reap_cb cb;
    void *owner;
} delivery;

static struct {
    uv_loop_t *loop;
    uv_signal_t sigchld;
    uv_idle_t deliver;
    bool active;

    watch *watches;
    size_t n_watches, cap_watches;

    exit_record unclaimed[UNCLAIMED_MAX];
    size_t n_unclaimed; /* ring: oldest at index 0 after compaction */

    delivery *pending;
    size_t n_pending, cap_pending;
} R;

/* Index of pid in watches, or where it would be inserted (*found false). */
static size_t watch_find(pid_t pid, bool *found)
{
    size_t lo = 0, hi = R.n_watches;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (R.watches[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < R.n_watches && R.watches[lo].pid == pid;
    return lo;
}

static void watch_remove_at(size_t i)
{
    memmove(&R.watches[i], &R.watches[i + 1], (R.n_watches - i - 1) * sizeof *R.watches);
    R.n_watches--;
}

static uint64_t now_ms(void)
{
    return R.loop ? uv_now(R.loop) : 0;
}

static void unclaimed_remove_at(size_t i)
{
    memmove(&R.unclaimed[i], &R.unclaimed[i + 1],
            (R.n_unclaimed - i - 1) * sizeof *R.unclaimed);
    R.n_unclaimed--;
}

static void unclaimed_add(pid_t pid, int status)
{
    if (R.n_unclaimed == UNCLAIMED_MAX)
        unclaimed_remove_at(0); /* forget the oldest */
    R.unclaimed[R.n_unclaimed++] = (exit_record){pid, status, now_ms()};
}

/* Takes pid's unclaimed exit if there is a fresh one. */
static bool unclaimed_take(pid_t pid, int *status)
{
    uint64_t now = now_ms();
    for (size_t i = R.n_unclaimed; i-- > 0;) {
        if (R.unclaimed[i].pid != pid)
            continue;
        bool fresh = now - R.unclaimed[i].when <= UNCLAIMED_TTL_MS;
        *status = R.unclaimed[i].status;
        unclaimed_remove_at(i);
        return fresh;
    }
    return false;
}

static void pending_remove_at(size_t i)
{
    memmove(&R.pending[i], &R.pending[i + 1], (R.n_pending - i - 1) * sizeof *R.pending);
    R.n_pending--;
}

static void on_deliver(uv_idle_t *h)
{
    /* One at a time from the front: a cb may watch or unwatch others. */
    while (R.n_pending > 0) {
        delivery d = R.pending[0];
        pending_remove_at(0);
        d.cb(d.owner, d.pid, d.status);
        if (!R.active)
            return; /* the cb closed the reaper */
    }
    uv_idle_stop(h);
}

static void dispatch(pid_t pid, int status)
{
    bool found;
    size_t i = watch_find(pid, &found);
    if (!found) {
        unclaimed_add(pid, status);
        return;
    }
    watch w = R.watches[i];
    watch_remove_at(i);
    w.cb(w.owner, pid, status);
}

void orch_reaper_reap(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            dispatch(pid, status);
            continue;
        }
        if (pid < 0 && errno == EINTR)
            continue;
        return; /* 0: children left but none exited; ECHILD: none left */
    }
}

static void on_sigchld(uv_signal_t *h, int signum)
{
    orch_reaper_reap();
}

int orch_reaper_init(uv_loop_t *loop)
{
    if (R.active)
        return -EALREADY;
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return -errno;
    int r = uv_signal_init(loop, &R.sigchld);
    if (r < 0)
        return r;
    uv_idle_init(loop, &R.deliver);
    r = uv_signal_start(&R.sigchld, on_sigchld, SIGCHLD);
    if (r < 0) {
        uv_close((uv_handle_t *)&R.sigchld, NULL);
        uv_close((uv_handle_t *)&R.deliver, NULL);
        return r;
    }
    R.loop = loop;
    R.active = true;
    /* Children that exited before the handler existed sent a SIGCHLD nobody
     * saw: collect them now. */
    orch_reaper_reap();
    return 0;
}

uv_loop_t *orch_reaper_loop(void)
{
    return R.loop;
}

void orch_reaper_close(void)
{
    if (!R.active)
        return;
    uv_close((uv_handle_t *)&R.sigchld, NULL);
    uv_close((uv_handle_t *)&R.deliver, NULL);
    free(R.watches);
    free(R.pending);
    /* The handles stay as they are until the loop finishes closing them. */
    R.loop = NULL;
    R.active = false;
    R.watches = NULL;
    R.n_watches = R.cap_watches = 0;
    R.pending = NULL;
    R.n_pending = R.cap_pending = 0;
    R.n_unclaimed = 0;
}

void orch_reaper_watch(pid_t pid, orch_reap_cb cb, void *owner)
{
    int status;
    if (R.active && unclaimed_take(pid, &status)) {
        xgrow((void **)&R.pending, &R.cap_pending, R.n_pending + 1, sizeof *R.pending);
        R.pending[R.n_pending++] = (delivery){pid, status, cb, owner};
        uv_idle_start(&R.deliver, on_deliver);
        return;
    }
    bool found;
    size_t i = watch_find(pid, &found);
    if (!found) {
        xgrow((void **)&R.watches, &R.cap_watches, R.n_watches + 1, sizeof *R.watches);
        memmove(&R.watches[i + 1], &R.watches[i], (R.n_watches - i) * sizeof *R.watches);
        R.n_watches++;
    }
    R.watches[i] = (watch){pid, cb, owner};
}

void orch_reaper_unwatch(pid_t pid)
{
    bool found;
    size_t i = watch_find(pid, &found);
    if (found)
        watch_remove_at(i);
    for (size_t j = R.n_pending; j-- > 0;)
        if (R.pending[j].pid == pid)
            pending_remove_at(j);
}
