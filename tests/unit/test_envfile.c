/* Unit tests for ENV_FILE parsing (src/common/envfile.c). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <string.h>

#include "check.h"
#include "common/envfile.h"
#include "proc_helpers.h"
#include "common/xalloc.h"

static orch_kvlist parse_ok(const char *text)
{
    orch_kvlist l = {0};
    char *err = NULL;
    CHECK(orch_envfile_parse(text, strlen(text), "t.env", &l, &err) == 0);
    if (err)
        fprintf(stderr, "  unexpected error: %s\n", err);
    free(err);
    return l;
}

static void parse_bad(const char *text, const char *want)
{
    orch_kvlist l = {0};
    char *err = NULL;
    CHECK(orch_envfile_parse(text, strlen(text), "t.env", &l, &err) == -1);
    CHECK_STR(err, want);
    free(err);
    orch_kvlist_free(&l);
}

static void test_basics(void)
{
    orch_kvlist l = parse_ok("# a comment\n"
                             "\n"
                             "   \t\n"
                             "A=1\n"
                             "  # indented comment\n"
                             "B=two words\n"
                             "export C=3\n"
                             "D=\n"
                             "E = spaced  \n"
                             "F=a#b\n"
                             "G=value # trailing comment\n"
                             "_x9=ok\n"
                             "URL=http://h/?a=b&c=d\n"
                             "A=override\n");
    CHECK(l.n == 9);
    CHECK_STR(orch_kvlist_get(&l, "A"), "override");
    CHECK_STR(l.v[0].key, "A"); /* keeps the place of its first appearance */
    CHECK_STR(orch_kvlist_get(&l, "B"), "two words");
    CHECK_STR(orch_kvlist_get(&l, "C"), "3");
    CHECK_STR(orch_kvlist_get(&l, "D"), "");
    CHECK_STR(orch_kvlist_get(&l, "E"), "spaced");
    CHECK_STR(orch_kvlist_get(&l, "F"), "a#b");
    CHECK_STR(orch_kvlist_get(&l, "G"), "value");
    CHECK_STR(orch_kvlist_get(&l, "_x9"), "ok");
    CHECK_STR(orch_kvlist_get(&l, "URL"), "http://h/?a=b&c=d");
    CHECK(orch_kvlist_get(&l, "export") == NULL);
    orch_kvlist_free(&l);
}

static void test_quotes(void)
{
    orch_kvlist l = parse_ok("S='single $HOME \\n \"x\"'\n"
                             "D=\"say \\\"hi\\\" \\\\ back\\n\"\n"
                             "E=\"\"\n"
                             "H='# not a comment'\n"
                             "C=\"v\"   # comment after quotes\n"
                             "W=\"  kept  \"\n"
                             "CRLF=yes\r\n"
                             "export=literal\n");
    CHECK_STR(orch_kvlist_get(&l, "S"), "single $HOME \\n \"x\"");
    CHECK_STR(orch_kvlist_get(&l, "D"), "say \"hi\" \\ back\\n");
    CHECK_STR(orch_kvlist_get(&l, "E"), "");
    CHECK_STR(orch_kvlist_get(&l, "H"), "# not a comment");
    CHECK_STR(orch_kvlist_get(&l, "C"), "v");
    CHECK_STR(orch_kvlist_get(&l, "W"), "  kept  ");
    CHECK_STR(orch_kvlist_get(&l, "CRLF"), "yes");
    CHECK_STR(orch_kvlist_get(&l, "export"), "literal");
    orch_kvlist_free(&l);

    /* no newline at the end of the last line */
    l = parse_ok("LAST=1");
    CHECK_STR(orch_kvlist_get(&l, "LAST"), "1");
    orch_kvlist_free(&l);
}

