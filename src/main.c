/* orchd: one verb per file under src/cli; this only dispatches. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
    {"pull", cmd_pull, "pull the images of FROM services ahead of time"},
    {"import", cmd_import, "import an OCI image archive or layout into containerd"},
    {"export", cmd_export, "write an Orchfile as Kubernetes manifests or a compose file"},
    {"daemon", cmd_daemon, "run the supervising daemon in the foreground"},
    {"init", cmd_init, "run as process 1 of a machine (docs/PID1.md)"},
    {"parse", cmd_parse, "print the resolved model of Orchfile(s) as JSON"},
    {"validate", cmd_validate, "check Orchfile(s); print nothing and exit 0 when valid"},
    {"version", cmd_version, "print the version"},
    {"log-relay", cmd_log_relay, "containerd's logger for a container's output (internal)"},
};

static void usage(FILE *f)
{
    fputs("usage: orchd COMMAND [options]\n\ncommands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nRun 'orchd COMMAND --help' for a command's options.\n", f);
}

/* The kernel starts /init (or /sbin/init, or init=) with its unknown command
 * line words as arguments, and panics if process 1 exits: as process 1 under
 * the name init, with no arguments, or with a first argument that is no
 * command, orchd is the machine's init whatever the arguments say. */
static int started_as_init(int argc, char **argv)
{
    if (getpid() != 1)
        return 0;
    if (argc < 2)
        return 1;
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strcmp(argv[1], "init") == 0)
        return 0;
    if (strcmp(base, "init") == 0)
        return 1;
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, argv[1]) == 0)
            return 0;
    return strcmp(argv[1], "--version") != 0 && strcmp(argv[1], "--help") != 0 &&
           strcmp(argv[1], "-h") != 0 && strcmp(argv[1], "help") != 0;
}

/* Settings flags that take a value: they may come before the command as
 * well (`orchd --orchfile X --runtime containerd grow`, as upstream's
 * scripts write it). */
static const char *const value_flags[] = {"-f", "--orchfile", "--overlay", "--state-dir",
                                          "--data-dir", "--project-dir", "--namespace",
                                          "--runtime", "--containerd-socket", "--vm-kernel",
                                          "--port-offset", "--arg"};

static int is_value_flag(const char *a)
{
    for (size_t i = 0; i < sizeof value_flags / sizeof *value_flags; i++)
        if (strcmp(a, value_flags[i]) == 0)
            return 2; /* the flag and its value */
    return 0;
}

/* Moves leading settings flags behind the command word: argv becomes
 * [orchd, COMMAND, flags..., rest...]. Returns 0, or -1 (said why) for a
 * word before the command that is not a settings flag. */
static int hoist_command(int argc, char **argv)
{
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        int k = is_value_flag(argv[i]);
        if (k == 0) {
            fprintf(stderr, "orchd: '%s' before the command is not a settings flag\n", argv[i]);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "orchd: %s needs a value\n", argv[i]);
            return -1;
        }
        i += k;
    }
    if (i >= argc) {
        fprintf(stderr, "orchd: no command after the settings flags\n");
        return -1;
    }
    char *verb = argv[i];
    memmove(argv + 2, argv + 1, (size_t)(i - 1) * sizeof *argv);
    argv[1] = verb;
    return 0;
}

int main(int argc, char **argv)
{
    /* Run by containerd's shim as <state>/orchd-log-relay, with only
     * "--key value" pairs in random order (cli/cmd_log_relay.c). */
    const char *self = argc > 0 ? strrchr(argv[0], '/') : NULL;
    if (self && strcmp(self + 1, "orchd-log-relay") == 0)
        return cmd_log_relay(argc - 1, argv + 1);
    if (started_as_init(argc, argv))
        return cmd_init(0, argv + argc);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (argv[1][0] == '-' && is_value_flag(argv[1]) && hoist_command(argc, argv) != 0)
        return 2;
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
