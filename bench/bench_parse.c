/* How long orch_load takes for a 1,000-service Orchfile with two overlays
 * (one text, one YAML). Prints the median and min/max of 25 runs. Not a
 * test: nothing is asserted; see bench/README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "orchfile/orchfile.h"

#define SERVICES 1000
#define RUNS 25

static void write_files(const char *dir, char *base, char *over, char *yaml)
{
    FILE *f = fopen(base, "w");
    fprintf(f, "ORCH_VERSION 0.2.1\nARG port=8000\nARG image=localhost/app:1\n\n");
    for (int i = 0; i < SERVICES; i++) {
        fprintf(f, "SERVICE svc-%d\n", i);
        if (i % 3 == 0)
            fprintf(f, "FROM ${image}\nPUBLISH %d:%d\nVOLUME data-%d:/data\nMEMORY 256M\n", 10000 + i,
                    10000 + i, i);
        else
            fprintf(f, "RUN ./server --port ${port} --id %d\nWORKDIR app\nUSER nobody\n", i);
        fprintf(f, "ENV ID=%d\nENV MODE=prod\nHEALTHCHECK http://127.0.0.1:${port}/health\n"
                   "RESTART on-failure\nRESTART_DELAY 2s\nTIMEOUT_STOP 5s\n", i);
        if (i > 0)
            fprintf(f, "REQUIRES svc-%d\nAFTER svc-%d\n", i - 1, i > 1 ? i - 2 : 0);
        fputc('\n', f);
    }
    fclose(f);
    f = fopen(over, "w");
    fprintf(f, "ARG port=9000\n");
    for (int i = 0; i < SERVICES; i += 2)
        fprintf(f, "SERVICE svc-%d\n  ENV MODE=staging\n  CLEAR AFTER\n  TASKS_MAX 64\n", i);
    fclose(f);
    f = fopen(yaml, "w");
    fprintf(f, "services:\n");
    for (int i = 0; i < SERVICES; i += 5)
        fprintf(f, "  svc-%d:\n    env: {EXTRA: \"yes\"}\n    restart: always\n", i);
    fclose(f);
    (void)dir;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    char dir[] = "/tmp/orchd-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char base[256], over[256], yaml[256];
    snprintf(base, sizeof base, "%s/Orchfile", dir);
    snprintf(over, sizeof over, "%s/Orchfile.staging", dir);
    snprintf(yaml, sizeof yaml, "%s/Orchfile.extra.yaml", dir);
    write_files(dir, base, over, yaml);
    const char *files[] = {base, over, yaml};
    double ms[RUNS];
    for (int r = 0; r < RUNS; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        orch_load_opts o = {.files = files, .n_files = 3};
        orch_diags d;
        orch_diags_init(&d);
        orch_model m;
        if (orch_load(&o, &m, &d) != 0) {
            fprintf(stderr, "bench_parse: the generated files did not parse\n");
            return 1;
        }
        orch_model_free(&m);
        orch_diags_free(&d);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms[r] = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    }
    qsort(ms, RUNS, sizeof *ms, cmp);
    printf("parse %d services + 2 overlays (text+YAML): median %.2f ms (min %.2f, max %.2f) "
           "over %d runs\n", SERVICES, ms[RUNS / 2], ms[0], ms[RUNS - 1], RUNS);
    unlink(base);
    unlink(over);
    unlink(yaml);
    rmdir(dir);
    return 0;
}
