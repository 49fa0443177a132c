/* One function per CLI verb (crun's layout): each gets argv after the verb
 * and returns the process exit code. */
#ifndef ORCH_CLI_H
#define ORCH_CLI_H

int cmd_parse(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_daemon(int argc, char **argv);
int cmd_grow(int argc, char **argv);
int cmd_fell(int argc, char **argv);
int cmd_survey(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_log_relay(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);

/* cmd_pull.c: sends r and shows the {"progress": ...} lines the daemon sends
 * before its reply on out (updating lines on a terminal, a line per finished
 * layer otherwise); returns the reply as orch_client_call does. */
#include <stdio.h>
#include <yajl/yajl_tree.h>
struct orch_request;
struct orch_settings;
yajl_val orch_client_call_progress(int fd, const struct orch_request *r, const char *verb,
                                   FILE *out);
/* While orch_client_call_progress waits with nothing arriving, fn(arg)
 * runs every ms milliseconds (fn NULL: never). */
void orch_client_set_quiet_hook(void (*fn)(void *arg), void *arg, int ms);

/* grow_wait.c: on a terminal, grow says which services it still waits for
 * and why (from a survey, on a second connection). */
void orch_grow_report_waits(void *settings);

/* Connects to the daemon, starting one if none runs; prints why not. */
int orch_client_connect_or_start(const struct orch_settings *s, const char *verb);

/* cmd_parse.c: loads FILE... with --arg NAME=VALUE overrides (the parse,
 * validate and export argument forms) into *m, printing every diagnostic.
 * d (initialised by the caller) keeps the file names the model's origins
 * point at: free it after the model. Returns 0, 1 (the files have errors)
 * or 2 (bad arguments, said why). */
struct orch_model;
struct orch_diags;
int cli_load_model(int argc, char **argv, const char *verb, struct orch_model *m,
                   struct orch_diags *d);

/* Prints every diagnostic as "FILE:LINE: message" to stderr. */
struct orch_diags;
void cli_print_diags(const struct orch_diags *d);

#endif
