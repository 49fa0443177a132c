/* Small filesystem helpers. */
#ifndef ORCH_FSUTIL_H
#define ORCH_FSUTIL_H

#include <sys/types.h>

/* rm -rf that never follows a symlink nor crosses a mount: orch_rmtree
 * (common/rmtree.h) without its message; returns 0 or -1 with errno EIO.
 * Blocking: not on the loop thread. Prefer orch_rmtree, which says why. */
int orch_remove_tree(const char *path);

#endif
