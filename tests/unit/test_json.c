/* orch_model_to_json on hand-built models: the exact compact text, and pretty
 * text that parses back to the same tree. Also the model.c helpers the JSON
 * code leans on (defaults, mode, find, keywords, free). Run under ASan/LSan:
 * every model is freed with orch_model_free, so a leak there shows. */
#include <math.h> /* NAN */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "check.h"
#include "orchfile/orchfile.h"

/* Exercises every escape yajl must apply, plus raw UTF-8 and '/' (which must
 * stay unescaped). */
#define TRICKY "say \"hi\" C:\\dir\n\ttab\x01 caf\xc3\xa9 \xe2\x9c\x93 /x"
#define TRICKY_JSON "say \\\"hi\\\" C:\\\\dir\\n\\ttab\\u0001 caf\xc3\xa9 \xe2\x9c\x93 /x"

static char *dup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

static void *grow(void *p, size_t n, size_t size)
{
    p = realloc(p, n * size);
    if (!p)
        abort();
    return p;
}

static void strv_push(orch_strv *v, const char *s)
{
    v->v = grow(v->v, v->n + 1, sizeof *v->v);
    v->v[v->n++] = (orch_str){.s = dup(s)};
    v->cap = v->n;
}

static void env_push(orch_service *s, const char *key, const char *value)
{
    s->env = grow(s->env, s->n_env + 1, sizeof *s->env);
    s->env[s->n_env++] = (orch_env){.key = dup(key), .value = dup(value)};
}

static void publish_push(orch_service *s, const char *addr, uint16_t host, uint16_t ctr)
{
    s->publish = grow(s->publish, s->n_publish + 1, sizeof *s->publish);
    s->publish[s->n_publish++] =
        (orch_publish){.address = addr ? dup(addr) : NULL, .host = host, .container = ctr};
}

static void volume_push(orch_service *s, const char *src, const char *dst, bool named)
{
    s->volumes = grow(s->volumes, s->n_volumes + 1, sizeof *s->volumes);
    s->volumes[s->n_volumes++] =
        (orch_volume){.source = dup(src), .destination = dup(dst), .is_named = named};
}

static void arg_push(orch_model *m, const char *name, const char *value)
{
    m->args = grow(m->args, m->n_args + 1, sizeof *m->args);
    m->args[m->n_args++] = (orch_arg){.name = dup(name), .value = dup(value)};
}

/* Appends a service with defaults and the given name; returns it. */
static orch_service *service_push(orch_model *m, const char *name)
{
    m->services = grow(m->services, m->n_services + 1, sizeof *m->services);
    orch_service *s = &m->services[m->n_services++];
    orch_service_defaults(s);
    s->name = dup(name);
    return s;
}

/* Every field set, even ones C1-C3 would reject together (RUN with FROM,
 * USER in container mode): the serializer does not validate, and this way
 * every key is covered. */
