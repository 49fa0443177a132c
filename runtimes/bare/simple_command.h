/* A RUN (or helper) line that /bin/sh would only split into words and exec,
 * recognised so that orchd can exec it itself and skip the shell's own
 * start (an exec, a dynamic load and a second exec per service start: most
 * of the CPU a start costs on a small machine; bench/RESULTS.md).
 *
 * Only a line whose every character is plain (letters, digits and
 * _ - . / , : + @ % =, words separated by spaces or tabs) qualifies; a
 * leading `exec` word is dropped; the command word must not be a shell
 * keyword or builtin, nor an assignment (contain '='). Anything else
 * ($, quotes, globs, ~, #, ;, |, &, <, >, (, ), newlines, backslashes...)
 * keeps going through /bin/sh -c, unchanged. */
#ifndef ORCH_BARE_SIMPLE_COMMAND_H
#define ORCH_BARE_SIMPLE_COMMAND_H

#include <stdbool.h>

/* When line is such a command, returns its words in a NULL-terminated
 * vector whose strings live in the one block *storage (free(*storage) and
 * free(vector)); else NULL. */
char **orch_simple_command_split(const char *line, char **storage);

#endif
