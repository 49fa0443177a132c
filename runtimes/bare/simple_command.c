#include "bare/simple_command.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

static bool plain_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("_-./,:+@%=", c) != NULL;
}

/* dash's and bash's keywords and builtins: a command by one of these names
 * is the shell's, not the file PATH would find (echo and printf differ). */
static bool shell_word(const char *w)
{
    static const char *const words[] = {
        "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "function",
        "if", "in", "then", "until", "while", "select", "time", "[[", "]]",
        ".", ":", "[", "alias", "bg", "break", "builtin", "cd", "chdir", "command", "continue",
        "declare", "echo", "enable", "eval", "exec", "exit", "export", "false", "fc", "fg",
        "getopts", "hash", "help", "history", "jobs", "kill", "let", "local", "logout",
        "mapfile", "printf", "pwd", "read", "readarray", "readonly", "return", "set", "shift",
        "shopt", "source", "suspend", "test", "times", "trap", "true", "type", "typeset",
        "ulimit", "umask", "unalias", "unset", "wait",
    };
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcmp(w, words[i]) == 0)
            return true;
    return false;
}

char **orch_simple_command_split(const char *line, char **storage)
{
    *storage = NULL;
    size_t n = 0;
    for (const char *p = line; *p; p++) {
        if (*p == ' ' || *p == '\t')
            continue;
        if (!plain_char(*p))
            return NULL;
        if (p == line || p[-1] == ' ' || p[-1] == '\t')
            n++;
    }
    if (n == 0)
        return NULL;
    char *buf = xstrdup(line);
    char **v = xcalloc(n + 1, sizeof *v);
    size_t k = 0;
    for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
        v[k++] = w;
    char **cmd = v;
    if (strcmp(cmd[0], "exec") == 0)
        cmd++;
    /* `exec` alone, `exec -opt`, a builtin, an assignment: the shell's. */
    if (!cmd[0] || cmd[0][0] == '-' || shell_word(cmd[0]) || strchr(cmd[0], '=')) {
        free(v);
        free(buf);
        return NULL;
    }
    if (cmd != v)
        memmove(v, cmd, (size_t)(k - (size_t)(cmd - v) + 1) * sizeof *v);
    *storage = buf;
    return v;
}