static void fill_container(orch_service *s)
{
    s->image = dup("docker.io/library/nginx:1.25");
    s->run_command = dup("echo unused");
    s->entrypoint = dup("/docker-entrypoint.sh");
    s->cmd = dup("nginx -g 'daemon off;'");
    publish_push(s, "::1", 8080, 80);
    publish_push(s, NULL, 8443, 443);
    volume_push(s, "data", "/var/lib/data", true);
    volume_push(s, "./conf", "/etc/nginx", false);
    s->user = dup("www");
    s->stop_command = dup("nginx -s quit");
    s->reload_command = dup("nginx -s reload");
    s->workdir = dup("/srv");
    env_push(s, "ZED", "last-alphabetically-first-inserted");
    env_push(s, "TRICKY", TRICKY);
    env_push(s, "EMPTY", "");
    strv_push(&s->env_files, "/etc/web.env");
    strv_push(&s->env_files, ".env");
    strv_push(&s->requires, "db");
    strv_push(&s->requires, "cache");
    strv_push(&s->after, "log");
    s->healthcheck = dup("http://127.0.0.1:8080/health");
    s->readiness_timeout = 30;
    s->oneshot = true;
    s->disabled = true;
    s->recreate = ORCH_RECREATE_ALWAYS;
    s->restart = ORCH_RESTART_ON_FAILURE;
    s->restart_delay = 2;
    s->start_limit_burst = 0;
    s->start_limit_interval = 60;
    s->timeout_start = 120;
    s->timeout_stop = 5;
    s->memory = 268435456;
    s->cpus = 0.1 + 0.2; /* 0.30000000000000004 in binary */
    s->cpu_quota = 150;
    s->limit_nofile = 65536;
    s->limit_nproc = 4096;
    s->tasks_max = 64;
    s->io_weight = 500;
    s->stdout_path = dup("/var/log/web.out");
    s->stderr_path = dup("/var/log/web.err");
    s->set = ~(uint64_t)0 >> (64 - ORCH_F__COUNT);
    /* The text the directives were written with, which the reference shape
     * carries (deliberately not always the canonical unit: 2m for 120s). */
    s->written[ORCH_F_READINESS_TIMEOUT] = dup("30");
    s->written[ORCH_F_RESTART_DELAY] = dup("2s");
    s->written[ORCH_F_START_LIMIT_INTERVAL] = dup("1m");
    s->written[ORCH_F_TIMEOUT_START] = dup("2m");
    s->written[ORCH_F_TIMEOUT_STOP] = dup("5s");
    s->written[ORCH_F_MEMORY] = dup("256M");
    s->written[ORCH_F_CPU_QUOTA] = dup("150%");
}

static void build_model(orch_model *m)
{
    memset(m, 0, sizeof *m);
    arg_push(m, "web_port", "8080");
    arg_push(m, "empty", "");
    fill_container(service_push(m, "web"));
    service_push(m, "worker")->run_command = dup("./worker --port ${PORT_OFFSET}");
}

/* The typed form (ORCH_JSON_TYPED): seconds, bytes, percent, defaults. */
static const char expected_typed[] =
    "{\"version\":\"0.2.1\",\"args\":{\"web_port\":\"8080\",\"empty\":\"\"},\"services\":["
    "{\"name\":\"web\",\"mode\":\"container\","
    "\"image\":\"docker.io/library/nginx:1.25\",\"run_command\":\"echo unused\","
    "\"entrypoint\":\"/docker-entrypoint.sh\",\"cmd\":\"nginx -g 'daemon off;'\","
    "\"publish\":[{\"address\":\"::1\",\"host\":8080,\"container\":80},"
    "{\"host\":8443,\"container\":443}],"
    "\"volumes\":[{\"source\":\"data\",\"destination\":\"/var/lib/data\",\"is_named\":true},"
    "{\"source\":\"./conf\",\"destination\":\"/etc/nginx\",\"is_named\":false}],"
    "\"user\":\"www\",\"stop_command\":\"nginx -s quit\","
    "\"reload_command\":\"nginx -s reload\",\"workdir\":\"/srv\","
    "\"env\":{\"ZED\":\"last-alphabetically-first-inserted\",\"TRICKY\":\"" TRICKY_JSON "\","
    "\"EMPTY\":\"\"},"
    "\"env_files\":[\"/etc/web.env\",\".env\"],\"requires\":[\"db\",\"cache\"],"
    "\"after\":[\"log\"],\"healthcheck\":\"http://127.0.0.1:8080/health\","
    "\"readiness_timeout\":30,\"oneshot\":true,\"disabled\":true,\"recreate\":\"always\","
    "\"restart\":{\"policy\":\"on_failure\",\"delay\":2,\"start_limit_burst\":0,"
    "\"start_limit_interval\":60},"
    "\"timeouts\":{\"start\":120,\"stop\":5},"
    "\"resources\":{\"memory\":268435456,\"cpus\":0.3,\"cpu_quota\":150,"
    "\"limit_nofile\":65536,\"limit_nproc\":4096,\"tasks_max\":64,\"io_weight\":500},"
    "\"logging\":{\"stdout\":\"/var/log/web.out\",\"stderr\":\"/var/log/web.err\"}},"
    "{\"name\":\"worker\",\"mode\":\"host\",\"run_command\":\"./worker --port ${PORT_OFFSET}\","
    "\"readiness_timeout\":90,\"oneshot\":false,\"disabled\":false,\"recreate\":\"never\","
    "\"restart\":{\"policy\":\"no\",\"delay\":1,\"start_limit_burst\":5,"
    "\"start_limit_interval\":10},"
    "\"timeouts\":{\"start\":90,\"stop\":10}}"
    "]}";

