/* The CLI side of the control socket: plain blocking I/O, no event loop (the
 * CLI does one request and leaves). */
#ifndef ORCH_CLIENT_H
#define ORCH_CLIENT_H

#include <yajl/yajl_tree.h>

#include "protocol/protocol.h"
#include "cli/settings.h"

/* Connects to the daemon of s->state_dir. Returns a fd, or -1 (errno set:
 * ENOENT/ECONNREFUSED mean no daemon runs there). */
int orch_client_connect(const orch_settings *s);
/* Sends r and returns the parsed reply (free with yajl_tree_free), or NULL
 * after printing why. */
yajl_val orch_client_call(int fd, const orch_request *r, const char *verb);
/* Starts a detached daemon for s and waits until it listens. Returns a
 * connected fd or -1 after printing why. */
int orch_client_start_daemon(const orch_settings *s);
/* Waits until no daemon holds the state dir's lock (it has exited). */
int orch_client_wait_daemon_gone(const orch_settings *s, int timeout_ms);

/* write(2) until done (EINTR retried); 0 or -1 with errno. */
int orch_write_all(int fd, const char *buf, size_t len);

/* Reply accessors. */
int orch_reply_ok(yajl_val reply);
const char *orch_reply_string(yajl_val reply, const char *key);
yajl_val orch_reply_member(yajl_val reply, const char *key);
/* Prints "error", "errors", "warnings" and "report" members to stderr. */
void orch_reply_print_problems(yajl_val reply, const char *verb);

#endif
