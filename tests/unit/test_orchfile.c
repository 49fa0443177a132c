/* The Orchfile pipeline end to end (orch_load): every directive with its JSON
 * value, every composition rule, ARG precedence, ${var} expansion, every error
 * with its FILE:LINE, and a text/YAML round trip. Files are written into a
 * temporary directory and loaded with a controlled environment, so ORCH_ARG_*
 * in the caller's environment never leaks in. Diagnostics are compared with
 * that directory stripped: "Orchfile:3: unknown directive 'FOO'". */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "orchfile/orchfile.h"

/* ---- harness -------------------------------------------------------------- */

typedef struct tfile {
    const char *name; /* file name inside the test directory; decides the format */
    const char *body; /* NULL: the file is not created (unreadable path) */
    size_t len;       /* 0: strlen(body); set it for bodies with NUL bytes */
} tfile;

#define F(name, body) {name, body, 0}
#define FILES(...) ((const tfile[]){__VA_ARGS__, {NULL, NULL, 0}})
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...) ((char *const[]){__VA_ARGS__, NULL})

static char test_dir[] = "/tmp/orch-test-orchfile-XXXXXX";

/* Everything handed out to a test lives until the end (tests read it in
 * CHECK macros without freeing). */
static char **kept;
static size_t n_kept;

static const char *keep(char *s)
{
    if (!s)
        return NULL;
    kept = realloc(kept, (n_kept + 1) * sizeof *kept);
    if (!kept)
        abort();
    kept[n_kept++] = s;
    return s;
}

/* Diagnostics of the last load (errors and warnings), one per line. */
static const char *last_diags = "";
static int last_rc;

