/* Small filesystem helpers. */
#ifndef ORCH_FSUTIL_H
#define ORCH_FSUTIL_H

#include <sys/types.h>

/* rm -rf, not crossing into other filesystems; returns 0 or -1 with errno. */
int orch_remove_tree(const char *path);

#endif
