/* Which command lines orchd execs itself instead of through /bin/sh -c
 * (runtimes/bare/simple_command.c): only those the shell would merely split
 * into words and exec. */
#include <stdlib.h>

#include "bare/simple_command.h"
#include "check.h"

/* The words joined by '|', or NULL when the line is left to the shell. */
static char *split(const char *line)
{
    char *storage;
    char **v = orch_simple_command_split(line, &storage);
    if (!v)
        return NULL;
    static char out[256];
    out[0] = '\0';
    for (char **w = v; *w; w++) {
        if (w != v)
            strcat(out, "|");
        strcat(out, *w);
    }
    free(v);
    free(storage);
    return out;
}

int main(void)
{
    CHECK_STR(split("exec sleep 5"), "sleep|5");
    CHECK_STR(split("sleep 5"), "sleep|5");
    CHECK_STR(split("  exec\t/usr/bin/env  -i  A=1 x,y:z+@%.  "), "/usr/bin/env|-i|A=1|x,y:z+@%.");
    CHECK_STR(split("./run-me --port=80"), "./run-me|--port=80");

    /* the shell would do more than split: expansions, quoting, globs, tilde,
     * comments, redirections, pipes, lists, subshells, escapes, newlines */
    const char *shell[] = {
        "sleep $N", "sleep \"5\"", "sleep '5'", "ls *", "ls a?", "ls [ab]", "ls ~", "ls ~/x",
        "sleep 5 # c", "echo >f", "cat <f", "a | b", "a && b", "a; b", "a &", "(a)", "a\\ b",
        "a\nb", "sleep `x`", "a{b,c}", "sleep 5!", "a^b",
        /* builtins and keywords mean something else than the file PATH finds */
        "echo hi", "exec echo hi", "printf x", "test -f x", "[ -f x ]", "kill 1", "cd /",
        "true", "exit 0", "exec", "exec  ", "exec -a x sleep", "if", "while", "export A",
        "ulimit -n 5", ". ./x", ": x",
        /* an assignment before the command */
        "A=1 sleep 5", "exec A=1",
        "", "   ",
    };
    for (size_t i = 0; i < sizeof shell / sizeof *shell; i++) {
        char *got = split(shell[i]);
        if (got)
            fprintf(stderr, "  %s: split as %s\n", shell[i], got);
        CHECK(got == NULL);
    }
    return check_done();
}
