/* orchd: one verb per file under src/cli; this only dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"grow", cmd_grow, "bring services up (idempotent); starts the daemon if needed"},
    {"fell", cmd_fell, "stop services; with no names, everything and the daemon"},
    {"survey", cmd_survey, "show every service's state"},
    {"logs", cmd_logs, "print a service's output"},
    {"reload", cmd_reload, "run a service's RELOAD command"},
    {"daemon", cmd_daemon, "run the supervising daemon in the foreground"},
    {"parse", cmd_parse, "print the resolved model of Orchfile(s) as JSON"},
    {"validate", cmd_validate, "check Orchfile(s); print nothing and exit 0 when valid"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *f)
{
    fputs("usage: orchd COMMAND [options]\n\ncommands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nRun 'orchd COMMAND --help' for a command's options.\n", f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0 || strcmp(verb, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(verb, "--version") == 0)
        verb = "version";
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, verb) == 0)
            return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "orchd: unknown command '%s'\n\n", verb);
    usage(stderr);
    return 2;
}
