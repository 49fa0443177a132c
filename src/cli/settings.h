/* Where orchd's settings come from, strongest first: a CLI flag, an
 * environment variable, a .orchrc file (KEY=value; the project dir's, then
 * $HOME's), the default. See docs/SETTINGS.md. */
#ifndef ORCH_SETTINGS_H
#define ORCH_SETTINGS_H

#include <stddef.h>

typedef struct orch_kv_arg {
    char *name;
    char *value;
} orch_kv_arg;

typedef struct orch_settings {
    char *orchfile;   /* absolute */
    char **overlays;  /* absolute */
    size_t n_overlays;
    char *state_dir;
    char *data_dir;
    char *project_dir;
    char *namespace_;
    char *runtime;
    char *containerd_socket;
    char *vm_kernel; /* "" when not given */
    char *port_offset; /* ${PORT_OFFSET}: decimal 0-65535, default "0" */
    unsigned long long log_max_size; /* ORCH_LOG_MAX_SIZE, bytes; 0: never rotate */
    unsigned log_keep;               /* ORCH_LOG_KEEP */
    orch_kv_arg *args; /* --arg, in order */
    size_t n_args;
    char **names; /* positional SERVICE names */
    size_t n_names;
    /* verb-specific flags */
    int json;
    int follow;
    long lines;
    int timestamps; /* logs -t */
    int no_prefix;  /* logs --no-prefix */
    char *since;    /* logs --since */
    int watch;      /* survey --watch */
    int keep_data;
    int poweroff;
    char *pull;
    char **rerun; /* grow --rerun NAME (repeatable) */
    size_t n_rerun;
} orch_settings;

/* Parses argv (after the verb) and resolves every setting. flags names which
 * verb-specific flags are accepted ("json", "follow", "lines", "keep-data",
 * "poweroff", "pull"), separated by commas. Returns 0, 1 for --help (usage
 * printed), or -1 after printing an error. */
int orch_settings_parse(orch_settings *s, const char *verb, const char *flags, int argc,
                        char **argv);
void orch_settings_free(orch_settings *s);

/* Where an older orchd kept data by default (<state>/data, on a tmpfs
 * for root): grow warns when something is still there (malloc'ed). */
char *orch_settings_old_data_dir(const orch_settings *s);

/* The files of the model, base first (orchfile then overlays). */
size_t orch_settings_files(const orch_settings *s, const char ***files);

#endif