static char *dup_str(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* s with every "<test_dir>/" removed. Returns a new string. */
static char *strip_dir(const char *s)
{
    char prefix[sizeof test_dir + 1];
    snprintf(prefix, sizeof prefix, "%s/", test_dir);
    size_t plen = strlen(prefix);
    char *out = dup_str(s), *w = out;
    for (const char *p = s; *p;) {
        if (strncmp(p, prefix, plen) == 0) {
            p += plen;
            continue;
        }
        *w++ = *p++;
    }
    *w = '\0';
    return out;
}

static void write_file(const char *path, const char *body, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(body, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* Writes files, loads them base first with the --arg overrides args
 * ("name=value", NULL-terminated, may be NULL) and the environment env (NULL:
 * an empty one). Returns the compact JSON when the load succeeds, otherwise
 * every diagnostic (formatted with orch_diag_format) joined by newlines. */
/* 0: the reference shape; ORCH_JSON_TYPED for the typed form. */
static unsigned json_flags;

static const char *load_with(const tfile *files, const char *const *args, char *const *env)
{
    static char *const empty_env[] = {NULL};
    const char *paths[16];
    size_t n = 0;
    for (; files[n].name; n++) {
        if (n == sizeof paths / sizeof *paths)
            abort();
        char *p = NULL;
        if (asprintf(&p, "%s/%s", test_dir, files[n].name) < 0)
            abort();
        paths[n] = keep(p);
        if (files[n].body)
            write_file(p, files[n].body, files[n].len ? files[n].len : strlen(files[n].body));
    }
    orch_arg_override over[16];
    char *names[16];
    size_t n_over = 0;
    for (size_t i = 0; args && args[i]; i++) {
        const char *eq = strchr(args[i], '=');
        if (!eq || n_over == sizeof over / sizeof *over)
            abort();
        names[n_over] = strndup(args[i], (size_t)(eq - args[i]));
        over[n_over] = (orch_arg_override){names[n_over], eq + 1};
        n_over++;
    }
    orch_load_opts o = {.files = paths, .n_files = n, .cli_args = over, .n_cli_args = n_over,
                        .environ = env ? env : empty_env};
    orch_diags d;
    orch_diags_init(&d);
    orch_model m;
    last_rc = orch_load(&o, &m, &d);

    char *all = dup_str("");
    for (size_t i = 0; i < d.n; i++) {
        char *line = orch_diag_format(&d.items[i]);
        char *joined = NULL;
        if (asprintf(&joined, "%s%s%s", all, i > 0 ? "\n" : "", line) < 0)
            abort();
        free(all);
        free(line);
        all = joined;
    }
    last_diags = keep(strip_dir(all));
    free(all);

    const char *result = last_diags;
    if (last_rc == 0) {
        result = keep(orch_model_to_json(&m, json_flags));
        orch_model_free(&m);
    }
    orch_diags_free(&d);
    for (size_t i = 0; i < n_over; i++)
        free(names[i]);
    for (size_t i = 0; i < n; i++)
        if (files[i].body)
            unlink(paths[i]);
    return result;
}

#define LOAD(...) load_with(FILES(__VA_ARGS__), NULL, NULL)

/* One text Orchfile named "Orchfile". */
static const char *load1(const char *body)
{
    return LOAD(F("Orchfile", body));
}

typedef struct small_stack_job {
    const char *body;
    const char *out;
} small_stack_job;

static void *small_stack_main(void *arg)
{
    small_stack_job *job = arg;
    job->out = load1(job->body);
    return NULL;
}

/* load1 on a thread with a 2 MiB stack: deep recursion in the pipeline
 * crashes here instead of passing unnoticed on a large main stack. */
static const char *load1_small_stack(const char *body)
{
    small_stack_job job = {body, NULL};
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, 2u << 20) != 0 ||
        pthread_create(&t, &attr, small_stack_main, &job) != 0 || pthread_join(t, NULL) != 0)
        abort();
    pthread_attr_destroy(&attr);
    return job.out;
}

/* True when some line of diags starts with prefix and contains gist. */
static bool has_diag(const char *diags, const char *prefix, const char *gist)
{
    size_t plen = strlen(prefix);
    for (const char *line = diags; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len >= plen && strncmp(line, prefix, plen) == 0) {
            char *copy = strndup(line, len);
            bool found = copy && strstr(copy, gist) != NULL;
            free(copy);
            if (found)
                return true;
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    return false;
}

/* A diagnostic line that starts with prefix ("Orchfile:3: ") and mentions
 * gist must be among diags. */
#define CHECK_DIAG(diags, prefix, gist)                                                 \
    do {                                                                                \
        const char *check_d_ = (diags);                                                 \
        check_count++;                                                                  \
        if (!has_diag(check_d_, (prefix), (gist))) {                                    \
            check_failures++;                                                           \
            fprintf(stderr, "%s:%d: CHECK_DIAG failed: want a line '%s...%s...'\n  in: %s\n", \
                    __FILE__, __LINE__, (prefix), (gist), check_d_ ? check_d_ : "(null)"); \
        }                                                                               \
    } while (0)

/* The load failed and its only diagnostic starts with prefix, mentions gist. */
#define CHECK_ERROR(out, prefix, gist)                                                  \
    do {                                                                                \
        const char *check_o_ = (out);                                                   \
        CHECK(last_rc != 0);                                                            \
        CHECK(count_lines(check_o_) == 1);                                              \
        CHECK_DIAG(check_o_, prefix, gist);                                             \
    } while (0)

static size_t count_lines(const char *s)
{
    if (!s || !*s)
        return 0;
    size_t n = 1;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* What every service carries in the reference shape when nothing more was
 * written: no defaults filled in, resources and logging always present. */
#define DEFAULTS_JSON                                                                  \
    "\"restart\":{\"policy\":\"no\"},\"timeouts\":{},\"resources\":{},\"logging\":{}"
/* The defaults the typed form (ORCH_JSON_TYPED) fills in. */
#define TYPED_DEFAULTS_JSON                                                            \
    "\"readiness_timeout\":90,\"oneshot\":false,\"disabled\":false,\"recreate\":\"never\"," \
    "\"restart\":{\"policy\":\"no\",\"delay\":1,\"start_limit_burst\":5,"              \
    "\"start_limit_interval\":10},\"timeouts\":{\"start\":90,\"stop\":10}"
#define HEAD_JSON "{\"version\":\"0.2.1\",\"args\":{},\"services\":["

/* ---- directives ----------------------------------------------------------- */

/* One service "s" with a mode line and one more directive: the JSON must
 * contain fragment. */
typedef struct directive_case {
    const char *mode; /* "FROM img" or "RUN cmd" */
    const char *line;
    const char *fragment;
} directive_case;

static const directive_case directive_cases[] = {
    {"FROM docker.io/library/redis:7-alpine", "WORKDIR /data",
     "\"mode\":\"container\",\"image\":\"docker.io/library/redis:7-alpine\","},
    {"RUN ./web --port 8080", "WORKDIR backend",
     "\"mode\":\"host\",\"run_command\":\"./web --port 8080\",\"workdir\":\"backend\""},
    {"FROM img", "ENTRYPOINT /sbin/tini --", "\"entrypoint\":\"/sbin/tini --\""},
    {"FROM img", "CMD app migrate --yes", "\"cmd\":\"app migrate --yes\""},
    {"FROM img", "PUBLISH 8080:80", "\"publish\":[{\"host\":8080,\"container\":80}]"},
    {"FROM img", "PUBLISH 127.0.0.1:8080:80",
     "\"publish\":[{\"address\":\"127.0.0.1\",\"host\":8080,\"container\":80}]"},
    {"FROM img", "PUBLISH ::1:8080:80",
     "\"publish\":[{\"address\":\"::1\",\"host\":8080,\"container\":80}]"},
    {"FROM img", "PUBLISH [::1]:8080:80",
     "\"publish\":[{\"address\":\"::1\",\"host\":8080,\"container\":80}]"},
    {"FROM img", "PUBLISH 65535:1", "\"publish\":[{\"host\":65535,\"container\":1}]"},
    {"FROM img", "VOLUME data:/var/lib/data",
     "\"volumes\":[{\"source\":\"data\",\"destination\":\"/var/lib/data\",\"is_named\":true}]"},
    {"FROM img", "VOLUME ./conf:/etc/app",
     "\"volumes\":[{\"source\":\"./conf\",\"destination\":\"/etc/app\",\"is_named\":false}]"},
    {"FROM img", "VOLUME ../shared:/shared",
     "\"volumes\":[{\"source\":\"../shared\",\"destination\":\"/shared\",\"is_named\":false}]"},
    {"FROM img", "VOLUME /srv/data:/data",
     "\"volumes\":[{\"source\":\"/srv/data\",\"destination\":\"/data\",\"is_named\":false}]"},
    {"FROM img", "VOLUME ${ORCH_DATA}/db:/db",
     "\"volumes\":[{\"source\":\"${ORCH_DATA}/db\",\"destination\":\"/db\",\"is_named\":false}]"},
    {"RUN cmd", "USER www-data", "\"user\":\"www-data\""},
    {"RUN cmd", "STOP kill -TERM $MAINPID", "\"stop_command\":\"kill -TERM $MAINPID\""},
    {"RUN cmd", "RELOAD kill -HUP $MAINPID", "\"reload_command\":\"kill -HUP $MAINPID\""},
    {"RUN cmd", "WORKDIR /opt/app", "\"workdir\":\"/opt/app\""},
    {"RUN cmd", "ENV LOG_LEVEL=debug", "\"env\":{\"LOG_LEVEL\":\"debug\"}"},
    {"RUN cmd", "ENV EMPTY=", "\"env\":{\"EMPTY\":\"\"}"},
    {"RUN cmd", "ENV _OPTS=a=b c", "\"env\":{\"_OPTS\":\"a=b c\"}"},
    {"RUN cmd", "ENV_FILE ${ORCH_PROJECT}/.env", "\"env_files\":[\"${ORCH_PROJECT}/.env\"]"},
    {"RUN cmd", "HEALTHCHECK http://127.0.0.1:8080/health",
     "\"healthcheck\":\"http://127.0.0.1:8080/health\""},
    {"RUN cmd", "HEALTHCHECK pg_isready -q", "\"healthcheck\":\"pg_isready -q\""},
    /* Durations, sizes and percentages as written; what was not written is
     * left out (restart.policy excepted); resources and logging always. */
    {"RUN cmd", "READINESS_TIMEOUT 30s", "\"readiness_timeout\":\"30s\",\"restart\""},
    {"RUN cmd", "READINESS_TIMEOUT 2m", "\"readiness_timeout\":\"2m\","},
    {"RUN cmd", "READINESS_TIMEOUT 10", "\"readiness_timeout\":\"10\","},
    {"RUN cmd", "READINESS_TIMEOUT 1h", "\"readiness_timeout\":\"1h\","},
    {"RUN cmd", "ONESHOT true", "\"oneshot\":true,\"restart\""},
    {"RUN cmd", "ONESHOT false", "\"oneshot\":false,"},
    {"RUN cmd", "DISABLED true", "\"run_command\":\"cmd\",\"disabled\":true,\"restart\""},
    {"FROM img", "RECREATE always", "\"recreate\":\"always\""},
    {"FROM img", "RECREATE never", "\"recreate\":\"never\""},
    {"RUN cmd", "RESTART always", "\"restart\":{\"policy\":\"always\"},"},
    {"RUN cmd", "RESTART on-failure", "\"restart\":{\"policy\":\"on_failure\"},"},
    {"RUN cmd", "RESTART no", "\"restart\":{\"policy\":\"no\"},"},
    {"RUN cmd", "RESTART_DELAY 2s", "\"restart\":{\"policy\":\"no\",\"delay\":\"2s\"},"},
    {"RUN cmd", "RESTART_DELAY 1m", "\"delay\":\"1m\"},"},
    {"RUN cmd", "START_LIMIT_BURST 3", "\"restart\":{\"policy\":\"no\",\"start_limit_burst\":3},"},
    {"RUN cmd", "START_LIMIT_BURST 0", "\"start_limit_burst\":0},"},
    {"RUN cmd", "START_LIMIT_INTERVAL 1m",
     "\"restart\":{\"policy\":\"no\",\"start_limit_interval\":\"1m\"},"},
    {"RUN cmd", "TIMEOUT_START 2m", "\"timeouts\":{\"start\":\"2m\"},"},
    {"RUN cmd", "TIMEOUT_STOP 5s", "\"timeouts\":{\"stop\":\"5s\"},"},
    {"RUN cmd", "TIMEOUT_STOP 30", "\"timeouts\":{\"stop\":\"30\"},"},
    {"RUN cmd", "MEMORY 512M", "\"resources\":{\"memory\":\"512M\"},\"logging\":{}"},
    {"RUN cmd", "MEMORY 64K", "\"resources\":{\"memory\":\"64K\"}"},
    {"RUN cmd", "MEMORY 4G", "\"resources\":{\"memory\":\"4G\"}"},
    {"RUN cmd", "MEMORY 1.5G", "\"resources\":{\"memory\":\"1.5G\"}"},
    {"RUN cmd", "MEMORY 1000", "\"resources\":{\"memory\":\"1000\"}"},
    {"RUN cmd", "CPUS 0.5", "\"resources\":{\"cpus\":0.5}"},
    {"RUN cmd", "CPUS 2", "\"resources\":{\"cpus\":2.0}"},
    {"RUN cmd", "CPUS 2.50", "\"resources\":{\"cpus\":2.5}"},
    {"RUN cmd", "CPU_QUOTA 150%", "\"resources\":{\"cpu_quota\":\"150%\"}"},
    {"RUN cmd", "LIMIT_NOFILE 65536", "\"resources\":{\"limit_nofile\":65536}"},
    {"RUN cmd", "LIMIT_NPROC 512", "\"resources\":{\"limit_nproc\":512}"},
    {"RUN cmd", "TASKS_MAX 64", "\"resources\":{\"tasks_max\":64}"},
    {"RUN cmd", "IO_WEIGHT 10", "\"resources\":{\"io_weight\":10}"},
    {"RUN cmd", "IO_WEIGHT 1000", "\"resources\":{\"io_weight\":1000}"},
    {"RUN cmd", "STDOUT ${ORCH_STATE_DIR}/logs/${SERVICE_NAME}.out",
     "\"resources\":{},\"logging\":{\"stdout\":\"${ORCH_STATE_DIR}/logs/${SERVICE_NAME}.out\"}"},
    {"RUN cmd", "STDERR /var/log/s.err", "\"logging\":{\"stderr\":\"/var/log/s.err\"}"},
    /* leading whitespace, tabs between keyword and value, trailing blanks, CRLF */
    {"RUN cmd", "   \tWORKDIR /indented", "\"workdir\":\"/indented\""},
    {"RUN cmd", "\tWORKDIR\t\t/w  \t", "\"workdir\":\"/w\""},
    {"RUN cmd", "WORKDIR /crlf\r", "\"workdir\":\"/crlf\""},
};

static void test_each_directive(void)
{
    for (size_t i = 0; i < sizeof directive_cases / sizeof *directive_cases; i++) {
        const directive_case *c = &directive_cases[i];
        char *body = NULL;
        if (asprintf(&body, "# comment\n\nSERVICE s\n%s\n%s\n", c->mode, c->line) < 0)
            abort();
        const char *out = load1(body);
        if (!strstr(out, c->fragment))
            fprintf(stderr, "directive case %zu: %s\n", i, c->line);
        CHECK_CONTAINS(out, c->fragment);
        free(body);
    }
}

/* The typed form (orchd parse --typed): seconds, bytes, percent. */
static const directive_case typed_cases[] = {
    {"RUN cmd", "READINESS_TIMEOUT 30s", "\"readiness_timeout\":30,"},
    {"RUN cmd", "READINESS_TIMEOUT 2m", "\"readiness_timeout\":120,"},
    {"RUN cmd", "READINESS_TIMEOUT 10", "\"readiness_timeout\":10,"},
    {"RUN cmd", "READINESS_TIMEOUT 1h", "\"readiness_timeout\":3600,"},
    {"RUN cmd", "ONESHOT true", "\"oneshot\":true,"},
    {"RUN cmd", "RESTART always", "\"restart\":{\"policy\":\"always\",\"delay\":1,"},
    {"RUN cmd", "RESTART_DELAY 2s", "\"delay\":2,"},
    {"RUN cmd", "RESTART_DELAY 1m", "\"delay\":60,"},
    {"RUN cmd", "START_LIMIT_BURST 0", "\"start_limit_burst\":0,"},
    {"RUN cmd", "START_LIMIT_INTERVAL 1m", "\"start_limit_interval\":60}"},
    {"RUN cmd", "TIMEOUT_START 2m", "\"timeouts\":{\"start\":120,\"stop\":10}"},
    {"RUN cmd", "TIMEOUT_STOP 5s", "\"timeouts\":{\"start\":90,\"stop\":5}"},
    {"RUN cmd", "MEMORY 512M", "\"resources\":{\"memory\":536870912}}"},
    {"RUN cmd", "MEMORY 1.5G", "\"resources\":{\"memory\":1610612736}}"},
    {"RUN cmd", "MEMORY 1000", "\"resources\":{\"memory\":1000}}"},
    {"RUN cmd", "CPUS 2", "\"resources\":{\"cpus\":2}}"},
    {"RUN cmd", "CPU_QUOTA 150%", "\"resources\":{\"cpu_quota\":150}}"},
    {"RUN cmd", "LIMIT_NOFILE 65536", "\"resources\":{\"limit_nofile\":65536}}"},
    {"RUN cmd", "WORKDIR /w", "\"workdir\":\"/w\"," TYPED_DEFAULTS_JSON "}]}"},
};

static void test_each_directive_typed(void)
{
    json_flags = ORCH_JSON_TYPED;
    for (size_t i = 0; i < sizeof typed_cases / sizeof *typed_cases; i++) {
        const directive_case *c = &typed_cases[i];
        char *body = NULL;
        if (asprintf(&body, "SERVICE s\n%s\n%s\n", c->mode, c->line) < 0)
            abort();
        const char *out = load1(body);
        if (!strstr(out, c->fragment))
            fprintf(stderr, "typed case %zu: %s\n", i, c->line);
        CHECK_CONTAINS(out, c->fragment);
        free(body);
    }
    json_flags = 0;
}

/* A model using every directive, compared whole: also pins key order,
 * absent optional values being omitted and defaults. */
static const char full_text[] =
    "ORCH_VERSION 0.2.1\n"
    "ARG tag=7-alpine\n"
    "ARG empty=\n"
    "\n"
    "SERVICE cache\n"
    "FROM docker.io/library/redis:${tag}\n"
    "ENTRYPOINT docker-entrypoint.sh\n"
    "CMD redis-server --save \"\"\n"
    "PUBLISH 127.0.0.1:6379:6379\n"
    "PUBLISH ::1:16379:16379\n"
    "PUBLISH 8080:80\n"
    "VOLUME redis-data:/data\n"
    "VOLUME ./conf:/etc/redis\n"
    "WORKDIR /data\n"
    "ENV A=1\n"
    "ENV B=${empty}\n"
    "ENV_FILE ${ORCH_PROJECT}/.env\n"
    "ENV_FILE cache.env\n"
    "HEALTHCHECK redis-cli ping\n"
    "READINESS_TIMEOUT 30s\n"
    "ONESHOT false\n"
    "DISABLED true\n"
    "RECREATE always\n"
    "RESTART on-failure\n"
    "RESTART_DELAY 2s\n"
    "START_LIMIT_BURST 3\n"
    "START_LIMIT_INTERVAL 1m\n"
    "TIMEOUT_START 2m\n"
    "TIMEOUT_STOP 5s\n"
    "MEMORY 256M\n"
    "CPUS 1.5\n"
    "CPU_QUOTA 150%\n"
    "LIMIT_NOFILE 65536\n"
    "LIMIT_NPROC 512\n"
    "TASKS_MAX 64\n"
    "IO_WEIGHT 500\n"
    "STDOUT ${ORCH_STATE_DIR}/logs/${SERVICE_NAME}.out\n"
    "STDERR /var/log/cache.err\n"
    "\n"
    "SERVICE web\n"
    "RUN ./web --port 8080\n"
    "USER www-data\n"
    "STOP kill -TERM $MAINPID\n"
    "RELOAD kill -HUP $MAINPID\n"
    "WORKDIR backend\n"
    "REQUIRES cache\n"
    "AFTER cache metrics\n"
    "ONESHOT true\n";

static const char full_json[] =
    "{\"version\":\"0.2.1\",\"args\":{\"tag\":\"7-alpine\",\"empty\":\"\"},\"services\":["
    "{\"name\":\"cache\",\"mode\":\"container\",\"image\":\"docker.io/library/redis:7-alpine\","
    "\"entrypoint\":\"docker-entrypoint.sh\",\"cmd\":\"redis-server --save \\\"\\\"\","
    "\"publish\":[{\"address\":\"127.0.0.1\",\"host\":6379,\"container\":6379},"
    "{\"address\":\"::1\",\"host\":16379,\"container\":16379},{\"host\":8080,\"container\":80}],"
    "\"volumes\":[{\"source\":\"redis-data\",\"destination\":\"/data\",\"is_named\":true},"
    "{\"source\":\"./conf\",\"destination\":\"/etc/redis\",\"is_named\":false}],"
    "\"workdir\":\"/data\",\"env\":{\"A\":\"1\",\"B\":\"\"},"
    "\"env_files\":[\"${ORCH_PROJECT}/.env\",\"cache.env\"],\"healthcheck\":\"redis-cli ping\","
    "\"readiness_timeout\":\"30s\",\"oneshot\":false,\"disabled\":true,\"recreate\":\"always\","
    "\"restart\":{\"policy\":\"on_failure\",\"delay\":\"2s\",\"start_limit_burst\":3,"
    "\"start_limit_interval\":\"1m\"},\"timeouts\":{\"start\":\"2m\",\"stop\":\"5s\"},"
    "\"resources\":{\"memory\":\"256M\",\"cpus\":1.5,\"cpu_quota\":\"150%\",\"limit_nofile\":65536,"
    "\"limit_nproc\":512,\"tasks_max\":64,\"io_weight\":500},"
    "\"logging\":{\"stdout\":\"${ORCH_STATE_DIR}/logs/${SERVICE_NAME}.out\","
    "\"stderr\":\"/var/log/cache.err\"}},"
    "{\"name\":\"web\",\"mode\":\"host\",\"run_command\":\"./web --port 8080\","
    "\"user\":\"www-data\",\"stop_command\":\"kill -TERM $MAINPID\","
    "\"reload_command\":\"kill -HUP $MAINPID\",\"workdir\":\"backend\","
    "\"requires\":[\"cache\"],\"after\":[\"cache\",\"metrics\"],"
    "\"oneshot\":true,"
    "\"restart\":{\"policy\":\"no\"},\"timeouts\":{},\"resources\":{},\"logging\":{}}]}";

static const char full_json_typed[] =
    "{\"version\":\"0.2.1\",\"args\":{\"tag\":\"7-alpine\",\"empty\":\"\"},\"services\":["
    "{\"name\":\"cache\",\"mode\":\"container\",\"image\":\"docker.io/library/redis:7-alpine\","
    "\"entrypoint\":\"docker-entrypoint.sh\",\"cmd\":\"redis-server --save \\\"\\\"\","
    "\"publish\":[{\"address\":\"127.0.0.1\",\"host\":6379,\"container\":6379},"
    "{\"address\":\"::1\",\"host\":16379,\"container\":16379},{\"host\":8080,\"container\":80}],"
    "\"volumes\":[{\"source\":\"redis-data\",\"destination\":\"/data\",\"is_named\":true},"
    "{\"source\":\"./conf\",\"destination\":\"/etc/redis\",\"is_named\":false}],"
    "\"workdir\":\"/data\",\"env\":{\"A\":\"1\",\"B\":\"\"},"
    "\"env_files\":[\"${ORCH_PROJECT}/.env\",\"cache.env\"],\"healthcheck\":\"redis-cli ping\","
    "\"readiness_timeout\":30,\"oneshot\":false,\"disabled\":true,\"recreate\":\"always\","
    "\"restart\":{\"policy\":\"on_failure\",\"delay\":2,\"start_limit_burst\":3,"
    "\"start_limit_interval\":60},\"timeouts\":{\"start\":120,\"stop\":5},"
    "\"resources\":{\"memory\":268435456,\"cpus\":1.5,\"cpu_quota\":150,\"limit_nofile\":65536,"
    "\"limit_nproc\":512,\"tasks_max\":64,\"io_weight\":500},"
    "\"logging\":{\"stdout\":\"${ORCH_STATE_DIR}/logs/${SERVICE_NAME}.out\","
    "\"stderr\":\"/var/log/cache.err\"}},"
    "{\"name\":\"web\",\"mode\":\"host\",\"run_command\":\"./web --port 8080\","
    "\"user\":\"www-data\",\"stop_command\":\"kill -TERM $MAINPID\","
    "\"reload_command\":\"kill -HUP $MAINPID\",\"workdir\":\"backend\","
    "\"requires\":[\"cache\"],\"after\":[\"cache\",\"metrics\"],"
    "\"readiness_timeout\":90,\"oneshot\":true,\"disabled\":false,\"recreate\":\"never\","
    "\"restart\":{\"policy\":\"no\",\"delay\":1,\"start_limit_burst\":5,"
    "\"start_limit_interval\":10},\"timeouts\":{\"start\":90,\"stop\":10}}]}";

static void test_full_model(void)
{
    CHECK_STR(load1(full_text), full_json);
    CHECK_STR(last_diags, "");
    json_flags = ORCH_JSON_TYPED;
    CHECK_STR(load1(full_text), full_json_typed);
    json_flags = 0;
    /* A minimal service: only the defaults. */
    CHECK_STR(load1("SERVICE a\nRUN true\n"),
              HEAD_JSON "{\"name\":\"a\",\"mode\":\"host\",\"run_command\":\"true\"," DEFAULTS_JSON
                        "}]}");
    /* An empty file is a valid, empty model; so are comments only. */
    CHECK_STR(load1(""), HEAD_JSON "]}");
    CHECK_STR(load1("# nothing\n\n   # indented comment\n"), HEAD_JSON "]}");
    /* Repeatable directives accumulate within one file; REQUIRES/AFTER split
     * on blanks and drop duplicates; a container port published twice in one
     * file keeps the later mapping. */
    const char *out = load1("SERVICE a\nRUN x\nSERVICE b\nRUN y\n"
                            "SERVICE s\nFROM img\n"
                            "REQUIRES a\tb\nREQUIRES b a\nAFTER b  a\nAFTER a\n"
                            "ENV_FILE x.env\nENV_FILE y.env\nENV_FILE x.env\n"
                            "ENV K=1\nENV L=2\nENV K=3\n"
                            "PUBLISH 80:80\nPUBLISH 81:81\nPUBLISH 8080:80\n"
                            "VOLUME a:/a\nVOLUME b:/a\n");
    CHECK_CONTAINS(out, "\"requires\":[\"a\",\"b\"],\"after\":[\"b\",\"a\"]");
    CHECK_CONTAINS(out, "\"env_files\":[\"x.env\",\"y.env\"]");
    CHECK_CONTAINS(out, "\"env\":{\"K\":\"3\",\"L\":\"2\"}");
    CHECK_CONTAINS(out, "\"publish\":[{\"host\":8080,\"container\":80},"
                        "{\"host\":81,\"container\":81}]");
    CHECK_CONTAINS(out,
                   "\"volumes\":[{\"source\":\"b\",\"destination\":\"/a\",\"is_named\":true}]");
    /* Services keep declaration order. */
    out = load1("SERVICE zeta\nRUN z\nSERVICE alpha\nRUN a\nSERVICE mid\nRUN m\n");
    CHECK(strstr(out, "zeta") < strstr(out, "alpha") && strstr(out, "alpha") < strstr(out, "mid"));
    /* A 63-character name is fine. */
    CHECK_CONTAINS(load1("SERVICE a12345678901234567890123456789012345678901234567890123456789-b\n"
                         "RUN x\n"),
                   "\"name\":\"a12345678901234567890123456789012345678901234567890123456789-b\"");
    /* Older 0.x versions and pre-releases are read. */
    CHECK_STR(load1("ORCH_VERSION 0.1.0\n"), HEAD_JSON "]}");
    CHECK_STR(load1("ORCH_VERSION 0.2.1-rc.1\n"), HEAD_JSON "]}");
    /* The reference parser's current version string. */
    CHECK_STR(load1("ORCH_VERSION 1.0.0-rc\nSERVICE a\nRUN x\nREADINESS_TIMEOUT 10\n"),
              HEAD_JSON "{\"name\":\"a\",\"mode\":\"host\",\"run_command\":\"x\","
                        "\"readiness_timeout\":\"10\"," DEFAULTS_JSON "}]}");
    /* A UTF-8 byte order mark is skipped. */
    CHECK_CONTAINS(load1("\xEF\xBB\xBFSERVICE a\nRUN echo caf\xC3\xA9\n"),
                   "\"run_command\":\"echo caf\xC3\xA9\"");
}

/* ---- composition ---------------------------------------------------------- */

#define BASE(body) F("Orchfile", body)
#define PROD(body) F("Orchfile.prod", body)

static void test_merge_scalars(void)
{
    /* Last wins; a scalar absent from the overlay keeps the base value. */
    const char *out = LOAD(BASE("SERVICE web\nRUN ./web\nWORKDIR /a\nMEMORY 1G\nRESTART always\n"
                                "HEALTHCHECK true\nTIMEOUT_STOP 5s\nONESHOT true\n"),
                           PROD("  SERVICE web\n  WORKDIR /b\n  MEMORY 2G\n  ONESHOT false\n"));
    CHECK_CONTAINS(out, "\"run_command\":\"./web\"");
    CHECK_CONTAINS(out, "\"workdir\":\"/b\"");
    CHECK_CONTAINS(out, "\"healthcheck\":\"true\"");
    CHECK_CONTAINS(out, "\"oneshot\":false");
    CHECK_CONTAINS(out, "\"policy\":\"always\"");
    CHECK_CONTAINS(out, "\"timeouts\":{\"stop\":\"5s\"}");
    CHECK_CONTAINS(out, "\"resources\":{\"memory\":\"2G\"}");
    /* An overlay setting a typed scalar to its default still overrides. */
    out = LOAD(BASE("SERVICE web\nRUN x\nRESTART always\nIO_WEIGHT 500\n"),
               PROD("SERVICE web\nRESTART no\nIO_WEIGHT 100\n"));
    CHECK_CONTAINS(out, "\"policy\":\"no\"");
    CHECK_CONTAINS(out, "\"resources\":{\"io_weight\":100}");
    /* Three files: left to right. */
    out = LOAD(BASE("SERVICE a\nRUN one\n"), PROD("SERVICE a\nRUN two\n"),
               F("Orchfile.local", "SERVICE a\nRUN three\n"));
    CHECK_CONTAINS(out, "\"run_command\":\"three\"");
}

static void test_merge_lists(void)
{
    /* ENV merges by key (in place), PUBLISH by container port, VOLUME by
     * destination: the overlay wins, new entries are appended. */
    const char *out =
        LOAD(BASE("SERVICE db\nFROM postgres:16\nENV A=1\nENV B=2\n"
                  "PUBLISH 5432:5432\nPUBLISH 127.0.0.1:9187:9187\n"
                  "VOLUME pg:/var/lib/postgresql/data\n"
                  "VOLUME ./init:/docker-entrypoint-initdb.d\n"),
             PROD("SERVICE db\nENV B=3\nENV C=4\n"
                  "PUBLISH 0.0.0.0:15432:5432\nPUBLISH 6000:6000\n"
                  "VOLUME /srv/pg:/var/lib/postgresql/data\nVOLUME logs:/logs\n"));
    CHECK_CONTAINS(out, "\"env\":{\"A\":\"1\",\"B\":\"3\",\"C\":\"4\"}");
    CHECK_CONTAINS(out, "\"publish\":[{\"address\":\"0.0.0.0\",\"host\":15432,\"container\":5432},"
                        "{\"address\":\"127.0.0.1\",\"host\":9187,\"container\":9187},"
                        "{\"host\":6000,\"container\":6000}]");
    CHECK_CONTAINS(out, "\"volumes\":[{\"source\":\"/srv/pg\",\"destination\":"
                        "\"/var/lib/postgresql/data\",\"is_named\":false},"
                        "{\"source\":\"./init\",\"destination\":\"/docker-entrypoint-initdb.d\","
                        "\"is_named\":false},"
                        "{\"source\":\"logs\",\"destination\":\"/logs\",\"is_named\":true}]");
    /* REQUIRES, AFTER, ENV_FILE: appended, duplicates removed. */
    out = LOAD(BASE("SERVICE a\nRUN a\nSERVICE b\nRUN b\nSERVICE c\nRUN c\n"
                    "SERVICE web\nRUN w\nREQUIRES a b\nAFTER a\n"
                    "ENV_FILE base.env\nENV_FILE common.env\n"),
               PROD("SERVICE web\nREQUIRES b c\nAFTER c a\n"
                    "ENV_FILE common.env\nENV_FILE prod.env\n"));
    CHECK_CONTAINS(out, "\"env_files\":[\"base.env\",\"common.env\",\"prod.env\"],"
                        "\"requires\":[\"a\",\"b\",\"c\"],\"after\":[\"a\",\"c\"]");
}

static void test_merge_services(void)
{
    /* A service only in the overlay is appended after the base services,
     * whatever its position in the overlay. */
    const char *out = LOAD(BASE("SERVICE b1\nRUN x\nSERVICE b2\nRUN y\n"),
                           PROD("SERVICE new\nRUN n\nSERVICE b1\nRUN x2\n"));
    CHECK_STR(out, HEAD_JSON
              "{\"name\":\"b1\",\"mode\":\"host\",\"run_command\":\"x2\"," DEFAULTS_JSON "},"
              "{\"name\":\"b2\",\"mode\":\"host\",\"run_command\":\"y\"," DEFAULTS_JSON "},"
              "{\"name\":\"new\",\"mode\":\"host\",\"run_command\":\"n\"," DEFAULTS_JSON "}]}");
    /* An overlay may hold only ARGs, or nothing at all. */
    CHECK_STR(LOAD(BASE("SERVICE a\nRUN x\n"), PROD("# empty overlay\n")),
              HEAD_JSON "{\"name\":\"a\",\"mode\":\"host\",\"run_command\":\"x\"," DEFAULTS_JSON
                        "}]}");
}

static void test_merge_mode_switch(void)
{
    /* FROM on a RUN service: USER/STOP/RELOAD go, ENV/WORKDIR/resources,
     * health and restart stay. Not a C1 error. */
    const char *out =
        LOAD(BASE("SERVICE web\nRUN ./web\nUSER www\nSTOP kill $MAINPID\n"
                  "RELOAD kill -HUP $MAINPID\n"
                  "ENV A=1\nWORKDIR /srv\nMEMORY 1G\nCPUS 2\nHEALTHCHECK http://localhost/\n"
                  "RESTART always\nREQUIRES\tdb\nSERVICE db\nRUN db\n"),
             PROD("SERVICE web\nFROM localhost/web:1\n"));
    CHECK_STR(out, HEAD_JSON
              "{\"name\":\"web\",\"mode\":\"container\",\"image\":\"localhost/web:1\","
              "\"workdir\":\"/srv\",\"env\":{\"A\":\"1\"},\"requires\":[\"db\"],"
              "\"healthcheck\":\"http://localhost/\",\"restart\":{\"policy\":\"always\"},"
              "\"timeouts\":{},\"resources\":{\"memory\":\"1G\",\"cpus\":2.0},\"logging\":{}},"
              "{\"name\":\"db\",\"mode\":\"host\",\"run_command\":\"db\"," DEFAULTS_JSON "}]}");
    /* RUN on a FROM service: ENTRYPOINT/CMD/PUBLISH/VOLUME go. */
    out = LOAD(BASE("SERVICE web\nFROM img\nENTRYPOINT e\nCMD c\nPUBLISH 80:80\nVOLUME v:/v\n"
                    "ENV A=1\nTASKS_MAX 9\nRECREATE always\n"),
               PROD("SERVICE web\nRUN ./web\n"));
    CHECK_STR(out, HEAD_JSON "{\"name\":\"web\",\"mode\":\"host\",\"run_command\":\"./web\","
                             "\"env\":{\"A\":\"1\"},\"recreate\":\"always\","
                             "\"restart\":{\"policy\":\"no\"},\"timeouts\":{},"
                             "\"resources\":{\"tasks_max\":9},\"logging\":{}}]}");
    /* The overlay switching mode may bring its own mode-specific values. */
    out = LOAD(BASE("SERVICE web\nFROM img\nCMD c\n"),
               PROD("SERVICE web\nRUN ./web\nUSER u\n"));
    CHECK_CONTAINS(out, "\"mode\":\"host\",\"run_command\":\"./web\",\"user\":\"u\",");
    out = LOAD(BASE("SERVICE web\nRUN ./web\nUSER u\n"),
               PROD("SERVICE web\nFROM img\nCMD serve\nPUBLISH 80:8080\n"));
    CHECK_CONTAINS(out, "\"mode\":\"container\",\"image\":\"img\",\"cmd\":\"serve\",\"publish\":");
    CHECK(strstr(out, "\"user\"") == NULL);
    /* And back again in a third file. */
    out = LOAD(BASE("SERVICE web\nRUN one\nUSER u\n"), PROD("SERVICE web\nFROM img\nCMD c\n"),
               F("Orchfile.dev", "SERVICE web\nRUN two\n"));
    CHECK_STR(out, HEAD_JSON "{\"name\":\"web\",\"mode\":\"host\",\"run_command\":\"two\","
                   DEFAULTS_JSON "}]}");
}

static void test_merge_clear(void)
{
    static const struct {
        const char *target, *gone;
    } targets[] = {
        {"ENV", "\"env\""},           {"ENV_FILE", "\"env_files\""},
        {"PUBLISH", "\"publish\""},   {"VOLUME", "\"volumes\""},
        {"REQUIRES", "\"requires\""}, {"AFTER", "\"after\""},
    };
    const char *base = "SERVICE dep\nRUN d\n"
                       "SERVICE web\nFROM img\nENV A=1\nENV_FILE a.env\nPUBLISH 80:80\n"
                       "VOLUME v:/v\nREQUIRES dep\nAFTER dep\n";
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        char *overlay = NULL;
        if (asprintf(&overlay, "SERVICE web\nCLEAR %s\n", targets[i].target) < 0)
            abort();
        const char *out = LOAD(BASE(base), PROD(overlay));
        CHECK(last_rc == 0);
        CHECK(strstr(out, targets[i].gone) == NULL);
        /* Only that list is emptied. */
        for (size_t j = 0; j < sizeof targets / sizeof *targets; j++)
            if (j != i)
                CHECK_CONTAINS(out, targets[j].gone);
        free(overlay);
    }
    /* CLEAR empties the list before the overlay's own values apply,
     * wherever it stands in the service. */
    const char *out = LOAD(BASE(base), PROD("SERVICE web\nENV B=2\nCLEAR ENV\nPUBLISH 443:443\n"
                                            "CLEAR PUBLISH\nCLEAR REQUIRES\nREQUIRES dep\n"));
    CHECK_CONTAINS(out, "\"env\":{\"B\":\"2\"}");
    CHECK_CONTAINS(out, "\"publish\":[{\"host\":443,\"container\":443}]");
    CHECK_CONTAINS(out, "\"requires\":[\"dep\"]");
    /* CLEAR in a service the overlay introduces has nothing to clear. */
    out = LOAD(BASE("SERVICE a\nRUN a\n"), PROD("SERVICE b\nCLEAR ENV\nRUN b\nENV X=1\n"));
    CHECK_CONTAINS(out, "\"name\":\"b\",\"mode\":\"host\",\"run_command\":\"b\","
                        "\"env\":{\"X\":\"1\"}");
    /* CLEAR of a scalar is an error, whichever scalar. */
    static const char *const scalars[] = {"FROM", "RUN", "USER", "WORKDIR", "MEMORY",
                                          "HEALTHCHECK", "RESTART", "STDOUT"};
    for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++) {
        char *overlay = NULL, *gist = NULL;
        if (asprintf(&overlay, "SERVICE web\nCLEAR %s\n", scalars[i]) < 0 ||
            asprintf(&gist, "CLEAR %s: %s is a single value", scalars[i], scalars[i]) < 0)
            abort();
        CHECK_ERROR(LOAD(BASE(base), PROD(overlay)), "Orchfile.prod:2: ", gist);
        free(overlay);
        free(gist);
    }
    CHECK_ERROR(load1("SERVICE web\nRUN x\nCLEAR NOTHING\n"), "Orchfile:3: ",
                "CLEAR NOTHING: unknown directive");
    CHECK_ERROR(load1("SERVICE web\nRUN x\nCLEAR\n"), "Orchfile:3: ", "CLEAR needs a value");
}

static void test_merge_constraints(void)
{
    /* C1-C4 hold for the merged result, not for each file. */
    /* Base has no mode, the overlay gives it: fine. */
    CHECK_CONTAINS(LOAD(BASE("SERVICE web\nWORKDIR /w\n"), PROD("SERVICE web\nRUN ./web\n")),
                   "\"run_command\":\"./web\"");
    /* A dependency only the overlay defines: fine. */
    CHECK_CONTAINS(LOAD(BASE("SERVICE web\nRUN w\nREQUIRES db\n"), PROD("SERVICE db\nRUN d\n")),
                   "\"requires\":[\"db\"]");
    /* C3: FROM in the base, USER in the overlay: the overlay's line. */
    CHECK_ERROR(LOAD(BASE("SERVICE web\nFROM nginx\n"), PROD("# prod\nSERVICE web\nUSER root\n")),
                "Orchfile.prod:3: ", "USER is for host services (C3): service web is a container");
    /* STOP and RELOAD of a container run inside it: accepted (orchd
     * relaxes C3 to USER only). */
    CHECK_CONTAINS(LOAD(BASE("SERVICE web\nFROM nginx\n"), PROD("SERVICE web\nSTOP s\n")),
                   "\"stop_command\":\"s\"");
    CHECK_CONTAINS(LOAD(BASE("SERVICE web\nFROM nginx\n"), PROD("SERVICE web\nRELOAD r\n")),
                   "\"reload_command\":\"r\"");
    /* C2: RUN in the base, container-only directives in the overlay. */
    CHECK_ERROR(LOAD(BASE("SERVICE web\nRUN w\n"), PROD("SERVICE web\n\nPUBLISH 80:80\n")),
                "Orchfile.prod:3: ",
                "PUBLISH is for container services (C2): service web runs on the host");
    CHECK_ERROR(LOAD(BASE("SERVICE web\nRUN w\n"), PROD("SERVICE web\nVOLUME v:/v\n")),
                "Orchfile.prod:2: ", "VOLUME is for container services (C2)");
    CHECK_ERROR(LOAD(BASE("SERVICE web\nRUN w\n"), PROD("SERVICE web\nENTRYPOINT e\n")),
                "Orchfile.prod:2: ", "ENTRYPOINT is for container services (C2)");
    CHECK_ERROR(LOAD(BASE("SERVICE web\nRUN w\n"), PROD("SERVICE web\nCMD c\n")),
                "Orchfile.prod:2: ", "CMD is for container services (C2)");
    /* The mode switch happens before the check: the overlay's RUN drops the
     * base's PUBLISH, so nothing is left to complain about... */
    CHECK(LOAD(BASE("SERVICE web\nFROM img\nPUBLISH 80:80\n"), PROD("SERVICE web\nRUN w\n")) &&
          last_rc == 0);
    /* ...but the overlay's own PUBLISH with its RUN is C2. */
    CHECK_ERROR(LOAD(BASE("SERVICE web\nFROM img\n"), PROD("SERVICE web\nRUN w\nPUBLISH 80:80\n")),
                "Orchfile.prod:3: ", "PUBLISH is for container services (C2)");
    /* In a single file too. */
    CHECK_ERROR(load1("SERVICE web\nFROM img\nUSER u\n"), "Orchfile:3: ",
                "USER is for host services (C3)");
    CHECK_ERROR(load1("SERVICE web\nRUN w\nCMD c\n"), "Orchfile:3: ",
                "CMD is for container services (C2)");
    /* C1: neither, after merging: at the base's SERVICE line. */
    CHECK_ERROR(LOAD(BASE("\nSERVICE web\nWORKDIR /w\n"), PROD("SERVICE web\nMEMORY 1G\n")),
                "Orchfile:2: ", "service web has neither FROM nor RUN (C1");
    /* C4 across files: a cycle formed only by the overlay's edge. */
    CHECK_ERROR(LOAD(BASE("SERVICE a\nRUN a\nREQUIRES b\nSERVICE b\nRUN b\n"),
                     PROD("SERVICE b\nAFTER a\n")),
                "Orchfile.prod:2: ", "dependency cycle (C4): a -> b -> a");
}

/* ---- ARGs and expansion --------------------------------------------------- */

static const char arg_base[] = "ARG port=8080\nARG host=127.0.0.1\n"
                               "SERVICE web\nRUN ./web --listen ${host}:${port}\n";

static void test_arg_precedence(void)
{
    /* The file's default. */
    const char *out = LOAD(BASE(arg_base));
    CHECK_CONTAINS(out, "\"args\":{\"port\":\"8080\",\"host\":\"127.0.0.1\"}");
    CHECK_CONTAINS(out, "\"run_command\":\"./web --listen 127.0.0.1:8080\"");
    /* ORCH_ARG_<name> beats the file. */
    out = load_with(FILES(BASE(arg_base)), NULL, ENV("PATH=/bin", "ORCH_ARG_port=9000"));
    CHECK_CONTAINS(out, "\"args\":{\"port\":\"9000\",\"host\":\"127.0.0.1\"}");
    CHECK_CONTAINS(out, "--listen 127.0.0.1:9000\"");
    /* --arg beats the environment. */
    out = load_with(FILES(BASE(arg_base)), ARGS("port=7000"), ENV("ORCH_ARG_port=9000"));
    CHECK_CONTAINS(out, "--listen 127.0.0.1:7000\"");
    CHECK_STR(last_diags, "");
    /* The last --arg for a name wins; an override may be empty. */
    out = load_with(FILES(BASE(arg_base)), ARGS("port=1", "port=2", "host="), NULL);
    CHECK_CONTAINS(out, "\"args\":{\"port\":\"2\",\"host\":\"\"}");
    CHECK_CONTAINS(out, "--listen :2\"");
    /* The environment is the one passed in, not the process's: names are
     * case-sensitive and only the ORCH_ARG_ prefix counts. */
    out = load_with(FILES(BASE(arg_base)), NULL,
                    ENV("ORCH_ARG_PORT=1", "port=2", "ORCH_ARGport=3"));
    CHECK_CONTAINS(out, "--listen 127.0.0.1:8080\"");
    /* Among files the last wins; the environment still beats every file. */
    out = LOAD(BASE(arg_base), PROD("ARG port=443\n"));
    CHECK_CONTAINS(out, "\"args\":{\"port\":\"443\",\"host\":\"127.0.0.1\"}");
    /* An overlay changing an ARG changes what the base's ${var} become. */
    CHECK_CONTAINS(out, "\"run_command\":\"./web --listen 127.0.0.1:443\"");
    out = load_with(FILES(BASE(arg_base), PROD("ARG port=443\n")), NULL, ENV("ORCH_ARG_port=1"));
    CHECK_CONTAINS(out, "--listen 127.0.0.1:1\"");
    /* An ARG declared only in an overlay reaches the base too. */
    out = LOAD(BASE("SERVICE web\nRUN ./web ${extra}\n"), PROD("ARG extra=--verbose\n"));
    CHECK_CONTAINS(out, "\"run_command\":\"./web --verbose\"");
    /* ARG declared twice in one file: a warning, the later value wins. */
    out = load1("ARG a=1\nARG a=2\nSERVICE s\nRUN echo ${a}\n");
    CHECK(last_rc == 0);
    CHECK_CONTAINS(out, "\"run_command\":\"echo 2\"");
    CHECK_DIAG(last_diags, "Orchfile:2: warning: ", "ARG a declared again (first at line 1)");
}

static void test_arg_undeclared_and_empty(void)
{
    /* An override for an ARG that no file declares changes nothing: warn. */
    const char *out = load_with(FILES(BASE(arg_base)), ARGS("nosuch=1"), ENV("ORCH_ARG_other=2"));
    CHECK(last_rc == 0);
    CHECK_CONTAINS(out, "\"args\":{\"port\":\"8080\",\"host\":\"127.0.0.1\"}");
    CHECK(strstr(out, "nosuch") == NULL && strstr(out, "other") == NULL);
    CHECK_DIAG(last_diags, "orchd: warning: ", "--arg nosuch: no file declares ARG nosuch");
    CHECK_DIAG(last_diags, "orchd: warning: ", "ORCH_ARG_other, but no file declares ARG other");
    CHECK(count_lines(last_diags) == 2);
    /* An undeclared override does not expand ${name} either. */
    out = load_with(FILES(BASE("SERVICE s\nRUN echo ${ghost}\n")), ARGS("ghost=boo"), NULL);
    CHECK_CONTAINS(out, "\"run_command\":\"echo ${ghost}\"");
    /* An override must be UTF-8 like the files (the JSON cannot carry it). */
    CHECK_ERROR(load_with(FILES(BASE(arg_base)), ARGS("port=80\xff"), NULL), "orchd: ",
                "--arg port: the value is not valid UTF-8");
    CHECK_ERROR(load_with(FILES(BASE(arg_base)), NULL, ENV("ORCH_ARG_host=\xC3")), "orchd: ",
                "ORCH_ARG_host to a value that is not valid UTF-8");
    CHECK_CONTAINS(load_with(FILES(BASE(arg_base)), ARGS("host=h\xC3\xA9"), NULL),
                   "--listen h\xC3\xA9:8080\"");
    /* ARG key= is an empty value, which expands to nothing. */
    out = load1("ARG flags=\nSERVICE s\nRUN ./s${flags} --x\n");
    CHECK_CONTAINS(out, "\"args\":{\"flags\":\"\"}");
    CHECK_CONTAINS(out, "\"run_command\":\"./s --x\"");
    /* ...and a directive left empty by it is an error at its line. */
    CHECK_ERROR(load1("ARG img=\nSERVICE s\nFROM ${img}\n"), "Orchfile:3: ",
                "FROM is empty after expanding '${img}'");
    /* Values may contain '=' and blanks; only the first '=' splits. */
    CHECK_CONTAINS(load1("ARG opts=a=b c\nSERVICE s\nRUN x ${opts}\n"),
                   "\"args\":{\"opts\":\"a=b c\"}");
    /* Typed values are checked after expansion, at the directive's line. */
    CHECK_CONTAINS(load1("ARG mem=512M\nARG port=80\nSERVICE s\nFROM i\nMEMORY ${mem}\n"
                         "PUBLISH ${port}:${port}\n"),
                   "\"publish\":[{\"host\":80,\"container\":80}],\"restart\":{\"policy\":\"no\"},"
                   "\"timeouts\":{},\"resources\":{\"memory\":\"512M\"}");
    CHECK_ERROR(load_with(FILES(BASE("ARG mem=512M\nSERVICE s\nRUN x\n\nMEMORY ${mem}\n")),
                          ARGS("mem=lots"), NULL),
                "Orchfile:5: ", "MEMORY 'lots': expected a size");
    /* Bad ARG declarations. */
    CHECK_ERROR(load1("ARG port\n"), "Orchfile:1: ", "ARG needs name=value (got 'port')");
    CHECK_ERROR(load1("ARG 9lives=1\n"), "Orchfile:1: ", "ARG name '9lives' is invalid");
    CHECK_ERROR(load1("ARG =1\n"), "Orchfile:1: ", "ARG name '' is invalid");
    CHECK_ERROR(load1("ARG\n"), "Orchfile:1: ", "ARG needs a value");
}

static void test_expansion(void)
{
    /* Built-ins are kept for the engine. */
    static const char *const builtins[] = {"ORCH_PROJECT", "ORCH_DATA", "ORCH_STATE_DIR",
                                           "ORCH_CONTAINERS_DIR", "SERVICE_NAME", "PORT_OFFSET",
                                           "CONTAINER_PREFIX"};
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++) {
        char *body = NULL, *want = NULL;
        if (asprintf(&body, "SERVICE s\nRUN run ${%s}/x\n", builtins[i]) < 0 ||
            asprintf(&want, "\"run_command\":\"run ${%s}/x\"", builtins[i]) < 0)
            abort();
        CHECK_CONTAINS(load1(body), want);
        free(body);
        free(want);
    }
    /* Unknown ${x} kept exactly; $x never touched, even when x is an ARG. */
    const char *out = load1("ARG home=/srv\nSERVICE s\n"
                            "RUN echo ${HOME} $home ${home} $${home} ${} ${HOME:-/root}\n");
    CHECK_CONTAINS(out, "\"run_command\":\"echo ${HOME} $home /srv $/srv ${} ${HOME:-/root}\"");
    /* No rescan: an ARG whose value looks like a reference stays as written. */
    CHECK_CONTAINS(load1("ARG a=${b}\nARG b=x\nSERVICE s\nRUN ${a}${b}\n"),
                   "\"run_command\":\"${b}x\"");
    /* Expansion reaches every kind of value (an ENV line is expanded whole,
     * key included). */
    out = load1("ARG v=1\nSERVICE s\nFROM img:${v}\nENV K${v}=${v}\nENV V=${v}\n"
                "ENV_FILE ${v}.env\nVOLUME ./d${v}:/d${v}\nHEALTHCHECK http://h/${v}\n"
                "STDERR /l/${v}\nWORKDIR /w${v}\nCMD c${v}\nENTRYPOINT e${v}\n");
    CHECK_CONTAINS(out, "\"image\":\"img:1\",\"entrypoint\":\"e1\",\"cmd\":\"c1\","
                        "\"volumes\":[{\"source\":\"./d1\",\"destination\":\"/d1\","
                        "\"is_named\":false}],\"workdir\":\"/w1\","
                        "\"env\":{\"K1\":\"1\",\"V\":\"1\"},"
                        "\"env_files\":[\"1.env\"],\"healthcheck\":\"http://h/1\",");
    CHECK_CONTAINS(out, "\"logging\":{\"stderr\":\"/l/1\"}");
    /* Service names and dependency lists after expansion. */
    CHECK_CONTAINS(load1("ARG dep=db\nSERVICE db\nRUN d\nSERVICE s\nRUN s\nREQUIRES ${dep}\n"),
                   "\"requires\":[\"db\"]");
    /* Unterminated ${ is an error with the line, in any directive or ARG. */
    CHECK_ERROR(load1("SERVICE s\n\nRUN echo ${oops\n"), "Orchfile:3: ",
                "RUN: unterminated '${' in value");
    CHECK_ERROR(load1("SERVICE s\nRUN x\nENV A=${b}${c\n"), "Orchfile:3: ",
                "ENV: unterminated '${'");
    CHECK_ERROR(load1("ARG a=${b\n"), "Orchfile:1: ", "ARG a: unterminated '${'");
    CHECK_ERROR(load1("SERVICE s\nRUN x\nREQUIRES ${\n"), "Orchfile:3: ", "unterminated '${'");
}