static void test_errors(void)
{
    const char *form = "expected KEY=value with KEY made of letters, digits and '_'";
    char *want = xasprintf("t.env:3: %s", form);
    parse_bad("A=1\n# ok\nnot a variable\n", want);
    free(want);
    want = xasprintf("t.env:1: %s", form);
    parse_bad("1A=x\n", want);
    parse_bad("A-B=x\n", want);
    parse_bad("export\n", want);
    parse_bad("=x\n", want);
    free(want);
    parse_bad("A=1\nB='open\n", "t.env:2: unterminated single-quoted value");
    parse_bad("\n\nB=\"open\\\"\n", "t.env:3: unterminated double-quoted value");
    parse_bad("B=\"x\"y\n", "t.env:1: unexpected text after the closing quote");
    parse_bad("B='x' y\n", "t.env:1: unexpected text after the closing quote");

    orch_kvlist l = {0};
    char *err = NULL;
    CHECK(orch_envfile_parse("A=1\0B=2\n", 8, "bin.env", &l, &err) == -1);
    CHECK_CONTAINS(err, "bin.env: contains a NUL byte");
    free(err);
    orch_kvlist_free(&l);
}

static void test_files(void)
{
    char *dir = test_mkdtemp();
    char *good = xasprintf("%s/good.env", dir);
    char *bad = xasprintf("%s/bad.env", dir);
    char *missing = xasprintf("%s/missing.env", dir);
    test_write(good, "A=from-file\nB=2\n");
    test_write(bad, "# header\nOK=1\nBROKEN LINE\n");

    orch_kvlist l = {0};
    orch_kvlist_set(&l, "A", "before");
    char *err = NULL;
    CHECK(orch_envfile_read(good, &l, &err) == 0);
    CHECK_STR(orch_kvlist_get(&l, "A"), "from-file");
    char **envp = orch_kvlist_envp(&l);
    CHECK_STR(envp[0], "A=from-file");
    CHECK_STR(envp[1], "B=2");
    CHECK(envp[2] == NULL);
    orch_strv_free(envp);

    CHECK(orch_envfile_read(bad, &l, &err) == -1);
    char *want = xasprintf("%s:3: ", bad);
    CHECK_CONTAINS(err, want);
    free(want);
    free(err);
    err = NULL;

    CHECK(orch_envfile_read(missing, &l, &err) == -1);
    want = xasprintf("%s: No such file or directory", missing);
    CHECK_STR(err, want);
    free(want);
    free(err);

    orch_kvlist_free(&l);
    test_rm_rf(dir);
    free(good);
    free(bad);
    free(missing);
    free(dir);
}

/* What must never reach the parser: a FIFO (opening it would block the
 * daemon's loop), a device (/dev/zero never ends), a file over the cap. */
static void test_refused(void)
{
    char *dir = test_mkdtemp();
    char *fifo = xasprintf("%s/fifo.env", dir);
    char *big = xasprintf("%s/big.env", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    FILE *f = fopen(big, "w");
    CHECK(f != NULL);
    for (size_t i = 0; f && i <= ORCH_ENVFILE_MAX / 8; i++)
        fputs("A=12345\n", f);
    if (f)
        fclose(f);
    struct {
        const char *path, *want;
    } cases[] = {
        {fifo, "is a FIFO, not a regular file"},
        {"/dev/zero", "is a character device, not a regular file"},
        {dir, "is a directory, not a regular file"},
        {big, "is larger than 1048576 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        orch_kvlist l = {0};
        char *err = NULL;
        time_t t0 = time(NULL);
        CHECK(orch_envfile_read(cases[i].path, &l, &err) == -1);
        CHECK(time(NULL) - t0 < 2);
        char *want = xasprintf("%s: %s", cases[i].path, cases[i].want);
        CHECK_STR(err, want);
        CHECK(l.n == 0);
        free(want);
        free(err);
        orch_kvlist_free(&l);
    }
    test_rm_rf(dir);
    free(fifo);
    free(big);
    free(dir);
}

int main(void)
{
    test_basics();
    test_quotes();
    test_errors();
    test_files();
    test_refused();
    return check_done();
}