/* The reference shape (the default): durations, memory and cpu_quota as
 * written, cpus a float, nothing the Orchfile did not write except
 * restart.policy, and resources/logging always present. */
static const char expected_compact[] =
    "{\"version\":\"0.2.1\",\"args\":{\"web_port\":\"8080\",\"empty\":\"\"},\"services\":["
    "{\"name\":\"web\",\"mode\":\"container\","
    "\"image\":\"docker.io/library/nginx:1.25\",\"run_command\":\"echo unused\","
    "\"entrypoint\":\"/docker-entrypoint.sh\",\"cmd\":\"nginx -g 'daemon off;'\","
    "\"publish\":[{\"address\":\"::1\",\"host\":8080,\"container\":80},"
    "{\"host\":8443,\"container\":443}],"
    "\"volumes\":[{\"source\":\"data\",\"destination\":\"/var/lib/data\",\"is_named\":true},"
    "{\"source\":\"./conf\",\"destination\":\"/etc/nginx\",\"is_named\":false}],"
    "\"user\":\"www\",\"stop_command\":\"nginx -s quit\","
    "\"reload_command\":\"nginx -s reload\",\"workdir\":\"/srv\","
    "\"env\":{\"ZED\":\"last-alphabetically-first-inserted\",\"TRICKY\":\"" TRICKY_JSON "\","
    "\"EMPTY\":\"\"},"
    "\"env_files\":[\"/etc/web.env\",\".env\"],\"requires\":[\"db\",\"cache\"],"
    "\"after\":[\"log\"],\"healthcheck\":\"http://127.0.0.1:8080/health\","
    "\"readiness_timeout\":\"30\",\"oneshot\":true,\"disabled\":true,\"recreate\":\"always\","
    "\"restart\":{\"policy\":\"on_failure\",\"delay\":\"2s\",\"start_limit_burst\":0,"
    "\"start_limit_interval\":\"1m\"},"
    "\"timeouts\":{\"start\":\"2m\",\"stop\":\"5s\"},"
    "\"resources\":{\"memory\":\"256M\",\"cpus\":0.3,\"cpu_quota\":\"150%\","
    "\"limit_nofile\":65536,\"limit_nproc\":4096,\"tasks_max\":64,\"io_weight\":500},"
    "\"logging\":{\"stdout\":\"/var/log/web.out\",\"stderr\":\"/var/log/web.err\"}},"
    "{\"name\":\"worker\",\"mode\":\"host\",\"run_command\":\"./worker --port ${PORT_OFFSET}\","
    "\"restart\":{\"policy\":\"no\"},\"timeouts\":{},\"resources\":{},\"logging\":{}}"
    "]}";

/* Structural equality, key order included (the order is part of the output
 * contract). Numbers compare by their text. */
static bool tree_equal(yajl_val a, yajl_val b)
{
    if (!a || !b || a->type != b->type)
        return false;
    switch (a->type) {
    case yajl_t_string: return strcmp(a->u.string, b->u.string) == 0;
    case yajl_t_number: return strcmp(a->u.number.r, b->u.number.r) == 0;
    case yajl_t_object:
        if (a->u.object.len != b->u.object.len)
            return false;
        for (size_t i = 0; i < a->u.object.len; i++)
            if (strcmp(a->u.object.keys[i], b->u.object.keys[i]) != 0 ||
                !tree_equal(a->u.object.values[i], b->u.object.values[i]))
                return false;
        return true;
    case yajl_t_array:
        if (a->u.array.len != b->u.array.len)
            return false;
        for (size_t i = 0; i < a->u.array.len; i++)
            if (!tree_equal(a->u.array.values[i], b->u.array.values[i]))
                return false;
        return true;
    default: return true; /* true, false, null: the type says it all */
    }
}

