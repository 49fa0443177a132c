#ifndef ORCH_CLI_REQUEST_H
#define ORCH_CLI_REQUEST_H

#include "protocol/protocol.h"
#include "cli/settings.h"

/* Fills r for kind from the resolved settings (names, and for grow the
 * files, args, ORCH_ARG_* environment, project/data dirs and namespace). */
void orch_request_from_settings(orch_request *r, orch_req_kind kind, const orch_settings *s);

struct orch_model;
/* Loads the settings' Orchfiles as the daemon will, printing every
 * diagnostic (so bad input never reaches, or starts, a daemon), and checks
 * that each named service exists. Returns 0 with *m filled (the caller
 * frees it), or -1. */
int orch_cli_load_model(const orch_settings *s, const char *verb, struct orch_model *m);

#endif
