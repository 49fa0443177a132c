/* Process 1 of a vm-runtime guest (docs/RUNTIME-VM.md): when the initramfs
 * holds /.orchd/config.json, `orchd init` runs the one service it describes
 * (an OCI runtime spec's process: args, env, cwd, user, rlimits; and
 * linux.resources.pids.limit) instead of the daemon, and reports how it ended
 * through qemu's isa-debug-exit port (runtime/vm_exit.h). */
#ifndef ORCH_INIT_VM_GUEST_H
#define ORCH_INIT_VM_GUEST_H

#include <stdbool.h>

#define ORCH_VM_GUEST_CONFIG "/.orchd/config.json"
/* What the host adds beyond the spec: {"volumes":[{"tag":T,"target":PATH}],
 * "net":true} (virtio-9p shares to mount, the slirp network to set up). */
#define ORCH_VM_GUEST_EXTRAS "/.orchd/vm.json"

bool orch_vm_guest_present(void);
int orch_vm_guest_run(void); /* never returns while the machine runs */

#endif
