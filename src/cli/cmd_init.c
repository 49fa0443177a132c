/* orchd init: run as process 1 (src/init, docs/PID1.md). main.c also lands
 * here, without options, when process 1 is started as /init or /sbin/init or
 * with no arguments at all. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "init/init.h"
#include "init/vm_guest.h"

static void usage(FILE *f)
{
    fputs("usage: orchd init [options]\n"
          "Run as process 1: set the machine up, supervise the Orchfile, power off on\n"
          "SIGTERM/SIGUSR2, halt on SIGUSR1, reboot on SIGINT (ctrl-alt-del).\n"
          "  --orchfile FILE   the Orchfile (kernel cmdline orchd.orchfile=, default "
          ORCH_INIT_DEFAULT_ORCHFILE ")\n"
          "  --state-dir DIR   state, socket and logs (orchd.state_dir=, default /run/orchd)\n"
          "  --hostname NAME   set the hostname (orchd.hostname=)\n"
          "  --cmdline FILE    read the kernel command line from FILE (default /proc/cmdline)\n"
          "  --no-mount        no machine setup: no mounts, hostname, loopback or unmounting\n"
          "                    (process 1 of a pid namespace, e.g. under unshare)\n",
          f);
}

int cmd_init(int argc, char **argv)
{
    orch_init_opts o = {.setup = true};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--no-mount") == 0) {
            o.setup = false;
        } else if (next && (strcmp(a, "--orchfile") == 0 || strcmp(a, "-f") == 0)) {
            o.orchfile = next;
            i++;
        } else if (next && strcmp(a, "--state-dir") == 0) {
            o.state_dir = next;
            i++;
        } else if (next && strcmp(a, "--hostname") == 0) {
            o.hostname = next;
            i++;
        } else if (next && strcmp(a, "--cmdline") == 0) {
            o.cmdline = next;
            i++;
        } else if (getpid() == 1) {
            /* Process 1 must not exit (the kernel would panic): say so, go on. */
            fprintf(stderr, "orchd init: ignoring unknown option or missing value: '%s'\n", a);
        } else {
            fprintf(stderr, "orchd init: unknown option or missing value: '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (orch_vm_guest_present()) /* booted by the vm runtime */
        return orch_vm_guest_run();
    return orch_init_run(&o);
}