/* ---- errors --------------------------------------------------------------- */

/* "SERVICE s\n<mode>\n<line>\n" must fail with one error at line 3. */
typedef struct bad_case {
    const char *mode, *line, *gist;
} bad_case;

static const bad_case bad_values[] = {
    /* numbers */
    {"RUN x", "LIMIT_NOFILE lots", "LIMIT_NOFILE 'lots': expected a whole number of at least 1"},
    {"RUN x", "LIMIT_NOFILE -1", "LIMIT_NOFILE '-1': expected a whole number"},
    {"RUN x", "LIMIT_NOFILE 0", "LIMIT_NOFILE '0': expected a whole number of at least 1 (out of range)"},
    {"RUN x", "LIMIT_NPROC 1.5", "LIMIT_NPROC '1.5': expected a whole number"},
    {"RUN x", "TASKS_MAX 99999999999999999999999", "TASKS_MAX '99999999999999999999999'"},
    {"RUN x", "TASKS_MAX 4294967296", "TASKS_MAX '4294967296': expected a whole number of at least 1 (out of range)"},
    {"RUN x", "START_LIMIT_BURST many", "START_LIMIT_BURST 'many': expected a whole number, 0 for no limit"},
    {"RUN x", "IO_WEIGHT 9", "IO_WEIGHT '9': expected a whole number from 10 to 1000 (out of range)"},
    {"RUN x", "IO_WEIGHT 1001", "IO_WEIGHT '1001': expected a whole number from 10 to 1000"},
    {"RUN x", "IO_WEIGHT +50", "IO_WEIGHT '+50'"},
    {"RUN x", "CPUS 0", "CPUS '0': expected a number of cores such as 0.5 or 2 (must be greater than zero)"},
    {"RUN x", "CPUS 1.", "CPUS '1.': expected a number of cores"},
    {"RUN x", "CPUS 4097", "CPUS '4097': expected a number of cores such as 0.5 or 2 (too large"},
    {"RUN x", "CPUS half", "CPUS 'half'"},
    /* durations */
    {"RUN x", "READINESS_TIMEOUT soon", "READINESS_TIMEOUT 'soon': expected a duration such as 30s or 2m"},
    {"RUN x", "RESTART_DELAY soon", "RESTART_DELAY 'soon': expected a duration such as 30s or 2m"},
    {"RUN x", "TIMEOUT_STOP 1d", "TIMEOUT_STOP '1d': expected a duration"},
    {"RUN x", "TIMEOUT_STOP 10ms", "TIMEOUT_STOP '10ms': expected a duration"},
    {"RUN x", "MEMORY 1.5", "MEMORY '1.5': expected a size such as 512M or 2G (a fraction needs a unit"},
    {"RUN x", "MEMORY 1.5T", "MEMORY '1.5T': expected a size"},
    {"RUN x", "TIMEOUT_START 1.5m", "TIMEOUT_START '1.5m': expected a duration"},
    {"RUN x", "RESTART_DELAY s", "RESTART_DELAY 's': expected a duration"},
    {"RUN x", "START_LIMIT_INTERVAL 10 s", "START_LIMIT_INTERVAL '10 s': expected a duration"},
    {"RUN x", "TIMEOUT_STOP 99999999999m", "TIMEOUT_STOP '99999999999m': expected a duration such as 30s or 2m (too long"},
    /* sizes */
    {"RUN x", "MEMORY 12X", "MEMORY '12X': expected a size such as 512M or 2G"},
    {"RUN x", "MEMORY 1GB", "MEMORY '1GB': expected a size"},
    {"RUN x", "MEMORY 0", "MEMORY '0': expected a size such as 512M or 2G (must be greater than zero)"},
    {"RUN x", "MEMORY 99999999999999999999G", "MEMORY '99999999999999999999G': expected a size such as 512M or 2G (too large)"},
    /* percentages */
    {"RUN x", "CPU_QUOTA 50", "CPU_QUOTA '50': expected a percentage such as 50% or 200%"},
    {"RUN x", "CPU_QUOTA 0%", "CPU_QUOTA '0%': expected a percentage such as 50% or 200% (must be at least 1%)"},
    {"RUN x", "CPU_QUOTA 50 %", "CPU_QUOTA '50 %': expected a percentage"},
    /* booleans and keywords */
    {"RUN x", "ONESHOT yes", "ONESHOT 'yes': expected true or false"},
    {"RUN x", "DISABLED True", "DISABLED 'True': expected true or false"},
    {"RUN x", "DISABLED 1", "DISABLED '1': expected true or false"},
    {"RUN x", "RESTART sometimes", "RESTART 'sometimes': expected no, always or on-failure"},
    {"RUN x", "RESTART on_failure", "RESTART 'on_failure': expected no, always or on-failure"},
    {"FROM i", "RECREATE maybe", "RECREATE 'maybe': expected always or never"},
    /* ports */
    {"FROM i", "PUBLISH 80", "PUBLISH '80': expected [address:]host:container"},
    {"FROM i", "PUBLISH 0:80", "PUBLISH '0:80': host port must be a number from 1 to 65535"},
    {"FROM i", "PUBLISH 80:65536", "PUBLISH '80:65536': container port must be a number from 1 to 65535"},
    {"FROM i", "PUBLISH 80:http", "PUBLISH '80:http': container port must be"},
    {"FROM i", "PUBLISH :80:80", "PUBLISH ':80:80': empty address"},
    {"FROM i", "PUBLISH [::1:80:80", "PUBLISH '[::1:80:80': expected ']:' after a bracketed address"},
    /* volumes, env, names */
    {"FROM i", "VOLUME data", "VOLUME 'data': expected source:destination"},
    {"FROM i", "VOLUME data:relative", "VOLUME 'data:relative': destination must be an absolute path"},
    {"FROM i", "VOLUME :/d", "VOLUME ':/d': empty source"},
    {"FROM i", "VOLUME my vol:/d", "VOLUME 'my vol:/d': a volume name must match"},
    {"RUN x", "ENV NOEQUALS", "ENV 'NOEQUALS': expected KEY=value"},
    {"RUN x", "ENV 1BAD=x", "ENV key '1BAD' is invalid: must start with a letter or '_'"},
    {"RUN x", "ENV BAD-KEY=x", "ENV key 'BAD-KEY' is invalid"},
    {"RUN x", "ENV =x", "ENV key '' is invalid: empty key"},
    {"RUN x", "REQUIRES Db", "REQUIRES 'Db': not a service name: must start with a lower-case letter"},
    {"RUN x", "AFTER db_1", "AFTER 'db_1': not a service name: may contain only a-z, 0-9 and '-'"},
    /* unknown directives, missing values */
    {"RUN x", "FOO bar", "unknown directive 'FOO'"},
    {"RUN x", "from img", "unknown directive 'from' (directives are upper case: FROM)"},
    {"RUN x", "Memory 1G", "unknown directive 'Memory' (directives are upper case: MEMORY)"},
    {"RUN x", "SERVICES x", "unknown directive 'SERVICES'"},
    {"RUN x", "MEMORY", "MEMORY needs a value"},
    {"RUN x", "WORKDIR \t ", "WORKDIR needs a value"},
    {"RUN x", "ENV", "ENV needs a value"},
    {"RUN x", "REQUIRES", "REQUIRES needs a value"},
    /* a directive given twice in one service; FROM with RUN */
    {"RUN x", "RUN y", "RUN given twice in service s (first at line 2)"},
    {"RUN x", "FROM img", "service s has both FROM and RUN (RUN at line 2)"},
    {"FROM img", "RUN x", "service s has both FROM and RUN (FROM at line 2)"},
    {"FROM img", "FROM img2", "FROM given twice in service s (first at line 2)"},
};

