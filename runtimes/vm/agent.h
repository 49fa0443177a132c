/* The host end of the guest agent channel (src/init/vm_agent.h has the
 * protocol): qemu serves <run dir>/agent.sock (a chardev socket behind a
 * virtserialport named orchd.agent); this connects to it on the daemon's
 * loop with uv_pipe, on first use, and keeps the connection for the
 * instance's life. Replies are the guest's, so untrusted: read bounded,
 * unknown ids ignored. */
#ifndef ORCH_VM_AGENT_HOST_H
#define ORCH_VM_AGENT_HOST_H

#include <stdint.h>
#include <uv.h>

#include "runtime/runtime.h"

typedef struct vm_agent vm_agent;

vm_agent *vm_agent_new(uv_loop_t *loop, const char *sock);
/* Runs command in the guest (orch_runtime_ops.exec's contract: cb once,
 * later; timed out after timeout_ms (0: never), plus a grace for a guest
 * still booting). */
orch_exec *vm_agent_exec(vm_agent *a, const char *command, uint64_t timeout_ms, orch_exec_cb cb,
                         void *owner);
void vm_agent_cancel(orch_exec *x);
/* The same with the command's stdout sent back (at most 32 KiB, the
 * guest's: untrusted); cb gets output NULL when there is none. */
typedef void (*vm_capture_cb)(void *owner, const orch_exec_result *r, const char *output);
orch_exec *vm_agent_capture(vm_agent *a, const char *command, uint64_t timeout_ms,
                            vm_capture_cb cb, void *owner);
/* Asks the guest's process 1 to stop its service and power off (as
 * ctrl-alt-delete does, without a keyboard: microvm has no i8042). cb once:
 * r->err NULL when the guest took it; an error, or timed_out past
 * timeout_ms (no grace: a guest whose agent is not up yet does not answer,
 * and the caller falls back to another way). */
orch_exec *vm_agent_stop(vm_agent *a, uint64_t timeout_ms, orch_exec_cb cb, void *owner);
/* At release: every command still waiting ends with an error; a is gone. */
void vm_agent_close(vm_agent *a);

#endif
