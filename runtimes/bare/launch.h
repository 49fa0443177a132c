/* Everything a host process of a service needs, decided before fork: the
 * environment, argv, user, working directory, log files and rlimits, ready
 * to hand to orch_spawn. Shared by the service itself and by its
 * HEALTHCHECK/STOP/RELOAD commands. */
#ifndef ORCH_BARE_LAUNCH_H
#define ORCH_BARE_LAUNCH_H

#include <stdbool.h>

#include "bare/user.h"
#include "runtime/runtime.h"
#include "bare/spawn.h"

#define ORCH_BARE_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

typedef struct orch_bare_launch {
    orch_spawn_opts opts; /* points into the fields below */
    const char *argv[4];  /* /bin/sh -c COMMAND */
    char **words;         /* COMMAND's words when orchd execs it itself, else NULL */
    char *words_storage;
    char **envp;
    char *workdir;
    orch_bare_user user;
    int out_fd, err_fd; /* -1: /dev/null; equal when one file takes both */
} orch_bare_launch;

/* Prepares `/bin/sh -c command` for svc; a command the shell would only
 * split and exec (bare/simple_command.h) is exec'd directly, with PWD set
 * as the shell would set it, and /bin/sh -c command as the fallback when
 * that exec fails (so a missing or non-executable command fails exactly as
 * under the shell). With strict_logs an unopenable
 * STDOUT/STDERR is an error; without, that stream goes to /dev/null (for
 * helper commands, which must not fail because of a log). On error returns
 * -1 with *err ("service NAME: ..."; the code of the errno behind it, so
 * EMFILE is transient). */
int orch_bare_launch_prepare(const orch_service *svc, const orch_env_ctx *ctx,
                             const char *command, bool strict_logs, orch_bare_launch *l,
                             orch_error **err);
void orch_bare_launch_free(orch_bare_launch *l);

/* Only the environment a start of svc would get now (l->envp, with the user
 * it is resolved for in l->user): no log is opened and nothing else is
 * resolved (ops->identity). Free with orch_bare_launch_free. */
int orch_bare_launch_env(const orch_service *svc, const orch_env_ctx *ctx, orch_bare_launch *l,
                         orch_error **err);

/* Whether l writes to the service's own log (no STDOUT or no STDERR; not
 * one descriptor shared between it and a named file). */
bool orch_bare_launch_writes_own_log(const orch_bare_launch *l, const orch_service *svc);
/* Sends what l would write to the own log into fd instead (its log relay's
 * pipe), taking fd over; only when orch_bare_launch_writes_own_log. */
void orch_bare_launch_use_log_pipe(orch_bare_launch *l, const orch_service *svc, int fd);

/* Turns an orch_spawn failure into a message naming the service and what in
 * its definition caused it (WORKDIR, USER, LIMIT_*). */
orch_error *orch_bare_spawn_error(const orch_service *svc, const orch_bare_launch *l,
                                  const char *stage, int err);

/* What that message needs, kept past the launch for a failure the child
 * reports later (orch_spawn_begin): the same text and code as
 * orch_bare_spawn_error gives for svc and l. */
typedef struct orch_bare_spawn_what {
    const char *name, *user, *workdir; /* owned when saved */
    const char *argv0;
    uint64_t limit_nofile, limit_nproc;
} orch_bare_spawn_what;
void orch_bare_spawn_what_save(orch_bare_spawn_what *w, const orch_service *svc,
                               const orch_bare_launch *l);
void orch_bare_spawn_what_free(orch_bare_spawn_what *w);
orch_error *orch_bare_spawn_what_error(const orch_bare_spawn_what *w, const char *stage, int err);

#endif
