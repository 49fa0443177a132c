#include "cli/logline.h"

#include <stdio.h>
#include <string.h>

void orch_logline_stamp(const struct timespec *ts, char *buf)
{
    struct tm tm;
    time_t t = ts->tv_sec;
    gmtime_r(&t, &tm);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04u-%02u-%02uT%02u:%02u:%02u.%06luZ ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned long)(ts->tv_nsec / 1000) % 1000000ul);
    memcpy(buf, tmp, ORCH_LOGLINE_STAMP_LEN);
    buf[ORCH_LOGLINE_STAMP_LEN] = '\0';
}

bool orch_logline_has_stamp(const char *line, size_t n)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ ";
    if (n < ORCH_LOGLINE_STAMP_LEN)
        return false;
    for (size_t i = 0; i < ORCH_LOGLINE_STAMP_LEN; i++) {
        if (shape[i] == 'd' ? (line[i] < '0' || line[i] > '9') : line[i] != shape[i])
            return false;
    }
    return true;
}
