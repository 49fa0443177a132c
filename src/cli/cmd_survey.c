/* orchd survey [--json] [--watch]: one row per service, with what its cgroup uses. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "common/json_emit.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/request.h"
#include "common/xalloc.h"

static const char *str_of(yajl_val obj, const char *key, char *buf, size_t len)
{
    yajl_val v = orch_reply_member(obj, key);
    if (!v || YAJL_IS_NULL(v))
        return "-";
    if (YAJL_IS_STRING(v))
        return YAJL_GET_STRING(v);
    if (YAJL_IS_NUMBER(v)) {
        snprintf(buf, len, "%s", YAJL_GET_NUMBER(v));
        return buf;
    }
    return "-";
}

static void format_uptime(long long secs, char *buf, size_t len)
{
    if (secs < 120)
        snprintf(buf, len, "%llds", secs);
    else if (secs < 7200)
        snprintf(buf, len, "%lldm", secs / 60);
    else if (secs < 172800)
        snprintf(buf, len, "%lldh", secs / 3600);
    else
        snprintf(buf, len, "%lldd", secs / 86400);
}

/* Conditions the runtime reports (runtime_info "containerd", "log"): what
 * the state alone does not tell, e.g. a pid that may be gone. */
static void print_warnings(yajl_val info)
{
    static const char *const keys[] = {"containerd", "log"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        yajl_val v = info ? orch_reply_member(info, keys[i]) : NULL;
        if (v && YAJL_IS_STRING(v))
            printf("  [%s: %s]", keys[i], YAJL_GET_STRING(v));
    }
}

/* runtime_info's number key, or -1. */
static long long info_num(yajl_val info, const char *key, int *is_max)
{
    yajl_val v = info ? orch_reply_member(info, key) : NULL;
    const char *str = v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
    if (is_max)
        *is_max = str && strcmp(str, "max") == 0;
    if (!str)
        return -1;
    char *end;
    long long n = strtoll(str, &end, 10);
    return *end ? -1 : n;
}

static void human(long long bytes, char *buf, size_t len)
{
    const char *units = "KMGT";
    double v = (double)bytes;
    if (v < 1024) {
        snprintf(buf, len, "%dB", (int)bytes); /* < 1024: an int, as the compiler can tell */
        return;
    }
    int u = -1;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

/* MEM (use/limit), CPU (time used, or % over the last interval under
 * --watch), PIDS (count/limit), from runtime_info (runtime/usage.h). */
typedef struct cpu_seen {
    char name[128];
    long long usec;
} cpu_seen;
static cpu_seen *prev_cpu, *cur_cpu; /* under --watch: the last refresh's, this one's */
static size_t n_prev_cpu, cap_prev_cpu, n_cur_cpu, cap_cur_cpu;
static double prev_wall, wall_now;
static int watching;

static void usage_columns(const char *name, yajl_val info, char *mem, char *cpu, char *pids,
                          size_t len)
{
    int is_max = 0;
    long long cur = info_num(info, "memory", NULL), max = info_num(info, "memory_max", &is_max);
    char a[16], b[16];
    if (cur < 0) {
        snprintf(mem, len, "-");
    } else {
        human(cur, a, sizeof a);
        if (max >= 0) {
            human(max, b, sizeof b);
            snprintf(mem, len, "%s/%s", a, b);
        } else {
            snprintf(mem, len, "%s", a);
        }
    }
    long long usec = info_num(info, "cpu_usec", NULL);
    snprintf(cpu, len, "-");
    if (usec >= 0) {
        snprintf(cpu, len, "%.1fs", (double)usec / 1e6);
        if (watching) {
            if (n_cur_cpu == cap_cur_cpu) {
                cap_cur_cpu = cap_cur_cpu ? 2 * cap_cur_cpu : 64;
                cur_cpu = xrealloc(cur_cpu, cap_cur_cpu * sizeof *cur_cpu);
            }
            snprintf(cur_cpu[n_cur_cpu].name, sizeof cur_cpu[n_cur_cpu].name, "%s", name);
            cur_cpu[n_cur_cpu++].usec = usec;
            for (size_t i = 0; i < n_prev_cpu; i++)
                if (strcmp(prev_cpu[i].name, name) == 0 && wall_now > prev_wall &&
                    usec >= prev_cpu[i].usec)
                    snprintf(cpu, len, "%.1f%%",
                             (double)(usec - prev_cpu[i].usec) / 1e4 / (wall_now - prev_wall));
        }
    }
    long long pc = info_num(info, "pids", NULL), pm = info_num(info, "pids_max", NULL);
    if (pc < 0)
        snprintf(pids, len, "-");
    else if (pm >= 0)
        snprintf(pids, len, "%lld/%lld", pc, pm);
    else
        snprintf(pids, len, "%lld", pc);
}

/* One row per service; a vm guest's own services (runtime_info.nested,
 * its orchd's survey) follow it as GUEST/SERVICE, two levels at most. */
static void print_rows(yajl_val services, const char *prefix, int depth)
{
    for (size_t i = 0; YAJL_IS_ARRAY(services) && i < YAJL_GET_ARRAY(services)->len; i++) {
        yajl_val s = YAJL_GET_ARRAY(services)->values[i];
        /* One buffer per str_of in the same printf: a shared one would hold
         * only whichever was evaluated last. */
        char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32], tail[96];
        yajl_val up = orch_reply_member(s, "uptime");
        yajl_val code = orch_reply_member(s, "exit_code");
        if (up && YAJL_IS_INTEGER(up)) {
            format_uptime(YAJL_GET_INTEGER(up), b4, sizeof b4);
            snprintf(tail, sizeof tail, "up %s", b4);
        } else if (code && YAJL_IS_INTEGER(code)) {
            snprintf(tail, sizeof tail, "exit %lld", YAJL_GET_INTEGER(code));
        } else {
            snprintf(tail, sizeof tail, "-");
        }
        const char *err = str_of(s, "error", b4, sizeof b4);
        char *name = xasprintf("%s%s", prefix, str_of(s, "service", b1, sizeof b1));
        yajl_val info = orch_reply_member(s, "runtime_info");
        char mem[48], cpu[48], pids[48];
        usage_columns(name, info, mem, cpu, pids, sizeof mem);
        printf("%-24s %-10s %-9s %8s %8s %13s %7s %9s  %s%s%s", name,
               str_of(s, "runtime", b2, sizeof b2), str_of(s, "state", b3, sizeof b3),
               str_of(s, "pid", b5, sizeof b5), str_of(s, "restarts", b6, sizeof b6), mem, cpu,
               pids, tail, strcmp(err, "-") ? "  " : "", strcmp(err, "-") ? err : "");
        print_warnings(info);
        putchar('\n');
        free(name);
        yajl_val nested = info ? orch_reply_member(info, "nested") : NULL;
        if (nested && depth < 2) {
            /* the name as str_of gives it: b1 holds it only for a number
             * (a string is the reply's own), so b1 alone was garbage */
            char *sub = xasprintf("%s%s/", prefix, str_of(s, "service", b1, sizeof b1));
            print_rows(nested, sub, depth + 1);
            free(sub);
        }
    }
}