static yajl_val parse(const char *text)
{
    char err[256] = "";
    yajl_val v = yajl_tree_parse(text, err, sizeof err);
    if (!v)
        fprintf(stderr, "yajl_tree_parse: %s\n", err);
    return v;
}

static const char *get_str(yajl_val root, const char **path)
{
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);
    return v ? YAJL_GET_STRING(v) : NULL;
}

static const char *get_num(yajl_val root, const char **path)
{
    yajl_val v = yajl_tree_get(root, path, yajl_t_number);
    return v ? YAJL_GET_NUMBER(v) : NULL;
}

static yajl_val service_at(yajl_val root, size_t i)
{
    const char *path[] = {"services", NULL};
    yajl_val a = yajl_tree_get(root, path, yajl_t_array);
    return a && i < a->u.array.len ? a->u.array.values[i] : NULL;
}

static void check_values(yajl_val root, const orch_model *m)
{
    CHECK_STR(get_str(root, (const char *[]){"version", NULL}), ORCH_SPEC_VERSION);
    CHECK_STR(get_str(root, (const char *[]){"args", "web_port", NULL}), "8080");
    yajl_val web = service_at(root, 0), worker = service_at(root, 1);
    CHECK(web && worker && !service_at(root, 2));
    /* Escapes decode back to the model's bytes. */
    CHECK_STR(get_str(web, (const char *[]){"env", "TRICKY", NULL}), m->services[0].env[1].value);
    CHECK_STR(get_str(web, (const char *[]){"restart", "policy", NULL}), "on_failure");
    CHECK_STR(get_num(web, (const char *[]){"resources", "cpus", NULL}), "0.3");
    CHECK_STR(get_str(web, (const char *[]){"resources", "memory", NULL}), "256M");
    CHECK_STR(get_str(web, (const char *[]){"timeouts", "start", NULL}), "2m");
    CHECK(YAJL_IS_TRUE(yajl_tree_get(web, (const char *[]){"oneshot", NULL}, yajl_t_any)));
    CHECK_STR(get_str(worker, (const char *[]){"mode", NULL}), "host");
    CHECK(YAJL_IS_OBJECT(yajl_tree_get(worker, (const char *[]){"resources", NULL}, yajl_t_any)));
    CHECK(!yajl_tree_get(worker, (const char *[]){"env", NULL}, yajl_t_any));
    CHECK(!yajl_tree_get(worker, (const char *[]){"oneshot", NULL}, yajl_t_any));
    CHECK(!yajl_tree_get(worker, (const char *[]){"readiness_timeout", NULL}, yajl_t_any));
    CHECK(YAJL_IS_OBJECT(yajl_tree_get(worker, (const char *[]){"logging", NULL}, yajl_t_any)));
}

static void test_full_model(void)
{
    orch_model m;
    build_model(&m);
    char *compact = orch_model_to_json(&m, 0);
    char *pretty = orch_model_to_json(&m, 1);
    CHECK_STR(compact, expected_compact);
    char *typed = orch_model_to_json(&m, ORCH_JSON_TYPED);
    CHECK_STR(typed, expected_typed);
    free(typed);
    CHECK(pretty && strlen(pretty) > 1 && pretty[strlen(pretty) - 1] == '\n');
    CHECK_CONTAINS(pretty, "\n  \"services\": [\n");
    CHECK(compact && !strchr(compact, '\n'));

    yajl_val tc = compact ? parse(compact) : NULL, tp = pretty ? parse(pretty) : NULL;
    CHECK(tc && tp);
    CHECK(tree_equal(tp, tc));
    if (tp)
        check_values(tp, &m);
    yajl_tree_free(tc);
    yajl_tree_free(tp);
    free(compact);
    free(pretty);
    orch_model_free(&m);
    CHECK(m.services == NULL && m.n_services == 0 && m.args == NULL);
}

