/* The resolved model as JSON, the interchange form (docs/JSON.md). Keys come
 * in a fixed order so the output is stable for diffs and golden tests; absent
 * optional values are omitted, never written as null. */
#include "orchfile/orchfile.h"

#include <inttypes.h>
#include <math.h> /* isfinite: a macro, needs no libm */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

/* A generator and its first failure. Every writer is a no-op once something
 * failed, so the structure code below needs no per-call checks. */
typedef struct jw {
    yajl_gen g;
    yajl_gen_status st;
    bool typed; /* ORCH_JSON_TYPED: seconds, bytes, percent, defaults filled in */
} jw;

#define JW_STEP(w, call)                                                        \
    do {                                                                        \
        if ((w)->st == yajl_gen_status_ok)                                      \
            (w)->st = (call);                                                   \
    } while (0)

static void map_open(jw *w) { JW_STEP(w, yajl_gen_map_open(w->g)); }
static void map_close(jw *w) { JW_STEP(w, yajl_gen_map_close(w->g)); }
static void array_open(jw *w) { JW_STEP(w, yajl_gen_array_open(w->g)); }
static void array_close(jw *w) { JW_STEP(w, yajl_gen_array_close(w->g)); }
static void boolean(jw *w, bool b) { JW_STEP(w, yajl_gen_bool(w->g, b)); }

static void str(jw *w, const char *s)
{
    JW_STEP(w, yajl_gen_string(w->g, (const unsigned char *)s, strlen(s)));
}

/* Numbers are written as text: uint64_t values above LLONG_MAX would not
 * survive yajl_gen_integer's long long. */
static void number_text(jw *w, const char *text)
{
    JW_STEP(w, yajl_gen_number(w->g, text, strlen(text)));
}

static void gen_uint(jw *w, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    number_text(w, buf);
}

/* At most 3 decimals, trailing zeros dropped: 0.5 -> "0.5", 2.0 -> "2",
 * 0.1 + 0.2 -> "0.3". "%.3f" rounds in decimal, so binary noise such as
 * 0.50000000001 never shows; unlike "%g" it never switches to an exponent. */
static void gen_cpus(jw *w, double v)
{
    char buf[400]; /* "%.3f" of DBL_MAX is 313 characters */
    snprintf(buf, sizeof buf, "%.3f", v);
    char *end = buf + strlen(buf);
    while (end[-1] == '0')
        *--end = '\0';
    /* The reference shape writes a float, "2.0"; the typed form "2". */
    if (end[-1] == '.') {
        if (w->typed)
            *--end = '\0';
        else
            *end++ = '0', *end = '\0';
    }
    number_text(w, buf);
}

/* Omitted when value is NULL. A NULL key (a broken model) is skipped too,
 * rather than crashing in strlen. */
static void kv_str(jw *w, const char *key, const char *value)
{
    if (!key || !value)
        return;
    str(w, key);
    str(w, value);
}

static void kv_uint(jw *w, const char *key, uint64_t value)
{
    str(w, key);
    gen_uint(w, value);
}

static void kv_bool(jw *w, const char *key, bool value)
{
    str(w, key);
    boolean(w, value);
}

static void kv_strv(jw *w, const char *key, const orch_strv *v)
{
    if (v->n == 0)
        return;
    str(w, key);
    array_open(w);
    for (size_t i = 0; i < v->n; i++)
        str(w, v->v[i].s);
    array_close(w);
}

static void gen_publish(jw *w, const orch_service *s)
{
    if (s->n_publish == 0)
        return;
    str(w, "publish");
    array_open(w);
    for (size_t i = 0; i < s->n_publish; i++) {
        const orch_publish *p = &s->publish[i];
        map_open(w);
        kv_str(w, "address", p->address);
        kv_uint(w, "host", p->host);
        kv_uint(w, "container", p->container);
        map_close(w);
    }
    array_close(w);
}

static void gen_volumes(jw *w, const orch_service *s)
{
    if (s->n_volumes == 0)
        return;
    str(w, "volumes");
    array_open(w);
    for (size_t i = 0; i < s->n_volumes; i++) {
        const orch_volume *v = &s->volumes[i];
        map_open(w);
        kv_str(w, "source", v->source);
        kv_str(w, "destination", v->destination);
        kv_bool(w, "is_named", v->is_named);
        map_close(w);
    }
    array_close(w);
}

static void gen_env(jw *w, const orch_service *s)
{
    if (s->n_env == 0)
        return;
    str(w, "env");
    map_open(w);
    for (size_t i = 0; i < s->n_env; i++)
        kv_str(w, s->env[i].key, s->env[i].value ? s->env[i].value : "");
    map_close(w);
}