static void print_table(yajl_val services, int watch)
{
    printf("%-24s %-10s %-9s %8s %8s %13s %7s %9s  %s\n", "SERVICE", "RUNTIME", "STATE", "PID",
           "RESTARTS", "MEM", watch ? "CPU%" : "CPU", "PIDS", "UPTIME/EXIT");
    watching = watch;
    n_cur_cpu = 0;
    print_rows(services, "", 0);
    if (watch) { /* this refresh's numbers are the next one's baseline */
        cpu_seen *t = prev_cpu;
        prev_cpu = cur_cpu;
        n_prev_cpu = n_cur_cpu;
        cur_cpu = t;
        size_t c = cap_cur_cpu;
        cap_cur_cpu = cap_prev_cpu;
        cap_prev_cpu = c;
        prev_wall = wall_now;
    }
}

static void print_json(yajl_val services)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_config(g, yajl_gen_beautify, 1);
    yajl_gen_config(g, yajl_gen_indent_string, "  ");
    /* Re-emit the array exactly as the daemon sent it. */
    orch_json_emit(g, services);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    fwrite(buf, 1, len, stdout);
    if (len && buf[len - 1] != '\n')
        putchar('\n');
    yajl_gen_free(g);
}

int cmd_survey(int argc, char **argv)
{
    orch_settings s;
    int r = orch_settings_parse(&s, "survey", "json,watch", argc, argv);
    if (r != 0) {
        orch_settings_free(&s);
        return r > 0 ? 0 : 2;
    }
    int rc = 1;
    if (s.watch && s.json) {
        fprintf(stderr, "orchd survey: --watch shows the table; for JSON, run --json repeatedly\n");
        rc = 2;
        goto out;
    }
again:;
    struct timespec wt;
    clock_gettime(CLOCK_MONOTONIC, &wt);
    wall_now = (double)wt.tv_sec + (double)wt.tv_nsec / 1e9;
    int fd = orch_client_connect(&s);
    if (fd < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED) {
            /* nothing is supervised: a failure for scripts (exit 3), with
             * still a valid (empty) document for --json */
            if (s.json)
                puts("[]");
            fprintf(stderr, "orchd survey: no daemon runs on %s\n", s.state_dir);
            rc = 3;
        } else {
            fprintf(stderr, "orchd survey: cannot reach the daemon on %s: %s\n", s.state_dir,
                    strerror(errno));
        }
        goto out;
    }
    orch_request req;
    orch_request_from_settings(&req, ORCH_REQ_SURVEY, &s);
    yajl_val reply = orch_client_call(fd, &req, "survey");
    orch_request_free(&req);
    close(fd);
    if (!reply)
        goto out;
    yajl_val services = orch_reply_member(reply, "services");
    if (!orch_reply_ok(reply) || !services || !YAJL_IS_ARRAY(services)) {
        orch_reply_print_problems(reply, "survey");
    } else {
        if (s.watch)
            fputs("\033[H\033[2J", stdout); /* like top: in place */
        if (s.json)
            print_json(services);
        else
            print_table(services, s.watch);
        rc = 0;
    }
    yajl_tree_free(reply);
    if (s.watch && rc == 0) {
        fflush(stdout);
        struct timespec ts = {2, 0};
        nanosleep(&ts, NULL);
        goto again;
    }
out:
    orch_settings_free(&s);
    return rc;
}
