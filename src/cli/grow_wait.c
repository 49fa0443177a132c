/* What `orchd grow` says on a terminal while it waits: every couple of
 * seconds with no news, the services not settled yet and why, e.g.
 *   orchd grow: waiting for web (running, healthcheck failing: exit 1), api (waiting)
 * Only when stderr is a terminal: scripts and tests read the plain output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/request.h"
#include "cli/settings.h"
#include "common/xalloc.h"

static char *last_line;

static const char *str_member(yajl_val v, const char *key)
{
    yajl_val m = orch_reply_member(v, key);
    return m && YAJL_IS_STRING(m) ? YAJL_GET_STRING(m) : NULL;
}

void orch_grow_report_waits(void *settings)
{
    const orch_settings *s = settings;
    int fd = orch_client_connect(s);
    if (fd < 0)
        return;
    orch_request req;
    orch_request_from_settings(&req, ORCH_REQ_SURVEY, s);
    yajl_val reply = orch_client_call(fd, &req, "grow");
    orch_request_free(&req);
    close(fd);
    yajl_val list = reply ? orch_reply_member(reply, "services") : NULL;
    if (!list || !YAJL_IS_ARRAY(list)) {
        yajl_tree_free(reply);
        return;
    }
    char *line = NULL;
    for (size_t i = 0; i < YAJL_GET_ARRAY(list)->len; i++) {
        yajl_val u = YAJL_GET_ARRAY(list)->values[i];
        yajl_val settled = orch_reply_member(u, "settled");
        if (!settled || YAJL_IS_TRUE(settled))
            continue;
        const char *name = str_member(u, "service"), *state = str_member(u, "state");
        const char *err = str_member(u, "error");
        char *part = xasprintf("%s (%s%s%s)", name ? name : "?", state ? state : "?",
                               err ? ", " : "", err ? err : "");
        char *next = line ? xasprintf("%s, %s", line, part) : xstrdup(part);
        free(part);
        free(line);
        line = next;
    }
    yajl_tree_free(reply);
    if (line && (!last_line || strcmp(line, last_line) != 0))
        fprintf(stderr, "orchd grow: waiting for %s\n", line);
    free(last_line);
    last_line = line;
}
