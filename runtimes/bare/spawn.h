/* Starting a host process safely from a (possibly threaded) process: every
 * decision is made before fork (users, groups, env, paths, cgroup dir), the
 * child only makes async-signal-safe calls, and exec failure comes back
 * through a close-on-exec pipe as an errno (docs/ARCHITECTURE.md, "fork in a threaded
 * process"). */
#ifndef ORCH_SPAWN_H
#define ORCH_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct orch_spawn_opts {
    const char *const *argv; /* argv[0] is looked up in PATH of envp if not absolute */
    const char *const *envp; /* complete environment, NULL-terminated */
    const char *workdir;     /* NULL: inherit */
    bool set_ids;            /* switch to uid/gid/groups */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t n_groups;
    uint64_t limit_nofile; /* 0: inherit */
    uint64_t limit_nproc;  /* 0: inherit */
    int stdin_fd;          /* -1: /dev/null */
    int stdout_fd;         /* -1: /dev/null */
    int stderr_fd;         /* -1: /dev/null */
    /* A cgroup2 directory to start the child in; NULL: none. The child is
     * created there by clone3(CLONE_INTO_CGROUP), which migrates nothing and
     * so avoids what a write to cgroup.procs costs (the cgroup core's global
     * lock, whose first writer after a quiet spell waits out an RCU grace
     * period, several ms). Where the kernel cannot do that, the child joins
     * by writing its pid to cgroup.procs instead. */
    const char *cgroup_into;
    /* cgroup.procs files to join, NULL-terminated; NULL: none. The child
     * writes its own pid into each. */
    const char *const *cgroup_procs;
    bool new_session;         /* setsid(): own session and process group */
    /* When argv[0] cannot be executed (any errno: not found, not
     * executable, no #! line...), exec this instead (fallback_argv[0] an
     * absolute path), with the same envp; NULL: report the failure. */
    const char *const *fallback_argv;
} orch_spawn_opts;

/* Forks and execs. Returns the child's pid, or -1 with errno set and *stage
 * naming what failed ("exec", "chdir", "setuid", "rlimit", "cgroup", "fork",
 * "open"...). The child is not registered with the reaper: the caller calls
 * orch_reaper_watch right after. */
pid_t orch_spawn(const orch_spawn_opts *o, const char **stage);

/* orch_spawn without the wait: returns the child's pid right after fork and
 * in *report_fd the read end of its exec-report pipe (non-blocking,
 * close-on-exec), which becomes readable (data or EOF) once the child has
 * exec'd or failed; or -1 with errno and *stage ("pipe", "fork") when no
 * child was made. The caller registers the pid with the reaper before it
 * next reaps (so a failed child is no zombie), reads the report with
 * orch_spawn_report and closes report_fd. */
pid_t orch_spawn_begin(const orch_spawn_opts *o, int *report_fd, const char **stage);
/* 1: nothing reported yet (call again when readable); 0: execve succeeded;
 * -1: the child failed before or at execve and exits: *stage and *err say
 * where and why, as orch_spawn's stage and errno. */
int orch_spawn_report(int report_fd, const char **stage, int *err);
/* For a report_fd the caller closes before orch_spawn_report gave 0 or -1
 * (it killed the child instead): what the child may still read is kept
 * until orch_spawn_sweep finds it exited. */
void orch_spawn_forget(int report_fd);
/* Frees what children that have exited no longer need (each child may
 * share orchd's memory until its execve: see spawn.c). Called after a
 * child of orch_spawn_begin was reaped; cheap when there is nothing. */
void orch_spawn_sweep(void);
/* How many children's copies of their options are held (for tests). */
size_t orch_spawn_images_held(void);

#endif
