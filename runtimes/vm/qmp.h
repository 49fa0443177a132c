/* A one-shot QMP client on the daemon's loop: connect to qemu's QMP socket,
 * read the greeting, send the capabilities handshake, then one command, and
 * close only after qemu answered both. (qemu drops the requests still
 * queued when a QMP client disconnects, so a client that writes and closes
 * at once is never obeyed: that was part 1's lost stop request.) */
#ifndef ORCH_VM_QMP_H
#define ORCH_VM_QMP_H

#include <uv.h>

/* ok: qemu answered the command with "return"; why: what went wrong
 * (valid during the call). May be NULL. */
typedef void (*vm_qmp_cb)(void *arg, int ok, const char *why);

/* command: one JSON object, e.g. {"execute":"system_powerdown"}. Gives up
 * after timeout_ms. cb runs once, later. */
void vm_qmp_command(uv_loop_t *loop, const char *sock, const char *command, unsigned timeout_ms,
                    vm_qmp_cb cb, void *arg);

#endif
