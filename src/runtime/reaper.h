/* The one SIGCHLD reaper (docs/ARCHITECTURE.md): a uv_signal handler that loops
 * waitpid(-1, WNOHANG) and hands each exit to whoever registered that pid.
 * Unknown pids (orphans re-parented to us as PID 1 or subreaper) are just
 * reaped. Never mix with uv_spawn, which reaps its own children. */
#ifndef ORCH_REAPER_H
#define ORCH_REAPER_H

#include <sys/types.h>
#include <uv.h>

/* status is the raw wait status (WIFEXITED/WEXITSTATUS/WTERMSIG apply). */
typedef void (*orch_reap_cb)(void *owner, pid_t pid, int status);

/* Installs the handler on loop and makes this process a child subreaper
 * (prctl PR_SET_CHILD_SUBREAPER) unless it is PID 1. */
int orch_reaper_init(uv_loop_t *loop);
/* The loop the reaper runs on (NULL before init / after close). */
uv_loop_t *orch_reaper_loop(void);
/* Closes the signal handle so the loop can end. */
void orch_reaper_close(void);
/* Registers pid: cb runs once, on the loop thread, when it exits. If the pid
 * already exited and was reaped before watch was called, cb still runs (the
 * reaper remembers recent unclaimed exits briefly for exactly this race). */
void orch_reaper_watch(pid_t pid, orch_reap_cb cb, void *owner);
/* Forgets a registration (the owner is going away); the exit is still reaped. */
void orch_reaper_unwatch(pid_t pid);
/* Reaps now (also called from the signal callback); exposed for PID-1 mode. */
void orch_reaper_reap(void);

#endif
