/* The guest's network (docs/RUNTIME-VM.md "Network"): qemu's user network
 * (slirp) with its fixed defaults, configured by process 1 itself with
 * ioctls, no tool from the image needed. */
#ifndef ORCH_INIT_VM_NET_H
#define ORCH_INIT_VM_NET_H

#include <stddef.h>

#define ORCH_VM_NET_IF "eth0"
#define ORCH_VM_NET_ADDR "10.0.2.15"
#define ORCH_VM_NET_MASK "255.255.255.0"
#define ORCH_VM_NET_GW "10.0.2.2"
#define ORCH_VM_NET_DNS "10.0.2.3"

/* lo up; eth0 (waited for up to 2 s) up with the address above and a
 * default route; /etc/resolv.conf names slirp's DNS. 0, or -1 with why. */
int orch_vm_net_up(char *why, size_t why_len);

#endif