static void test_empty_model(void)
{
    orch_model m = {0};
    char *compact = orch_model_to_json(&m, 0);
    char *pretty = orch_model_to_json(&m, 1);
    CHECK_STR(compact, "{\"version\":\"0.2.1\",\"args\":{},\"services\":[]}");
    /* Empty containers stay on one line, not yajl's "{\n\n  }". */
    CHECK_STR(pretty, "{\n  \"version\": \"0.2.1\",\n  \"args\": {},\n  \"services\": []\n}\n");
    yajl_val tc = compact ? parse(compact) : NULL, tp = pretty ? parse(pretty) : NULL;
    CHECK(tc && tp && tree_equal(tp, tc));
    yajl_tree_free(tc);
    yajl_tree_free(tp);
    free(compact);
    free(pretty);
}

/* JSON of a model with one host service "s" whose only set field is f. */
static char *one_field_json(orch_field f, void (*setup)(orch_service *), unsigned flags)
{
    orch_model m = {0};
    orch_service *s = service_push(&m, "s");
    s->run_command = dup("true");
    s->set = ORCH_BIT(f);
    setup(s);
    char *json = orch_model_to_json(&m, flags);
    orch_model_free(&m);
    return json;
}

#define CPUS_CASE(name, value)                                                  \
    static void name(orch_service *s) { s->cpus = (value); }
CPUS_CASE(cpus_two, 2.0)
CPUS_CASE(cpus_eighth, 0.125)
CPUS_CASE(cpus_third, 1.0 / 3)
CPUS_CASE(cpus_max, 4096)
CPUS_CASE(cpus_nan, NAN)
static void memory_max(orch_service *s) { s->memory = UINT64_MAX; }
static void io_weight_default(orch_service *s) { (void)s; }

static void check_resources(void (*setup)(orch_service *), orch_field f, const char *want)
{
    char *json = one_field_json(f, setup, ORCH_JSON_TYPED);
    CHECK_CONTAINS(json, want);
    free(json);
}

static void test_resources(void)
{
    check_resources(cpus_two, ORCH_F_CPUS, "\"resources\":{\"cpus\":2}}]}");
    check_resources(cpus_eighth, ORCH_F_CPUS, "\"resources\":{\"cpus\":0.125}}]}");
    check_resources(cpus_third, ORCH_F_CPUS, "\"resources\":{\"cpus\":0.333}}]}");
    check_resources(cpus_max, ORCH_F_CPUS, "\"resources\":{\"cpus\":4096}}]}");
    /* uint64_t beyond LLONG_MAX keeps its value. */
    check_resources(memory_max, ORCH_F_MEMORY,
                    "\"resources\":{\"memory\":18446744073709551615}}]}");
    /* io_weight appears only when set, even though the model holds 100. */
    check_resources(io_weight_default, ORCH_F_IO_WEIGHT, "\"resources\":{\"io_weight\":100}}]}");
    char *json = one_field_json(ORCH_F_TASKS_MAX, io_weight_default, ORCH_JSON_TYPED);
    CHECK_CONTAINS(json, "\"resources\":{\"tasks_max\":0}}]}");
    free(json);
    /* NaN has no JSON form: left out, and so is the then-empty object. */
    json = one_field_json(ORCH_F_CPUS, cpus_nan, ORCH_JSON_TYPED);
    CHECK(json && !strstr(json, "resources"));
    free(json);
}

static void check_reference(void (*setup)(orch_service *), orch_field f, const char *want)
{
    char *json = one_field_json(f, setup, 0);
    CHECK_CONTAINS(json, want);
    free(json);
}

