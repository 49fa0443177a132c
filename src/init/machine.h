/* What orchd init does to the machine itself (docs/PID1.md): the console,
 * the filesystems every service expects, hostname, loopback, cgroup
 * controllers, and at the end unmounting and reboot(2). Every step prints
 * one line on the console ("orchd-init: mounted /proc"). Nothing here stops
 * the boot: a step that fails says so and the next one runs. */
#ifndef ORCH_INIT_MACHINE_H
#define ORCH_INIT_MACHINE_H

#include <stdbool.h>

/* One line on fd 2 (the console), "orchd-init: " + message, in one write. */
void init_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Makes sure fds 0, 1 and 2 are open: /dev/console, else /dev/null (mounting
 * devtmpfs on /dev first when neither exists yet). */
void init_console(void);

/* Mounts what is missing of /proc, /sys, /dev, /dev/pts, /dev/shm, /run,
 * /tmp and cgroup2 on /sys/fs/cgroup, then enables every controller the
 * root cgroup offers in its cgroup.subtree_control. */
void init_mount_all(void);

void init_set_hostname(const char *name);

/* ioctl(SIOCSIFFLAGS, IFF_UP) on "lo"; the kernel then assigns 127.0.0.1
 * and ::1 itself. */
void init_loopback_up(void);

/* True when this is the machine's own pid namespace (so reboot(2) acts on
 * the machine), false in a pid namespace made by unshare or a container
 * engine. Also disables ctrl-alt-del's immediate reboot (the kernel then
 * sends SIGINT to process 1) where that applies. */
bool init_machine_pidns(void);

/* Unmounts everything but / in reverse order of /proc/self/mounts (lazily
 * when busy), then remounts / read-only unless it is a ramfs/tmpfs. */
void init_unmount_all(void);

#endif