static void test_bad_values(void)
{
    for (size_t i = 0; i < sizeof bad_values / sizeof *bad_values; i++) {
        const bad_case *c = &bad_values[i];
        char *body = NULL;
        if (asprintf(&body, "SERVICE s\n%s\n%s\nWORKDIR /after\n", c->mode, c->line) < 0)
            abort();
        const char *out = load1(body);
        if (last_rc == 0 || count_lines(out) != 1 || !has_diag(out, "Orchfile:3: ", c->gist))
            fprintf(stderr, "bad value case %zu: %s\n", i, c->line);
        CHECK_ERROR(out, "Orchfile:3: ", c->gist);
        free(body);
    }
    /* Every once-only directive given twice in one service is an error. */
    static const char *const once[] = {
        "ENTRYPOINT e", "CMD c", "WORKDIR /w", "HEALTHCHECK h", "READINESS_TIMEOUT 1s",
        "ONESHOT true", "DISABLED true", "RECREATE never", "RESTART no", "RESTART_DELAY 1s",
        "START_LIMIT_BURST 1", "START_LIMIT_INTERVAL 1s", "TIMEOUT_START 1s", "TIMEOUT_STOP 1s",
        "MEMORY 1M", "CPUS 1", "CPU_QUOTA 1%", "LIMIT_NOFILE 1", "LIMIT_NPROC 1", "TASKS_MAX 1",
        "IO_WEIGHT 10", "STDOUT o", "STDERR e"};
    for (size_t i = 0; i < sizeof once / sizeof *once; i++) {
        char *body = NULL, *gist = NULL;
        size_t kw = strcspn(once[i], " ");
        if (asprintf(&body, "SERVICE s\nFROM i\n%s\n%s\n", once[i], once[i]) < 0 ||
            asprintf(&gist, "%.*s given twice in service s (first at line 3)", (int)kw,
                     once[i]) < 0)
            abort();
        CHECK_ERROR(load1(body), "Orchfile:4: ", gist);
        free(body);
        free(gist);
    }
    CHECK_ERROR(load1("SERVICE s\nRUN r\nUSER a\nSTOP s\nRELOAD r\nUSER b\n"), "Orchfile:6: ",
                "USER given twice in service s (first at line 3)");
}