static void memory_written(orch_service *s)
{
    s->memory = 3ull << 29;
    s->written[ORCH_F_MEMORY] = dup("1.5G");
}
static void stop_unwritten(orch_service *s) { s->timeout_stop = 7; }

/* The reference shape of resources: cpus a float with at least one decimal,
 * sizes as written, an empty object rather than none. */
static void test_resources_reference(void)
{
    check_reference(cpus_two, ORCH_F_CPUS, "\"resources\":{\"cpus\":2.0},");
    check_reference(cpus_eighth, ORCH_F_CPUS, "\"resources\":{\"cpus\":0.125},");
    check_reference(cpus_max, ORCH_F_CPUS, "\"resources\":{\"cpus\":4096.0},");
    check_reference(memory_written, ORCH_F_MEMORY, "\"resources\":{\"memory\":\"1.5G\"},");
    check_reference(io_weight_default, ORCH_F_IO_WEIGHT, "\"resources\":{\"io_weight\":100},");
    check_reference(cpus_nan, ORCH_F_CPUS, "\"resources\":{},\"logging\":{}}]}");
    /* A model built in code has no text: the value in the directive's unit. */
    check_reference(memory_max, ORCH_F_MEMORY,
                    "\"resources\":{\"memory\":\"18446744073709551615\"},");
    check_reference(stop_unwritten, ORCH_F_TIMEOUT_STOP, "\"timeouts\":{\"stop\":\"7s\"},");
}

static void test_invalid_utf8(void)
{
    orch_model m = {0};
    arg_push(&m, "bad", "\xff\xfe");
    CHECK(orch_model_to_json(&m, 0) == NULL);
    CHECK(orch_model_to_json(&m, 1) == NULL);
    orch_model_free(&m);
}

static void test_model_helpers(void)
{
    CHECK_STR(orch_field_keyword(ORCH_F_FROM), "FROM");
    CHECK_STR(orch_field_keyword(ORCH_F_ENV_FILE), "ENV_FILE");
    CHECK_STR(orch_field_keyword(ORCH_F_START_LIMIT_INTERVAL), "START_LIMIT_INTERVAL");
    CHECK_STR(orch_field_keyword(ORCH_F_STDERR), "STDERR");
    CHECK(orch_field_keyword(ORCH_F__COUNT) == NULL);
    for (int f = 0; f < ORCH_F__COUNT; f++)
        CHECK(orch_field_keyword((orch_field)f) != NULL);

    orch_service s;
    orch_service_defaults(&s);
    CHECK(s.readiness_timeout == 90 && s.restart == ORCH_RESTART_NO && s.restart_delay == 1);
    CHECK(s.start_limit_burst == 5 && s.start_limit_interval == 10);
    CHECK(s.timeout_start == 90 && s.timeout_stop == 10 && s.io_weight == 100);
    CHECK(s.recreate == ORCH_RECREATE_NEVER && !s.oneshot && !s.disabled);
    CHECK(s.set == 0 && s.name == NULL && s.memory == 0 && s.n_env == 0);
    CHECK(orch_service_mode(&s) == ORCH_MODE_NONE);

    orch_model m;
    build_model(&m);
    CHECK(orch_service_mode(&m.services[0]) == ORCH_MODE_CONTAINER);
    CHECK(orch_service_mode(&m.services[1]) == ORCH_MODE_HOST);
    CHECK(orch_model_find(&m, "worker") == &m.services[1]);
    CHECK(orch_model_find(&m, "web") == &m.services[0]);
    CHECK(orch_model_find(&m, "nope") == NULL);
    CHECK(orch_model_find(&m, NULL) == NULL);
    orch_service_free(&m.services[0]);
    CHECK(m.services[0].name == NULL && m.services[0].n_env == 0 && m.services[0].set == 0);
    orch_model_free(&m); /* freeing an already-freed (zeroed) service is a no-op */
}

int main(void)
{
    test_full_model();
    test_empty_model();
    test_resources();
    test_resources_reference();
    test_invalid_utf8();
    test_model_helpers();
    return check_done();
}
