/* The host's TSC rate (tsc.h). */
#include "vm/tsc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fileutil.h"

#if defined(__x86_64__)
#include <x86intrin.h>

/* both flags on the first "flags" line: the rate never changes */
static bool tsc_is_constant(void)
{
    char *text = NULL;
    if (orch_read_file("/proc/cpuinfo", &text, NULL) != 0)
        return false;
    bool ok = false;
    char *line = strstr(text, "\nflags");
    if (line) {
        char *end = strchr(line + 1, '\n');
        if (end)
            *end = '\0';
        ok = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc");
    }
    free(text);
    return ok;
}

static int64_t raw_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

unsigned long vm_host_tsc_khz(const char **why)
{
    if (!tsc_is_constant()) {
        *why = "the host's TSC is not constant (no constant_tsc/nonstop_tsc in /proc/cpuinfo)";
        return 0;
    }
    /* The best of three 100 ms windows, each bracketed tightly (a
     * preemption between the two reads only widens a bracket, so the
     * narrowest one is the truest). */
    double best = 0;
    int64_t best_gap = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        int64_t a0 = raw_ns();
        uint64_t t0 = __rdtsc();
        int64_t a1 = raw_ns();
        struct timespec sl = {0, 100 * 1000000};
        nanosleep(&sl, NULL);
        int64_t b0 = raw_ns();
        uint64_t t1 = __rdtsc();
        int64_t b1 = raw_ns();
        int64_t gap = (a1 - a0) + (b1 - b0);
        double ns = (double)((b0 + b1) / 2 - (a0 + a1) / 2);
        if (ns > 0 && gap < best_gap) {
            best_gap = gap;
            best = (double)(t1 - t0) / ns * 1e6; /* ticks per ms = kHz */
        }
    }
    if (best < 100000 || best > 20000000) { /* 0.1 .. 20 GHz, or the clock lied */
        *why = "the host's TSC rate could not be measured";
        return 0;
    }
    *why = NULL;
    return (unsigned long)(best + 0.5);
}
#else
unsigned long vm_host_tsc_khz(const char **why)
{
    *why = "the host is not x86-64 (no TSC to hand to the guest)";
    return 0;
}
#endif
