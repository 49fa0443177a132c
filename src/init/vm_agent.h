/* The guest end of the host↔guest agent channel (docs/RUNTIME-VM.md
 * "Helper commands"): a virtio-serial port named orchd.agent
 * (/sys/class/virtio-ports/vportNpM/name; devtmpfs makes /dev/vportNpM, no
 * udev symlink). JSON lines, host to guest:
 *     {"id":N,"exec":"COMMAND","timeout_ms":T}   run /bin/sh -c COMMAND as
 *                                               the service runs (T 0: none)
 *     {"id":N,"exec":"COMMAND","timeout_ms":T,"capture":true}
 *                                               the same, its stdout kept
 *                                               (a memfd, the first
 *                                               ORCH_VM_AGENT_CAPTURE bytes)
 *     {"id":N,"cancel":true}                     kill it, say nothing more
 *     {"id":N,"stop":true}                       stop the service and power
 *                                               off, as on SIGINT (the
 *                                               host's stop; microvm has no
 *                                               keyboard for ctrl-alt-del)
 * guest to host, one per exec:
 *     {"id":N,"status":S}      its raw wait status
 *     {"id":N,"status":S,"output":"...","truncated":B}   for a capture
 *     {"id":N,"timed_out":true}
 *     {"id":N,"error":"..."}   it never ran
 *     {"id":N,"stopping":true} a stop taken: sent by process 1
 *                              (orch_vm_agent_stop_taken) once it has
 *                              logged the stop and the console has sent
 *                              that line, so the host's note about the
 *                              answer follows it in the shared log
 * Non-blocking: process 1 polls it next to its signalfd. */
#ifndef ORCH_INIT_VM_AGENT_H
#define ORCH_INIT_VM_AGENT_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define ORCH_VM_AGENT_PORT "orchd.agent"
#define ORCH_VM_AGENT_MAX 16       /* commands at once */
#define ORCH_VM_AGENT_LINE 65536   /* longest request */
#define ORCH_VM_AGENT_CAPTURE 32768 /* captured stdout sent back, at most */

typedef struct orch_vm_agent_cmd {
    long long id;
    pid_t pid;      /* 0: free slot */
    int64_t deadline; /* ms, CLOCK_MONOTONIC; 0 none */
    bool timed_out, cancelled;
    int out_fd;     /* capture: the memfd holding its stdout; else -1 */
} orch_vm_agent_cmd;

typedef struct orch_vm_agent {
    int fd;              /* -1 until the port is found */
    int64_t retry_at;    /* no host connected (POLLHUP): look again then */
    char *in;
    size_t in_len;
    bool discarding;     /* inside an overlong line */
    bool stop;           /* the host asked to stop, not answered yet */
    long long stop_id;   /* that request's id */
    orch_vm_agent_cmd cmd[ORCH_VM_AGENT_MAX];
    /* forks the service's sh -c; stdout to out_fd (-1: the console) */
    pid_t (*spawn)(const char *command, int out_fd);
} orch_vm_agent;

void orch_vm_agent_init(orch_vm_agent *a, pid_t (*spawn)(const char *command, int out_fd));
/* Fills *pf (fd -1 when nothing to poll); returns poll's timeout (ms, -1). */
int orch_vm_agent_poll(orch_vm_agent *a, struct pollfd *pf, int64_t now);
/* After poll: reads requests, runs them, kills the overdue. */
void orch_vm_agent_work(orch_vm_agent *a, short revents, int64_t now);
/* Answers the pending stop request (a->stop), if any, and clears it. */
void orch_vm_agent_stop_taken(orch_vm_agent *a);
/* A child was reaped: answers for it if it was a command. */
void orch_vm_agent_reaped(orch_vm_agent *a, pid_t pid, int status);

#endif