static void test_structure_errors(void)
{
    /* A directive before any SERVICE. */
    CHECK_ERROR(load1("# header\nFROM nginx\nSERVICE web\nRUN x\n"), "Orchfile:2: ",
                "FROM before any SERVICE");
    CHECK_ERROR(load1("CLEAR ENV\n"), "Orchfile:1: ", "CLEAR before any SERVICE");
    /* Duplicate SERVICE in one file: the second block is ignored, not
     * reported again line by line. */
    CHECK_ERROR(load1("SERVICE web\nRUN a\n\nSERVICE web\nRUN b\nRUN c\n"), "Orchfile:4: ",
                "duplicate SERVICE web (first at line 1)");
    /* Bad service names. */
    CHECK_ERROR(load1("SERVICE Web\nRUN x\n"), "Orchfile:1: ",
                "SERVICE name 'Web' is invalid: must start with a lower-case letter");
    CHECK_ERROR(load1("SERVICE web_1\nRUN x\n"), "Orchfile:1: ", "SERVICE name 'web_1' is invalid");
    CHECK_ERROR(load1("SERVICE a123456789012345678901234567890123456789012345678901234567890123\n"
                      "RUN x\n"),
                "Orchfile:1: ", "longer than 63 characters");
    CHECK_ERROR(load1("SERVICE\nRUN x\n"), "Orchfile:1: ", "SERVICE needs a value");
    CHECK_ERROR(load1("SERVICE a b\nRUN x\n"), "Orchfile:1: ", "SERVICE name 'a b' is invalid");
    /* ORCH_VERSION: unsupported, malformed, late, twice. */
    CHECK_ERROR(load1("ORCH_VERSION 0.3.0\n"), "Orchfile:1: ",
                "unsupported ORCH_VERSION 0.3.0: this orchd reads version 0.2.1");
    CHECK_ERROR(load1("ORCH_VERSION 1.0.0\n"), "Orchfile:1: ", "unsupported ORCH_VERSION 1.0.0");
    CHECK_ERROR(load1("ORCH_VERSION 1.0.1-rc\n"), "Orchfile:1: ",
                "unsupported ORCH_VERSION 1.0.1-rc: this orchd reads version 0.2.1 and earlier "
                "0.x versions, and 1.0.0-rc");
    CHECK_ERROR(load1("ORCH_VERSION 0.2.2\n"), "Orchfile:1: ", "unsupported ORCH_VERSION 0.2.2");
    CHECK_ERROR(load1("ORCH_VERSION latest\n"), "Orchfile:1: ",
                "ORCH_VERSION 'latest' is not a version (expected x.y.z)");
    CHECK_ERROR(load1("ORCH_VERSION 0.2\n"), "Orchfile:1: ", "is not a version");
    CHECK_ERROR(load1("ORCH_VERSION\n"), "Orchfile:1: ", "ORCH_VERSION needs a value");
    CHECK_ERROR(load1("SERVICE a\nRUN x\nORCH_VERSION 0.2.1\n"), "Orchfile:3: ",
                "ORCH_VERSION must come before any SERVICE");
    CHECK_ERROR(load1("ORCH_VERSION 0.2.1\nORCH_VERSION 0.2.1\n"), "Orchfile:2: ",
                "ORCH_VERSION given twice");
    /* Each file may carry its own ORCH_VERSION. */
    CHECK(LOAD(BASE("ORCH_VERSION 0.2.1\n"), PROD("ORCH_VERSION 0.2.0\n")) && last_rc == 0);
}

