/* Opening files that someone less trusted than orchd may control (a service's
 * log or ENV_FILE, the state dir's lock and log): never blocks (a FIFO
 * without a peer, a tty), never hands back a FIFO, socket, directory or
 * block device, and optionally refuses a symlink in the last component.
 * The caller decides *as whom* to open (common/fsid.h). */
#ifndef ORCH_SAFEOPEN_H
#define ORCH_SAFEOPEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum {
    ORCH_OPEN_NOFOLLOW = 1 << 0, /* a symlink in the last component is refused */
    ORCH_OPEN_CHARDEV = 1 << 1,  /* a character device (/dev/console, /dev/null) is fine */
};

/* open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode), then fstat:
 * the result must be a regular file (or a character device with
 * ORCH_OPEN_CHARDEV); O_NONBLOCK is cleared again before returning. Returns
 * the fd, or -1 with *why (malloc'ed) saying what is wrong without the path,
 * e.g. "is a FIFO, not a regular file" or "Permission denied". */
int orch_open_file(const char *path, int flags, mode_t mode, unsigned how, char **why);

/* Reads at most max bytes of a regular file (flags as orch_open_file), into
 * a NUL-terminated malloc'ed buffer; a larger file is refused ("is larger
 * than N bytes"). Returns 0 or -1 with *why. */
int orch_read_file_capped(const char *path, size_t max, unsigned how, char **out, size_t *len,
                          char **why);

/* The state dir: created (with missing parents 0755) as 0700 if absent; then
 * it must be a real directory (not a symlink), owned by the effective uid,
 * with no group or other permission bits. Returns 0 or -1 with *why
 * (malloc'ed, naming the path and what is wrong, with the fix). */
int orch_private_dir_ensure(const char *path, char **why);

#endif
