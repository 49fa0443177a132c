/* Tries a few syscalls and prints, one per line, "NAME ok" or "NAME ERRNO"
 * (EPERM, ENOSYS, ...), then the kernel's "seccomp N" for this process
 * (0 none, 2 filter). Built static by seccomp_test.sh and run inside a
 * container and on the host; harmless either way, even as root: every
 * namespace, child or persona it makes is dropped again or dies with the
 * probe, and mount and kexec_load get arguments they refuse.
 *
 * Raw syscalls where libc might route around the call (clone3, keyctl). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/keyctl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long rc)
{
    int e = errno;
    if (rc < 0) {
        const char *en = strerrorname_np(e);
        printf("%s %s\n", name, en ? en : "E?");
    } else {
        printf("%s ok\n", name);
    }
    fflush(stdout);
}

/* A child that exits at once; the parent reaps it. rc as clone's. */
static long reap(long pid)
{
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return pid;
}

int main(void)
{
    report("getpid", syscall(SYS_getpid));
    report("write", write(1, "", 0));
    report("fork", reap(fork()));
    /* unshare(0) changes nothing and needs no capability: only a filter
     * refuses it */
    report("unshare", unshare(0));
    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    report("clone3", reap(syscall(SYS_clone3, &ca, sizeof ca)));
    /* a persona outside containerd's five (ADDR_NO_RANDOMIZE needs no
     * capability), then back */
    int before = personality(0xffffffff);
    long p = personality(PER_LINUX | ADDR_NO_RANDOMIZE);
    report("personality", p);
    if (p >= 0)
        personality((unsigned long)before);
    /* Arguments that fail early wherever no filter stops the call, even as
     * root on the host: no such mount point (ENOENT), no such kexec
     * architecture or flags (EINVAL; or EPERM without CAP_SYS_BOOT). */
    report("mount", mount("none", "/orchd-seccomp-probe-nonexistent/x", "tmpfs", MS_RDONLY, NULL));
    report("kexec_load", syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead00f0UL));
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        unsigned mode;
        if (sscanf(line, "Seccomp: %u", &mode) == 1)
            printf("seccomp %u\n", mode);
    }
    if (f)
        fclose(f);
    return 0;
}
