/* orchd init: process 1 of a machine (or of a pid namespace). It stays small:
 * it sets the machine up, reaps every orphan, runs the supervising daemon
 * (`orchd daemon`, the same binary) as its child and restarts it if it dies,
 * has the Orchfile grown into it, and on SIGTERM/SIGUSR2 (power off), SIGUSR1
 * (halt) or SIGINT (ctrl-alt-del: reboot) stops everything and calls
 * reboot(2). It never exits on the machine; see docs/PID1.md. */
#ifndef ORCH_INIT_H
#define ORCH_INIT_H

#include <stdbool.h>

#define ORCH_INIT_DEFAULT_ORCHFILE "/etc/orchd/Orchfile"

typedef struct orch_init_opts {
    const char *orchfile;  /* NULL: kernel cmdline orchd.orchfile=, else the default */
    const char *state_dir; /* NULL: kernel cmdline orchd.state_dir=, else /run/orchd */
    const char *hostname;  /* NULL: kernel cmdline orchd.hostname=, else /etc/hostname */
    const char *cmdline;   /* the kernel command line file; NULL: /proc/cmdline */
    bool setup;            /* mounts, hostname, loopback, unmounting at the end */
} orch_init_opts;

/* Runs process 1. Returns (an exit code) only when it is not the machine's
 * init (a pid namespace) after the shutdown, or when not process 1 at all. */
int orch_init_run(const orch_init_opts *o);

#endif