static void test_file_errors(void)
{
    /* Not UTF-8: the line is named and nothing more of the file is read. */
    CHECK_ERROR(load1("SERVICE a\nRUN x\nENV A=caf\xE9\nFOO\n"), "Orchfile:3: ",
                "not valid UTF-8 (column 10)");
    /* The column counts characters, not bytes. */
    CHECK_ERROR(load1("SERVICE a\nRUN \xC3\xA9\xE2\x9C\x93\xFF\n"), "Orchfile:2: ",
                "not valid UTF-8 (column 7)");
    CHECK_ERROR(load1("SERVICE a\nRUN \xE2\x9C\n"), "Orchfile:2: ", "not valid UTF-8 (column 5)");
    CHECK_ERROR(load1("\xEF\xBB\xBFSERVICE \xFF\n"), "Orchfile:1: ", "not valid UTF-8 (column 9)");
    CHECK_ERROR(load1("SERVICE a\n\xEF\xBB\xBF\xFF\n"), "Orchfile:2: ",
                "not valid UTF-8 (column 2)");
    CHECK_ERROR(load1("SERVICE a\nRUN \xC0\xAF\n"), "Orchfile:2: ", "not valid UTF-8");
    CHECK_ERROR(load1("SERVICE a\nRUN \xED\xA0\x80\n"), "Orchfile:2: ", "not valid UTF-8");
    CHECK_ERROR(load1("\xFF\xFE" "S\0E\0"), "Orchfile:1: ", "not valid UTF-8");
    /* A NUL byte. */
    static const char nul[] = "SERVICE a\nRUN x\n\nRUN a\0b\n";
    CHECK_ERROR(load_with(FILES({"Orchfile", nul, sizeof nul - 1}), NULL, NULL), "Orchfile:4: ",
                "NUL byte in file (column 6)");
    /* A file that cannot be read: named, with the reason. */
    CHECK_ERROR(LOAD(F("missing.orch", NULL)), "missing.orch: ",
                "cannot read: No such file or directory");
    CHECK_ERROR(LOAD(F("missing.yaml", NULL)), "missing.yaml: ", "cannot read");
    /* The other files are still checked and reported. */
    const char *out = LOAD(BASE("SERVICE a\nRUN x\nBOGUS 1\n"), F("missing", NULL));
    CHECK(last_rc != 0);
    CHECK_DIAG(out, "Orchfile:3: ", "unknown directive 'BOGUS'");
    CHECK_DIAG(out, "missing: ", "cannot read");
    /* A directory is not a file. */
    CHECK_ERROR(LOAD(F(".", NULL)), ".: ", "cannot read: Is a directory");
}

