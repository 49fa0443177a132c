#include "common/fsutil.h"

#include <errno.h>
#include <stdlib.h>

#include "common/rmtree.h"

int orch_remove_tree(const char *path)
{
    char *err = NULL;
    int rc = orch_rmtree(path, &err);
    free(err);
    if (rc != 0)
        errno = EIO;
    return rc;
}
