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

/* Prints every diagnostic as "FILE:LINE: message" to stderr. */
struct orch_diags;
void cli_print_diags(const struct orch_diags *d);

#endif
