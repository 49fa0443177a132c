/* The kernel command line (/proc/cmdline) as orchd init reads it: blank-
 * separated words, a word being KEY or KEY=VALUE, where double quotes group
 * blanks into one word (`orchd.hostname="a b"`), as the kernel itself
 * splits it. Only orchd.* keys matter to orchd (docs/PID1.md). */
#ifndef ORCH_INIT_CMDLINE_H
#define ORCH_INIT_CMDLINE_H

#include <stddef.h>

/* The value of the last KEY=VALUE word for key in cmdline (quotes removed),
 * malloc'ed; NULL when key is absent or given without '='. */
char *orch_cmdline_get(const char *cmdline, const char *key);

/* Reads a command line file (NUL bytes become blanks; at most 64 KiB).
 * Returns a malloc'ed string, or NULL when it cannot be read. */
char *orch_cmdline_read(const char *path);

#endif