static void test_many_errors(void)
{
    /* Every error in a file is reported, top to bottom. */
    const char *out = load1("FROM early\n"                 /* 1: before any SERVICE */
                            "SERVICE web\n"                /* 2 */
                            "RUN ./web\n"                  /* 3 */
                            "MEMORY lots\n"                /* 4: bad size */
                            "FOO bar\n"                    /* 5: unknown */
                            "TIMEOUT_STOP 10d\n"           /* 6: bad duration */
                            "RUN again\n"                  /* 7: twice */
                            "CLEAR WORKDIR\n"              /* 8: scalar */
                            "SERVICE web\n"                /* 9: duplicate */
                            "SERVICE db\n"                 /* 10 */
                            "FROM postgres\n"              /* 11 */
                            "PUBLISH 5432\n"               /* 12: bad port */
                            "ONESHOT yes\n"                /* 13: bad bool */
                            "CPU_QUOTA 50\n"               /* 14: bad percent */
                            "ENV X=${unterminated\n"       /* 15: ${ */
                            "ORCH_VERSION 0.2.1\n");       /* 16: late */
    CHECK(last_rc != 0);
    CHECK(count_lines(out) == 12);
    static const char *const want[] = {
        "Orchfile:1: FROM before any SERVICE",
        "Orchfile:4: MEMORY 'lots'",
        "Orchfile:5: unknown directive 'FOO'",
        "Orchfile:6: TIMEOUT_STOP '10d'",
        "Orchfile:7: RUN given twice",
        "Orchfile:8: CLEAR WORKDIR",
        "Orchfile:9: duplicate SERVICE web",
        "Orchfile:12: PUBLISH '5432'",
        "Orchfile:13: ONESHOT 'yes'",
        "Orchfile:14: CPU_QUOTA '50'",
        "Orchfile:15: ENV: unterminated",
        "Orchfile:16: ORCH_VERSION must come before any SERVICE",
    };
    const char *p = out;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        /* in this order */
        const char *at = p ? strstr(p, want[i]) : NULL;
        CHECK_CONTAINS(p, want[i]);
        p = at ? at + strlen(want[i]) : p;
    }
    /* Errors from several files: by file, in command-line order, then line. */
    out = LOAD(BASE("SERVICE a\nRUN x\nFOO\nBAR 1\n"), PROD("SERVICE a\nBAZ 2\n"));
    CHECK_STR(out, "Orchfile:3: unknown directive 'FOO'\n"
                   "Orchfile:4: unknown directive 'BAR'\n"
                   "Orchfile.prod:2: unknown directive 'BAZ'");
}

static void test_dependencies(void)
{
    /* A cycle names its services. */
    CHECK_ERROR(load1("SERVICE a\nRUN a\nREQUIRES b\nSERVICE b\nRUN b\nREQUIRES a\n"),
                "Orchfile:6: ", "dependency cycle (C4): a -> b -> a");
    /* AFTER edges count for cycles. */
    CHECK_ERROR(load1("SERVICE a\nRUN a\nAFTER c\nSERVICE b\nRUN b\nREQUIRES a\n"
                      "SERVICE c\nRUN c\nAFTER b\n"),
                "Orchfile:6: ", "dependency cycle (C4): a -> c -> b -> a");
    /* A self-dependency, with REQUIRES or AFTER. */
    CHECK_ERROR(load1("SERVICE a\nRUN a\nREQUIRES a\n"), "Orchfile:3: ",
                "dependency cycle (C4): a -> a");
    CHECK_ERROR(load1("SERVICE a\nRUN a\nAFTER b a\n"), "Orchfile:3: ",
                "dependency cycle (C4): a -> a");
    /* An unknown REQUIRES names itself (and the service that needs it). */
    CHECK_ERROR(load1("SERVICE web\nRUN w\nREQUIRES nosuch\n"), "Orchfile:3: ",
                "service web REQUIRES nosuch, which is not defined");
    const char *out = load1("SERVICE web\nRUN w\nREQUIRES db cache\nSERVICE db\nRUN d\n");
    CHECK_ERROR(out, "Orchfile:3: ", "REQUIRES cache, which is not defined");
    CHECK(strstr(out, "REQUIRES db,") == NULL);
    /* AFTER a missing service is fine. */
    out = load1("SERVICE web\nRUN w\nAFTER nosuch\n");
    CHECK(last_rc == 0);
    CHECK_CONTAINS(out, "\"after\":[\"nosuch\"]");
    /* A diamond is not a cycle. */
    CHECK(load1("SERVICE a\nRUN a\nSERVICE b\nRUN b\nREQUIRES a\nSERVICE c\nRUN c\nREQUIRES a\n"
                "SERVICE d\nRUN d\nREQUIRES b c\nAFTER a\n") && last_rc == 0);
    /* Two separate cycles: both reported. */
    out = load1("SERVICE a\nRUN a\nREQUIRES b\nSERVICE b\nRUN b\nREQUIRES a\n"
                "SERVICE c\nRUN c\nAFTER d\nSERVICE d\nRUN d\nAFTER c\n");
    CHECK(count_lines(out) == 2);
    CHECK_DIAG(out, "Orchfile:6: ", "a -> b -> a");
    CHECK_DIAG(out, "Orchfile:12: ", "c -> d -> c");
    /* A very long chain is walked without recursion (it once overflowed the
     * C stack), and a ring that long is still one named cycle. The loads run
     * on a 2 MiB stack, which a recursive walk of 100,000 services exceeds
     * many times over. */
    enum { CHAIN = 100000 };
    size_t cap = (size_t)CHAIN * 48, used = 0;
    char *big = malloc(cap);
    if (!big)
        abort();
    for (int i = 0; i < CHAIN; i++)
        used += (size_t)snprintf(big + used, cap - used, "SERVICE s%d\nRUN x\nREQUIRES s%d\n", i,
                                 i + 1 < CHAIN ? i + 1 : 0);
    out = load1_small_stack(big);
    CHECK(last_rc != 0 && count_lines(out) == 1);
    CHECK(strncmp(out, "Orchfile:300000: dependency cycle (C4): s0 -> s1 -> s2 -> ", 58) == 0);
    CHECK(strstr(out, "-> s99999 -> s0") != NULL);
    used -= strlen("REQUIRES s0\n"); /* the last service requires nothing: no cycle */
    big[used] = '\0';
    CHECK(load1_small_stack(big) && last_rc == 0);
    free(big);
    /* C1 and dependency errors together. */
    out = load1("SERVICE a\nWORKDIR /w\nREQUIRES z\n");
    CHECK(count_lines(out) == 2);
    CHECK_DIAG(out, "Orchfile:1: ", "service a has neither FROM nor RUN");
    CHECK_DIAG(out, "Orchfile:3: ", "REQUIRES z, which is not defined");
}

/* ---- YAML ----------------------------------------------------------------- */

#define YAML(body) F("Orchfile.yaml", body)

/* full_text, written as YAML. */
static const char full_yaml[] =
    "orch_version: 0.2.1\n"
    "args:\n"
    "  tag: 7-alpine\n"
    "  empty: \"\"\n"
    "services:\n"
    "  cache:\n"
    "    from: docker.io/library/redis:${tag}\n"
    "    entrypoint: docker-entrypoint.sh\n"
    "    cmd: redis-server --save \"\"\n"
    "    publish:\n"
    "      - \"127.0.0.1:6379:6379\"\n"
    "      - \"::1:16379:16379\"\n"
    "      - \"8080:80\"\n"
    "    volumes:\n"
    "      - redis-data:/data\n"
    "      - ./conf:/etc/redis\n"
    "    workdir: /data\n"
    "    env:\n"
    "      A: 1\n"
    "      B: ${empty}\n"
    "    env_files: [\"${ORCH_PROJECT}/.env\", cache.env]\n"
    "    healthcheck: redis-cli ping\n"
    "    readiness_timeout: 30s\n"
    "    oneshot: false\n"
    "    disabled: true\n"
    "    recreate: always\n"
    "    restart: on-failure\n"
    "    restart_delay: 2s\n"
    "    start_limit_burst: 3\n"
    "    start_limit_interval: 1m\n"
    "    timeout_start: 2m\n"
    "    timeout_stop: 5s\n"
    "    memory: 256M\n"
    "    cpus: 1.5\n"
    "    cpu_quota: 150%\n"
    "    limit_nofile: 65536\n"
    "    limit_nproc: 512\n"
    "    tasks_max: 64\n"
    "    io_weight: 500\n"
    "    stdout: ${ORCH_STATE_DIR}/logs/${SERVICE_NAME}.out\n"
    "    stderr: /var/log/cache.err\n"
    "  web:\n"
    "    run: ./web --port 8080\n"
    "    user: www-data\n"
    "    stop: kill -TERM $MAINPID\n"
    "    reload: kill -HUP $MAINPID\n"
    "    workdir: backend\n"
    "    requires: [cache]\n"
    "    after:\n"
    "      - cache\n"
    "      - metrics\n"
    "    oneshot: true\n";

/* A base and an overlay exercising ARGs, every merge rule and CLEAR, in both
 * forms. */
static const char rt_base_text[] =
    "ARG version=1.4\n"
    "ARG port=8080\n"
    "SERVICE db\n"
    "FROM postgres:16\n"
    "ENV POSTGRES_DB=app\n"
    "ENV POSTGRES_USER=app\n"
    "PUBLISH 127.0.0.1:5432:5432\n"
    "VOLUME pgdata:/var/lib/postgresql/data\n"
    "HEALTHCHECK pg_isready -U app\n"
    "MEMORY 1G\n"
    "SERVICE migrate\n"
    "FROM localhost/app:${version}\n"
    "CMD app migrate\n"
    "REQUIRES db\n"
    "ONESHOT true\n"
    "SERVICE web\n"
    "RUN ./web --port ${port}\n"
    "USER app\n"
    "ENV_FILE ${ORCH_PROJECT}/.env\n"
    "REQUIRES migrate\n"
    "AFTER cache\n"
    "HEALTHCHECK http://127.0.0.1:${port}/health\n"
    "RESTART on-failure\n"
    "STDOUT ${ORCH_STATE_DIR}/logs/${SERVICE_NAME}.out\n";

