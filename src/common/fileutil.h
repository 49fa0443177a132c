/* Small file helpers for the daemon: whole-file reads and writes (cgroup
 * control files, env files) and mkdir -p. All return 0 or -errno. */
#ifndef ORCH_FILEUTIL_H
#define ORCH_FILEUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Reads all of path into a NUL-terminated malloc'ed buffer (*len excludes
 * the NUL; len may be NULL). */
int orch_read_file(const char *path, char **out, size_t *len);
/* Writes s to an existing file in one write(2), as control files need. */
int orch_write_file(const char *path, const char *s);
/* Creates path and its missing parents with mode. */
int orch_mkdir_p(const char *path, mode_t mode);
/* Creates the parent directories of a file path. */
int orch_mkdir_parents(const char *file, mode_t mode);

#endif
