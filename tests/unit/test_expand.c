/* Unit tests for ${var} expansion (src/orchfile/expand.c). */
#include <stdlib.h>

#include "check.h"
#include "orchfile/expand.h"

/* A lookup over a NULL-terminated {name, value, ...} table that also counts
 * its calls and remembers the last name it was asked for. */
typedef struct table {
    const char *const *kv;
    int calls;
    char last[64];
} table;

static const char *table_lookup(void *ctx, const char *name)
{
    table *t = ctx;
    t->calls++;
    snprintf(t->last, sizeof t->last, "%s", name);
    for (size_t i = 0; t->kv[i]; i += 2)
        if (strcmp(t->kv[i], name) == 0)
            return t->kv[i + 1];
    return NULL;
}

static const char *const vars[] = {
    "web_port", "8080",
    "host", "127.0.0.1",
    "empty", "",
    "self", "${self}",        /* a value that looks like a reference */
    "nested", "${web_port}",
    "dollar", "$",
    "a", "A",
    "b", "B",
    NULL,
};

static void expands_to(const char *in, const char *want)
{
    table t = {vars, 0, ""};
    char *out = orch_expand(in, table_lookup, &t);
    CHECK_STR(out, want);
    free(out);
}

static const char *lookup_none(void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return NULL;
}

/* Returns its argument: the result must be copied before the name is freed. */
static const char *lookup_echo(void *ctx, const char *name)
{
    (void)ctx;
    return name;
}

static void test_expand(void)
{
    /* resolved references */
    expands_to("${web_port}", "8080");
    expands_to("./web --port ${web_port}", "./web --port 8080");
    expands_to("http://${host}:${web_port}/health", "http://127.0.0.1:8080/health");
    expands_to("${a}${b}${a}", "ABA");
    expands_to("x${empty}y", "xy");
    expands_to("${empty}", "");
    expands_to("${dollar}{a}", "${a}"); /* the substituted '$' does not start a reference */

    /* unknown names and built-ins are kept as written */
    expands_to("echo ${HOME}", "echo ${HOME}");
    expands_to("${ORCH_STATE_DIR}/logs/${SERVICE_NAME}.out", "${ORCH_STATE_DIR}/logs/${SERVICE_NAME}.out");
    expands_to("${HOME}:${web_port}", "${HOME}:8080");
    expands_to("${WEB_PORT}", "${WEB_PORT}"); /* names are case-sensitive */
    expands_to("${ web_port}", "${ web_port}");
    expands_to("${web_port:-80}", "${web_port:-80}");

    /* no recursion: substituted values are not rescanned */
    expands_to("${self}", "${self}");
    expands_to("${nested}", "${web_port}");
    expands_to("${nested}${web_port}", "${web_port}8080");

    /* $ without braces and lone $ are untouched; no escape syntax */
    expands_to("$web_port", "$web_port");
    expands_to("$", "$");
    expands_to("a $ b", "a $ b");
    expands_to("cost: 5$", "cost: 5$");
    expands_to("$$", "$$");
    expands_to("{web_port}", "{web_port}");
    expands_to("$${web_port}", "$8080");
    expands_to("$$${a}", "$$A");
    expands_to("$(pwd)", "$(pwd)");
    expands_to("}${a}}", "}A}");

    /* empty ${} is kept literally */
    expands_to("${}", "${}");
    expands_to("x${}y${a}", "x${}yA");

    /* a reference ends at the first '}' */
    expands_to("${a ${b}", "${a ${b}");
    expands_to("${a}}", "A}");

    /* unterminated "${" is copied as is (the caller reports it) */
    expands_to("${web_port", "${web_port");
    expands_to("${", "${");
    expands_to("${a}${b", "A${b");
    expands_to("port ${web_port} ${", "port 8080 ${");

    /* plain text and empty input */
    expands_to("", "");
    expands_to("no references here", "no references here");
    expands_to("caf\xc3\xa9 ${a}", "caf\xc3\xa9 A");

    /* the lookup sees the bare name, and is not called for "${}" */
    table t = {vars, 0, ""};
    char *out = orch_expand("${}", table_lookup, &t);
    CHECK(t.calls == 0);
    free(out);
    out = orch_expand("x ${web_port} y ${nope} ${a", table_lookup, &t);
    CHECK(t.calls == 2);
    CHECK_STR(t.last, "nope");
    CHECK_STR(out, "x 8080 y ${nope} ${a");
    free(out);

    /* a lookup that knows nothing leaves the string unchanged */
    const char *same = "a ${b} $c ${ ${d";
    out = orch_expand(same, lookup_none, NULL);
    CHECK_STR(out, same);
    CHECK(out != same);
    free(out);

    out = orch_expand("<${abc}>", lookup_echo, NULL);
    CHECK_STR(out, "<abc>");
    free(out);

    /* growth well past the input length */
    static const char *const big[] = {"x", "0123456789012345678901234567890123456789", NULL};
    table tb = {big, 0, ""};
    char in[1000] = "";
    for (int i = 0; i < 200; i++)
        strcat(in, "${x}");
    out = orch_expand(in, table_lookup, &tb);
    CHECK(out && strlen(out) == 200 * 40);
    CHECK(out && strncmp(out, big[1], 40) == 0 && strcmp(out + 199 * 40, big[1]) == 0);
    CHECK(tb.calls == 200);
    free(out);
}

static void test_find_unterminated(void)
{
    CHECK(orch_find_unterminated("") == -1);
    CHECK(orch_find_unterminated("plain") == -1);
    CHECK(orch_find_unterminated("${a}") == -1);
    CHECK(orch_find_unterminated("${a} ${b}") == -1);
    CHECK(orch_find_unterminated("${}") == -1);
    CHECK(orch_find_unterminated("$a $ {a") == -1);
    CHECK(orch_find_unterminated("$") == -1);
    CHECK(orch_find_unterminated("{") == -1);
    CHECK(orch_find_unterminated("}") == -1);
    CHECK(orch_find_unterminated("${a ${b}") == -1); /* the first '}' closes it */
    CHECK(orch_find_unterminated("${") == 0);
    CHECK(orch_find_unterminated("${a") == 0);
    CHECK(orch_find_unterminated("echo ${a") == 5);
    CHECK(orch_find_unterminated("${a} ${b") == 5);
    CHECK(orch_find_unterminated("${a} ${b ${c") == 5);
    CHECK(orch_find_unterminated("$${") == 1);
    CHECK(orch_find_unterminated("} ${") == 2);
    CHECK(orch_find_unterminated("${a}}${") == 5);
}

static void test_builtins(void)
{
    const char *yes[] = {"ORCH_PROJECT", "ORCH_DATA", "ORCH_STATE_DIR", "ORCH_CONTAINERS_DIR",
                         "SERVICE_NAME", "PORT_OFFSET", "CONTAINER_PREFIX"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        CHECK(orch_is_builtin_var(yes[i]));
    const char *no[] = {"", "orch_project", "ORCH_PROJECTS", "ORCH_", "HOME", "PATH",
                        "SERVICE", "ORCH_VERSION", "web_port", "ORCH_PROJECT "};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        CHECK(!orch_is_builtin_var(no[i]));
}

int main(void)
{
    test_expand();
    test_find_unterminated();
    test_builtins();
    return check_done();
}