static const char *restart_name(orch_restart_policy p)
{
    switch (p) {
    case ORCH_RESTART_ALWAYS: return "always";
    case ORCH_RESTART_ON_FAILURE: return "on_failure";
    case ORCH_RESTART_NO: break;
    }
    return "no";
}

static bool has(const orch_service *s, orch_field f)
{
    return (s->set & ORCH_BIT(f)) != 0;
}

/* A duration (or size, or percentage): in the typed form the number in
 * seconds (bytes, percent), always written; in the reference shape the text
 * as written, omitted when the directive was not given. */
static void kv_written(jw *w, const orch_service *s, orch_field f, const char *key,
                       uint64_t typed_value)
{
    if (w->typed) {
        kv_uint(w, key, typed_value);
        return;
    }
    if (!has(s, f))
        return;
    if (s->written[f]) {
        kv_str(w, key, s->written[f]);
        return;
    }
    /* A model built in code has no text: write the value in the unit the
     * directive would use (seconds, bytes, percent). */
    char buf[32];
    const char *unit = f == ORCH_F_MEMORY ? "" : f == ORCH_F_CPU_QUOTA ? "%" : "s";
    snprintf(buf, sizeof buf, "%" PRIu64 "%s", typed_value, unit);
    kv_str(w, key, buf);
}

/* A count or boolean the reference omits unless given; typed, the default
 * is filled in. */
static bool want(const jw *w, const orch_service *s, orch_field f)
{
    return w->typed || has(s, f);
}

static void gen_restart(jw *w, const orch_service *s)
{
    str(w, "restart");
    map_open(w);
    kv_str(w, "policy", restart_name(s->restart));
    kv_written(w, s, ORCH_F_RESTART_DELAY, "delay", s->restart_delay);
    if (want(w, s, ORCH_F_START_LIMIT_BURST))
        kv_uint(w, "start_limit_burst", s->start_limit_burst);
    kv_written(w, s, ORCH_F_START_LIMIT_INTERVAL, "start_limit_interval",
               s->start_limit_interval);
    map_close(w);
}

static void gen_timeouts(jw *w, const orch_service *s)
{
    str(w, "timeouts");
    map_open(w);
    kv_written(w, s, ORCH_F_TIMEOUT_START, "start", s->timeout_start);
    kv_written(w, s, ORCH_F_TIMEOUT_STOP, "stop", s->timeout_stop);
    map_close(w);
}

/* NaN or infinity has no JSON form; the CPUS parser never produces one, but
 * a hand-built model could, and it is left out rather than emitted broken. */
static bool has_cpus(const orch_service *s)
{
    return has(s, ORCH_F_CPUS) && isfinite(s->cpus);
}

static void kv_uint_if(jw *w, const orch_service *s, orch_field f, const char *key,
                       uint64_t value)
{
    if (has(s, f))
        kv_uint(w, key, value);
}

static bool has_resources(const orch_service *s)
{
    const uint64_t bits = ORCH_BIT(ORCH_F_MEMORY) | ORCH_BIT(ORCH_F_CPU_QUOTA) |
                          ORCH_BIT(ORCH_F_LIMIT_NOFILE) | ORCH_BIT(ORCH_F_LIMIT_NPROC) |
                          ORCH_BIT(ORCH_F_TASKS_MAX) | ORCH_BIT(ORCH_F_IO_WEIGHT);
    return (s->set & bits) != 0 || has_cpus(s);
}

/* The typed form omits an empty object; the reference always writes it. */
static void gen_resources(jw *w, const orch_service *s)
{
    if (w->typed && !has_resources(s))
        return;
    str(w, "resources");
    map_open(w);
    if (has(s, ORCH_F_MEMORY))
        kv_written(w, s, ORCH_F_MEMORY, "memory", s->memory);
    if (has_cpus(s)) {
        str(w, "cpus");
        gen_cpus(w, s->cpus);
    }
    if (has(s, ORCH_F_CPU_QUOTA))
        kv_written(w, s, ORCH_F_CPU_QUOTA, "cpu_quota", s->cpu_quota);
    kv_uint_if(w, s, ORCH_F_LIMIT_NOFILE, "limit_nofile", s->limit_nofile);
    kv_uint_if(w, s, ORCH_F_LIMIT_NPROC, "limit_nproc", s->limit_nproc);
    kv_uint_if(w, s, ORCH_F_TASKS_MAX, "tasks_max", s->tasks_max);
    kv_uint_if(w, s, ORCH_F_IO_WEIGHT, "io_weight", s->io_weight);
    map_close(w);
}

