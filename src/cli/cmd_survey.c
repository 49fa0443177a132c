/* orchd survey [--json]: one row per service. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "common/json_emit.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/request.h"

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
        char name[96];
        snprintf(name, sizeof name, "%s%s", prefix, str_of(s, "service", b1, sizeof b1));
        printf("%-24s %-10s %-9s %8s %8s  %s%s%s", name,
               str_of(s, "runtime", b2, sizeof b2), str_of(s, "state", b3, sizeof b3),
               str_of(s, "pid", b5, sizeof b5), str_of(s, "restarts", b6, sizeof b6), tail,
               strcmp(err, "-") ? "  " : "", strcmp(err, "-") ? err : "");
        yajl_val info = orch_reply_member(s, "runtime_info");
        print_warnings(info);
        putchar('\n');
        yajl_val nested = info ? orch_reply_member(info, "nested") : NULL;
        if (nested && depth < 2) {
            /* the name as str_of gives it: b1 holds it only for a number
             * (a string is the reply's own), so b1 alone was garbage */
            char sub[128];
            snprintf(sub, sizeof sub, "%s%s/", prefix, str_of(s, "service", b1, sizeof b1));
            print_rows(nested, sub, depth + 1);
        }
    }
}

static void print_table(yajl_val services)
{
    printf("%-24s %-10s %-9s %8s %8s  %s\n", "SERVICE", "RUNTIME", "STATE", "PID", "RESTARTS",
           "UPTIME/EXIT");
    print_rows(services, "", 0);
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
    int r = orch_settings_parse(&s, "survey", "json", argc, argv);
    if (r != 0) {
        orch_settings_free(&s);
        return r > 0 ? 0 : 2;
    }
    int rc = 1;
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
        if (s.json)
            print_json(services);
        else
            print_table(services);
        rc = 0;
    }
    yajl_tree_free(reply);
out:
    orch_settings_free(&s);
    return rc;
}
