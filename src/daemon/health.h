/* Health checks on the loop: a HEALTHCHECK is either an HTTP URL, probed
 * with an HTTP/1.0 GET over uv_tcp (2xx passes; 5 s per probe), or a shell
 * command run where the service runs, through its runtime's exec (on the
 * host for bare, inside the container for containerd: /bin/sh -c, the
 * service's env, user, workdir and log; exit 0 passes; killed after 10 s).
 * An https:// URL is probed the same way over TLS (daemon/https_probe.h:
 * libcurl, loaded on the first such probe; the certificate is not verified,
 * as Kubernetes' probes do not verify it).
 *
 * A checker probes once right away, then again interval_ms after each probe
 * finishes, and reports every result. Only one probe is ever in flight. */
#ifndef ORCH_HEALTH_H
#define ORCH_HEALTH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "runtime/runtime.h"
#include "orchfile/model.h"

#define ORCH_HEALTH_HTTP_TIMEOUT_MS 5000
#define ORCH_HEALTH_COMMAND_TIMEOUT_MS 10000

typedef struct orch_health orch_health;

/* ok: the probe passed; otherwise detail says why not ("HTTP 503",
 * "exited with code 1", "connect 127.0.0.1:8080: connection refused"). */
typedef void (*orch_health_cb)(void *owner, bool ok, const char *detail);

/* 0 if check can be probed; else -1 and *err (malloc'ed): an http:// or
 * https:// URL that does not parse. */
int orch_health_check_spec(const char *check, char **err);

/* Starts probing svc->healthcheck (already checked with
 * orch_health_check_spec) of the instance inst that ops runs. svc, ctx and
 * inst must outlive the checker. */
orch_health *orch_health_start(uv_loop_t *loop, const orch_runtime_ops *ops, orch_instance *inst,
                               const orch_service *svc, const orch_env_ctx *ctx,
                               uint64_t interval_ms, orch_health_cb cb, void *owner);

/* Changes the pause between probes, from the next one on. */
void orch_health_set_interval(orch_health *h, uint64_t interval_ms);

/* Stops probing: a probe in flight is abandoned (a command's process group
 * is killed), no callback runs any more, and the checker frees itself once
 * its handles are closed. Safe to call from inside the callback. */
void orch_health_stop(orch_health *h);

#endif