static void gen_logging(jw *w, const orch_service *s)
{
    if (w->typed && !s->stdout_path && !s->stderr_path)
        return;
    str(w, "logging");
    map_open(w);
    kv_str(w, "stdout", s->stdout_path);
    kv_str(w, "stderr", s->stderr_path);
    map_close(w);
}

static void gen_service(jw *w, const orch_service *s)
{
    bool container = orch_service_mode(s) == ORCH_MODE_CONTAINER;
    map_open(w);
    kv_str(w, "name", s->name);
    kv_str(w, "mode", container ? "container" : "host");
    kv_str(w, "image", s->image);
    kv_str(w, "run_command", s->run_command);
    kv_str(w, "entrypoint", s->entrypoint);
    kv_str(w, "cmd", s->cmd);
    gen_publish(w, s);
    gen_volumes(w, s);
    kv_str(w, "user", s->user);
    kv_str(w, "stop_command", s->stop_command);
    kv_str(w, "reload_command", s->reload_command);
    kv_str(w, "workdir", s->workdir);
    gen_env(w, s);
    kv_strv(w, "env_files", &s->env_files);
    kv_strv(w, "requires", &s->requires);
    kv_strv(w, "after", &s->after);
    kv_str(w, "healthcheck", s->healthcheck);
    kv_written(w, s, ORCH_F_READINESS_TIMEOUT, "readiness_timeout", s->readiness_timeout);
    if (want(w, s, ORCH_F_ONESHOT))
        kv_bool(w, "oneshot", s->oneshot);
    if (want(w, s, ORCH_F_DISABLED))
        kv_bool(w, "disabled", s->disabled);
    if (want(w, s, ORCH_F_RECREATE))
        kv_str(w, "recreate", s->recreate == ORCH_RECREATE_ALWAYS ? "always" : "never");
    gen_restart(w, s);
    gen_timeouts(w, s);
    gen_resources(w, s);
    gen_logging(w, s);
    map_close(w);
}

static void gen_model(jw *w, const orch_model *m)
{
    map_open(w);
    kv_str(w, "version", ORCH_SPEC_VERSION);
    str(w, "args");
    map_open(w);
    for (size_t i = 0; i < m->n_args; i++)
        kv_str(w, m->args[i].name, m->args[i].value ? m->args[i].value : "");
    map_close(w);
    str(w, "services");
    array_open(w);
    for (size_t i = 0; i < m->n_services; i++)
        gen_service(w, &m->services[i]);
    array_close(w);
    map_close(w);
}

/* yajl's beautifier writes an empty object or array as "{\n\n  }". JSON text
 * holds a raw newline only as whitespace (yajl escapes it inside strings), so
 * an opener followed by two newlines is always an empty container and can be
 * collapsed to "{}" in place. Returns the new length. */
static size_t collapse_empty(char *s, size_t len)
{
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        s[out++] = s[i];
        if ((s[i] != '{' && s[i] != '[') || i + 2 >= len || s[i + 1] != '\n' ||
            s[i + 2] != '\n')
            continue;
        size_t j = i + 3;
        while (j < len && s[j] == ' ')
            j++;
        if (j < len && (s[j] == '}' || s[j] == ']')) {
            s[out++] = s[j];
            i = j;
        }
    }
    return out;
}

/* Copies the generator's buffer into a string the caller frees. yajl already
 * ends beautified output with a newline; one is added only if that changes. */
static char *take_buffer(yajl_gen g, int pretty)
{
    const unsigned char *buf;
    size_t len;
    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
        return NULL;
    char *out = malloc(len + 2); /* room for a newline and the NUL */
    if (!out)
        return NULL;
    memcpy(out, buf, len);
    if (pretty) {
        len = collapse_empty(out, len);
        if (len == 0 || out[len - 1] != '\n')
            out[len++] = '\n';
    }
    out[len] = '\0';
    return out;
}

char *orch_model_to_json(const orch_model *m, unsigned flags)
{
    const int pretty = (flags & ORCH_JSON_PRETTY) != 0;
    jw w = {.g = yajl_gen_alloc(NULL),
            .st = yajl_gen_status_ok,
            .typed = (flags & ORCH_JSON_TYPED) != 0};
    if (!w.g)
        return NULL;
    /* Invalid UTF-8 (say, from an ORCH_ARG_ environment variable) fails the
     * whole conversion instead of producing JSON no reader accepts. */
    yajl_gen_config(w.g, yajl_gen_validate_utf8, 1);
    if (pretty) {
        yajl_gen_config(w.g, yajl_gen_beautify, 1);
        yajl_gen_config(w.g, yajl_gen_indent_string, "  ");
    }
    gen_model(&w, m);
    char *out = w.st == yajl_gen_status_ok ? take_buffer(w.g, pretty) : NULL;
    yajl_gen_free(w.g);
    return out;
}
