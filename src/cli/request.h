#ifndef ORCH_CLI_REQUEST_H
#define ORCH_CLI_REQUEST_H

#include "daemon/protocol.h"
#include "settings.h"

/* Fills r for kind from the resolved settings (names, and for grow the
 * files, args, ORCH_ARG_* environment, project/data dirs and namespace). */
void orch_request_from_settings(orch_request *r, orch_req_kind kind, const orch_settings *s);

#endif
