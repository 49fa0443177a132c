/* How a vm-runtime guest tells the host how its service ended: process 1
 * writes one value to qemu's isa-debug-exit port, and qemu exits with
 * (value << 1) | 1. A process exit status keeps 8 bits, so value has 7:
 *   1..111    the service exited with value - 1 (codes above 110 read 110)
 *   112 + s   it was killed by signal s (1..15; higher signals read 15)
 * qemu's own statuses (0, 1: an error, or a signal) never look like one
 * (they are even, or 1 = value 0, which is never written). Shared by the
 * guest (src/init/vm_guest.c) and the host (runtimes/vm). */
#ifndef ORCH_RUNTIME_VM_EXIT_H
#define ORCH_RUNTIME_VM_EXIT_H

#include <signal.h>
#include <sys/wait.h>

#define ORCH_VM_EXIT_PORT 0xf4

static inline unsigned orch_vm_exit_encode(int status)
{
    if (WIFSIGNALED(status)) {
        int s = WTERMSIG(status);
        return 112u + (unsigned)(s >= 1 && s <= 15 ? s : 15);
    }
    int c = WIFEXITED(status) ? WEXITSTATUS(status) : 110;
    return 1u + (unsigned)(c > 110 ? 110 : c);
}

/* qemu's wait status -> the service's; a qemu that did not exit through the
 * port passes through unchanged (killed: that signal; exit 0 or 1: that). */
static inline int orch_vm_exit_decode(int qemu_status)
{
    if (!WIFEXITED(qemu_status))
        return qemu_status;
    int code = WEXITSTATUS(qemu_status);
    if (!(code & 1) || code < 3)
        return qemu_status;
    int v = code >> 1;
    if (v >= 112)
        return v - 112; /* a raw "killed by signal" wait status */
    return (v - 1) << 8;
}

#endif
