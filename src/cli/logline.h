/* The line format of orchd's log files (docs/LOGS.md): the log relay puts
 * the time it read each line in front of it, in UTC with microseconds,
 *   "2025-05-01T12:34:56.123456Z " then the line as the service wrote it,
 * so that files of several services interleave by plain string comparison
 * and `orchd logs` can strip or keep it. */
#ifndef ORCH_LOGLINE_H
#define ORCH_LOGLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define ORCH_LOGLINE_STAMP_LEN 28 /* with its trailing space */

/* Writes the stamp for ts into buf (ORCH_LOGLINE_STAMP_LEN + 1 bytes, NUL-terminated). */
void orch_logline_stamp(const struct timespec *ts, char *buf);
/* Whether line (n bytes) begins with a stamp, exactly in that format. */
bool orch_logline_has_stamp(const char *line, size_t n);

#endif
