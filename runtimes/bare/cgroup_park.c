/* Parked cgroups (bare/cgroup_park.h): a FIFO of empty cgroups, oldest
 * first, and one timer for the oldest one's expiry. The list is short
 * (services released in the last few seconds, at most ORCH_CGROUP_PARK_MAX),
 * so a start finds its own by a linear search. */
#include "bare/cgroup_park.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define RETRY_MS 100   /* a parked cgroup that someone put a process into */
#define MAX_TRIES 20

typedef struct parked {
    orch_cgroup cg;
    uint64_t until; /* uv_now() at which it goes */
    int tries;
    struct parked *prev, *next;
} parked;

static parked *head, *tail;
static size_t n_parked;
static uv_timer_t *timer;
static bool flushed; /* the daemon is exiting: nothing is parked any more */

static void unlink_entry(parked *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        tail = p->prev;
    p->prev = p->next = NULL;
    n_parked--;
}

static void append(parked *p)
{
    p->prev = tail;
    p->next = NULL;
    if (tail)
        tail->next = p;
    else
        head = p;
    tail = p;
    n_parked++;
}

static void drop(parked *p)
{
    orch_cgroup_free(&p->cg);
    free(p);
}

/* Removes p's directories; a process found in them (only root can put one
 * there) is killed. Returns 0 when they are gone. */
static int remove_parked(parked *p)
{
    int r = orch_cgroup_remove(&p->cg);
    if (r == -EBUSY) {
        orch_cgroup_kill_all(&p->cg, SIGKILL);
        r = orch_cgroup_remove(&p->cg);
    }
    return r;
}

/* Removes p's directories now, says so when they cannot go, frees p. */
static void remove_and_drop(parked *p)
{
    int r = remove_parked(p);
    if (r < 0)
        fprintf(stderr, "orchd: cannot remove cgroup %s: %s\n", p->cg.dir[0], strerror(-r));
    drop(p);
}

static void on_timer(uv_timer_t *t);

static void arm(void)
{
    if (!timer)
        return;
    if (!head) {
        uv_timer_stop(timer); /* an idle daemon has no timer running */
        return;
    }
    uint64_t now = uv_now(timer->loop);
    uv_timer_start(timer, on_timer, head->until > now ? head->until - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    uint64_t now = uv_now(t->loop);
    while (head && head->until <= now) {
        parked *p = head;
        unlink_entry(p);
        int r = remove_parked(p);
        if (r == -EBUSY && ++p->tries < MAX_TRIES) {
            p->until = now + RETRY_MS; /* its process is still dying */
            append(p);
            continue;
        }
        if (r < 0)
            fprintf(stderr, "orchd: cannot remove cgroup %s: %s\n", p->cg.dir[0], strerror(-r));
        drop(p);
    }
    arm();
}

void orch_cgroup_park(uv_loop_t *loop, orch_cgroup *cg)
{
    if (cg->n == 0)
        return;
    parked *p = xcalloc(1, sizeof *p);
    p->cg = *cg;
    memset(cg, 0, sizeof *cg);
    if (flushed) {
        remove_and_drop(p);
        return;
    }
    if (!timer) {
        timer = xmalloc(sizeof *timer);
        uv_timer_init(loop, timer);
    }
    if (n_parked >= ORCH_CGROUP_PARK_MAX) {
        parked *oldest = head;
        unlink_entry(oldest);
        remove_and_drop(oldest);
    }
    p->until = uv_now(timer->loop) + ORCH_CGROUP_PARK_MS;
    append(p);
    if (p == head)
        arm();
}

static bool has_dir(const orch_cgroup *cg, const char *dir)
{
    for (size_t i = 0; i < cg->n; i++)
        if (strcmp(cg->dir[i], dir) == 0)
            return true;
    return false;
}

bool orch_cgroup_unpark(const orch_cgroup *cg)
{
    if (cg->n == 0)
        return false;
    parked *p = head;
    while (p && strcmp(p->cg.dir[0], cg->dir[0]) != 0)
        p = p->next;
    if (!p)
        return false;
    bool was_head = p == head;
    unlink_entry(p);
    /* Limit directories of the old spec that this one does not use; they are
     * empty (it was parked empty), so they go at once. */
    for (size_t i = 1; i < p->cg.n; i++) {
        if (has_dir(cg, p->cg.dir[i]))
            continue;
        orch_cgroup one = {.n = 1, .dir = {p->cg.dir[i]}, .procs = {p->cg.procs[i]}};
        orch_cgroup_remove(&one);
    }
    drop(p);
    if (was_head)
        arm();
    return true;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

void orch_cgroup_park_flush(void)
{
    flushed = true;
    while (head) {
        parked *p = head;
        unlink_entry(p);
        remove_and_drop(p);
    }
    if (timer) {
        uv_timer_stop(timer);
        uv_close((uv_handle_t *)timer, on_timer_closed);
        timer = NULL;
    }
}

size_t orch_cgroup_parked(void)
{
    return n_parked;
}
