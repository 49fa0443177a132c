/* A bare service's own log goes through a relay process (docs/LOGS.md):
 * the service writes into a pipe, `orchd-log-relay --stdin` (a small static
 * program, src/logrelay/) stamps each line with the time and appends it to
 * the file, rotating it by size. The relay is started like the service,
 * through orch_spawn_begin, without waiting for its exec (its report is
 * read once the service's own has come), and in a burst of starts only
 * after the burst (see defer below); it stays in the daemon's cgroup
 * (not the service's: it does not count against MEMORY/TASKS_MAX, and
 * killing the service's cgroup does not cut its output short) and in a
 * session of its own. It ends by itself when the pipe's last writer is
 * gone; at release, once the service's cgroup is empty, it is also sent
 * SIGTERM a second later if still there, on which it drains the pipe and
 * exits (so a writer that escaped the cgroup cannot keep it alive). After a crash of orchd it drains on;
 * the run record names it (pid and pipe inode) so that the adopting daemon
 * can end it the same way. */
#ifndef ORCH_BARE_LOG_RELAY_H
#define ORCH_BARE_LOG_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#include "runtime/runtime.h"

/* The relay program (exe: orchd-log-relay), and what to exec when it
 * cannot be (fallback: orchd itself, run as `fallback log-relay ...`);
 * either may be NULL. Until the daemon sets one (unit tests), no relay
 * runs and services write into their log files directly. */
void orch_bare_log_relay_program(const char *exe, const char *fallback);
bool orch_bare_log_relay_enabled(void);

typedef struct orch_bare_relay orch_bare_relay;

/* Starts a relay draining a new pipe into path (the service's own log,
 * which the relay opens refusing a symlink). Returns the relay, with the
 * pipe's write end (close-on-exec) in *wfd; or NULL with *why (malloc'ed)
 * when no relay could start. Does not wait for the relay's exec. */
orch_bare_relay *orch_bare_relay_begin(uv_loop_t *loop, const char *service, const char *path,
                                       const orch_env_ctx *ctx, bool defer, int *wfd, char **why);
/* defer: the relay is only exec'd by orch_bare_relay_run_deferred, which the
 * runtime calls once no exec report of a service is outstanding (after a
 * burst of starts), so that relays do not delay the services' starts;
 * meanwhile the daemon holds the pipe's read end and the pipe buffers what
 * the service writes (64 KiB, then its writes wait). cb runs once it is
 * spawned (to name it in the run record); an ended relay is not. */
bool orch_bare_relay_any_deferred(void);
void orch_bare_relay_run_deferred(size_t max); /* at most max of them, oldest first */
void orch_bare_relay_on_spawned(orch_bare_relay *r, void (*cb)(void *arg), void *arg);
/* The relay's exec report, read without waiting (the service's own has
 * come: the relay, started first, has almost always exec'd by then); a
 * report still to come is watched on the loop. A relay that failed is said
 * in the daemon's log. */
void orch_bare_relay_settle(orch_bare_relay *r);
/* Its pid and the inode of its pipe, for the run record. */
pid_t orch_bare_relay_pid(const orch_bare_relay *r);
unsigned long long orch_bare_relay_pipe_ino(const orch_bare_relay *r);
/* The service is gone: the relay drains and ends at end of file; if it is
 * still there a second later (a process outside the cgroup holds the
 * pipe), it is sent SIGTERM (it drains and exits). r is freed once it has
 * been reaped. */
void orch_bare_relay_end(orch_bare_relay *r);
/* The same for a relay a run record names (an adopted service's): only
 * when that pid still reads from that pipe (its stdin). */
void orch_bare_relay_end_adopted(pid_t pid, unsigned long long pipe_ino);

#endif