static const char rt_base_yaml[] =
    "args:\n"
    "  version: \"1.4\"\n"
    "  port: 8080\n"
    "services:\n"
    "  db:\n"
    "    from: postgres:16\n"
    "    env: {POSTGRES_DB: app, POSTGRES_USER: app}\n"
    "    publish: \"127.0.0.1:5432:5432\"\n"
    "    volume: pgdata:/var/lib/postgresql/data\n"
    "    healthcheck: pg_isready -U app\n"
    "    memory: 1G\n"
    "  migrate:\n"
    "    from: localhost/app:${version}\n"
    "    cmd: app migrate\n"
    "    requires: db\n"
    "    oneshot: true\n"
    "  web:\n"
    "    run: ./web --port ${port}\n"
    "    user: app\n"
    "    env_file: ${ORCH_PROJECT}/.env\n"
    "    requires: [migrate]\n"
    "    after: [cache]\n"
    "    healthcheck: http://127.0.0.1:${port}/health\n"
    "    restart: on-failure\n"
    "    stdout: ${ORCH_STATE_DIR}/logs/${SERVICE_NAME}.out\n";

static const char rt_prod_text[] =
    "ARG version=2.0\n"
    "SERVICE db\n"
    "  ENV POSTGRES_USER=prod\n"
    "  ENV POSTGRES_PASSWORD_FILE=/run/secrets/pg\n"
    "  PUBLISH 0.0.0.0:15432:5432\n"
    "  VOLUME /srv/pg:/var/lib/postgresql/data\n"
    "  MEMORY 4G\n"
    "  CPUS 2\n"
    "SERVICE web\n"
    "  FROM localhost/app:${version}\n"
    "  CMD app serve\n"
    "  CLEAR AFTER\n"
    "  ENV_FILE prod.env\n"
    "  PUBLISH ${port}:${port}\n"
    "  RESTART always\n"
    "SERVICE worker\n"
    "  RUN ./worker\n"
    "  REQUIRES db migrate\n"
    "  TASKS_MAX 32\n";

static const char rt_prod_yaml[] =
    "args: {version: \"2.0\"}\n"
    "services:\n"
    "  db:\n"
    "    env:\n"
    "      - POSTGRES_USER=prod\n"
    "      - POSTGRES_PASSWORD_FILE=/run/secrets/pg\n"
    "    publish: [\"0.0.0.0:15432:5432\"]\n"
    "    volumes: [\"/srv/pg:/var/lib/postgresql/data\"]\n"
    "    memory: 4G\n"
    "    cpus: 2\n"
    "  web:\n"
    "    from: localhost/app:${version}\n"
    "    cmd: app serve\n"
    "    clear: [after]\n"
    "    env_files: [prod.env]\n"
    "    publish: ${port}:${port}\n"
    "    restart: always\n"
    "  worker:\n"
    "    run: ./worker\n"
    "    requires: [db, migrate]\n"
    "    tasks_max: 32\n";

static void test_yaml_round_trip(void)
{
    const char *text = keep(dup_str(load1(full_text)));
    CHECK_STR(text, full_json);
    CHECK_STR(LOAD(YAML(full_yaml)), full_json);
    CHECK_STR(last_diags, "");
    /* .yml is YAML too. */
    CHECK_STR(LOAD(F("compose.yml", full_yaml)), full_json);

    const char *tt = LOAD(BASE(rt_base_text), PROD(rt_prod_text));
    CHECK(last_rc == 0);
    CHECK_STR(LOAD(YAML(rt_base_yaml), F("Orchfile.prod.yaml", rt_prod_yaml)), tt);
    CHECK_STR(LOAD(BASE(rt_base_text), F("Orchfile.prod.yaml", rt_prod_yaml)), tt);
    CHECK_STR(LOAD(YAML(rt_base_yaml), PROD(rt_prod_text)), tt);
    /* The merged result itself, so the four agreeing is not by accident. */
    CHECK_CONTAINS(tt, "\"args\":{\"version\":\"2.0\",\"port\":\"8080\"}");
    CHECK_CONTAINS(tt, "\"env\":{\"POSTGRES_DB\":\"app\",\"POSTGRES_USER\":\"prod\","
                       "\"POSTGRES_PASSWORD_FILE\":\"/run/secrets/pg\"}");
    CHECK_CONTAINS(tt, "\"image\":\"localhost/app:2.0\",\"cmd\":\"app migrate\"");
    CHECK_CONTAINS(tt, "{\"name\":\"web\",\"mode\":\"container\",\"image\":\"localhost/app:2.0\","
                       "\"cmd\":\"app serve\",\"publish\":[{\"host\":8080,\"container\":8080}],"
                       "\"env_files\":[\"${ORCH_PROJECT}/.env\",\"prod.env\"],"
                       "\"requires\":[\"migrate\"],\"healthcheck\":");
    CHECK(strstr(tt, "\"user\"") == NULL && strstr(tt, "\"after\"") == NULL);
    CHECK_CONTAINS(tt, "{\"name\":\"worker\",\"mode\":\"host\",\"run_command\":\"./worker\","
                       "\"requires\":[\"db\",\"migrate\"],");
    CHECK_CONTAINS(tt, "\"resources\":{\"memory\":\"4G\",\"cpus\":2.0}");
    /* Overrides apply to YAML the same way. */
    const char *a = load_with(FILES(BASE(rt_base_text)), ARGS("port=1"), ENV("ORCH_ARG_version=9"));
    const char *b = load_with(FILES(YAML(rt_base_yaml)), ARGS("port=1"), ENV("ORCH_ARG_version=9"));
    CHECK_STR(a, b);
    CHECK_CONTAINS(b, "\"run_command\":\"./web --port 1\"");
}

static void test_yaml_errors(void)
{
    /* Values: line and column of the value. */
    const char *out = LOAD(YAML("services:\n  a:\n    run: x\n    memory: lots\n"));
    CHECK_ERROR(out, "Orchfile.yaml:4:13: ", "MEMORY 'lots': expected a size");
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    from: i\n    publish: [\"80:0\"]\n")),
                "Orchfile.yaml:4:15: ", "PUBLISH '80:0': container port must be");
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: x\n    oneshot: yes\n")),
                "Orchfile.yaml:4:14: ", "ONESHOT 'yes': expected true or false");
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: x\n    timeout_stop: 10d\n")),
                "Orchfile.yaml:4:19: ", "TIMEOUT_STOP '10d': expected a duration");
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: x\n    cpu_quota: 5\n")),
                "Orchfile.yaml:4:16: ", "CPU_QUOTA '5': expected a percentage");
    /* Unknown directive: at the key. */
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: x\n    colour: red\n")),
                "Orchfile.yaml:4:5: ", "unknown directive 'COLOUR'");
    /* Missing value. */
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: x\n    workdir:\n")), "Orchfile.yaml:4:",
                "WORKDIR needs a value");
    /* Duplicate service, directive twice (YAML duplicate keys). */
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: x\n  a:\n    run: y\n")),
                "Orchfile.yaml:4:3: ", "duplicate SERVICE a (first at line 2)");
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: x\n    run: y\n")),
                "Orchfile.yaml:4:10: ", "RUN given twice in service a (first at line 3)");
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: x\n    from: y\n")),
                "Orchfile.yaml:4:11: ", "service a has both FROM and RUN");
    /* CLEAR of a scalar. */
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: x\n    clear: workdir\n")),
                "Orchfile.yaml:4:12: ", "CLEAR WORKDIR: WORKDIR is a single value");
    /* ORCH_VERSION. */
    CHECK_ERROR(LOAD(YAML("orch_version: 9.0.0\n")), "Orchfile.yaml:1:15: ",
                "unsupported ORCH_VERSION 9.0.0");
    /* Unterminated ${. */
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: echo ${x\n")), "Orchfile.yaml:3:10: ",
                "RUN: unterminated '${'");
    /* Syntax errors: line and column from libyaml. */
    out = LOAD(YAML("services:\n  a:\n    run: x\n   bad: [\n"));
    CHECK(last_rc != 0);
    CHECK_DIAG(out, "Orchfile.yaml:4:4: ", "YAML:");
    out = LOAD(YAML("services:\n  a: {run: x\n"));
    CHECK(last_rc != 0);
    CHECK_DIAG(out, "Orchfile.yaml:3:", "YAML:");
    /* What stops a YAML file being read at all. */
    CHECK_ERROR(LOAD(YAML("args:\n  a: &x 1\n  b: 2\n")), "Orchfile.yaml:2:6: ",
                "anchors and aliases are not supported");
    CHECK_ERROR(LOAD(YAML("services: {}\n---\nservices: {}\n")), "Orchfile.yaml:2:1: ",
                "only one YAML document");
    char deep[400];
    snprintf(deep, sizeof deep, "services: %.100s%.100s\n",
             "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
             "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
             "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
             "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
    CHECK_ERROR(LOAD(YAML(deep)), "Orchfile.yaml:1:", "nesting deeper than 64 levels");
    /* Shape errors. */
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: [x, y]\n")), "Orchfile.yaml:3:10: ",
                "services.a.run: expected a single value, found a sequence");
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: x\n    requires: {b: c}\n")),
                "Orchfile.yaml:4:15: ", "services.a.requires");
    CHECK_ERROR(LOAD(YAML("services:\n  - a\n")), "Orchfile.yaml:2:3: ", "services");
    CHECK_ERROR(LOAD(YAML("servicez:\n  a:\n    run: x\n")), "Orchfile.yaml:1:1: ",
                "unknown top-level key 'servicez'");
    /* Constraints on the merged result name the YAML place too. */
    CHECK_ERROR(LOAD(BASE("SERVICE web\nFROM nginx\n"),
                     F("Orchfile.dev.yaml", "services:\n  web:\n    user: root\n")),
                "Orchfile.dev.yaml:3:11: ", "USER is for host services (C3)");
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: x\n    requires: [b]\n"
                          "  b:\n    run: y\n    after: a\n")),
                "Orchfile.yaml:7:12: ", "dependency cycle (C4): a -> b -> a");
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: x\n    requires: [nosuch]\n")),
                "Orchfile.yaml:4:15: ", "service a REQUIRES nosuch, which is not defined");
    /* Not UTF-8, NUL byte. */
    CHECK_ERROR(LOAD(YAML("services:\n  a:\n    run: caf\xE9\n")), "Orchfile.yaml:3:13: ",
                "not valid UTF-8");
    static const char nul[] = "services:\n  a:\n    run: a\0b\n";
    CHECK_ERROR(load_with(FILES({"Orchfile.yaml", nul, sizeof nul - 1}), NULL, NULL),
                "Orchfile.yaml:3:11: ", "NUL byte");
    /* Several errors in one YAML file: all of them. */
    out = LOAD(YAML("services:\n"
                    "  a:\n"
                    "    run: x\n"
                    "    memory: big\n"
                    "    colour: red\n"
                    "  B:\n"
                    "    run: y\n"
                    "  c:\n"
                    "    from: i\n"
                    "    io_weight: 5\n"));
    CHECK(count_lines(out) == 4);
    CHECK_DIAG(out, "Orchfile.yaml:4:13: ", "MEMORY 'big'");
    CHECK_DIAG(out, "Orchfile.yaml:5:5: ", "unknown directive 'COLOUR'");
    CHECK_DIAG(out, "Orchfile.yaml:6:3: ", "SERVICE name 'B' is invalid");
    CHECK_DIAG(out, "Orchfile.yaml:10:16: ", "IO_WEIGHT '5'");
}

int main(void)
{
    if (!mkdtemp(test_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_each_directive();
    test_each_directive_typed();
    test_full_model();
    test_merge_scalars();
    test_merge_lists();
    test_merge_services();
    test_merge_mode_switch();
    test_merge_clear();
    test_merge_constraints();
    test_arg_precedence();
    test_arg_undeclared_and_empty();
    test_expansion();
    test_bad_values();
    test_structure_errors();
    test_file_errors();
    test_many_errors();
    test_dependencies();
    test_yaml_round_trip();
    test_yaml_errors();
    rmdir(test_dir);
    for (size_t i = 0; i < n_kept; i++)
        free(kept[i]);
    free(kept);
    return check_done();
}
