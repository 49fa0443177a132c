/* One https:// health probe: a GET over TLS, as Kubernetes' httpGet probes
 * with scheme HTTPS do it: the server's certificate is NOT verified (a
 * service's own, often self-signed, certificate must not fail its check),
 * any 2xx status passes, anything else fails, redirects are not followed.
 *
 * libcurl is dlopen()ed on the first https probe, so a daemon without one
 * never maps libcurl or a TLS library (tests/cli/health_https.sh). The
 * transfer runs on the loop through curl's multi socket API (uv_poll on
 * curl's sockets, a uv_timer for its timeouts; DNS in curl's resolver
 * thread): nothing blocks the loop but the one-time dlopen. */
#ifndef ORCH_HTTPS_PROBE_H
#define ORCH_HTTPS_PROBE_H

#include <stdbool.h>
#include <uv.h>

typedef struct orch_https_probe orch_https_probe;

/* ok: a 2xx arrived; otherwise detail says why not ("HTTP 503", curl's
 * reason). Runs once per probe, never inside orch_https_probe_start. */
typedef void (*orch_https_cb)(void *owner, bool ok, const char *detail);

/* Starts a GET of url (an https:// URL) that gives up after timeout_ms.
 * Returns NULL and *err (malloc'ed) when libcurl cannot be loaded. */
orch_https_probe *orch_https_probe_start(uv_loop_t *loop, const char *url, long timeout_ms,
                                         orch_https_cb cb, void *owner, char **err);

/* Abandons the probe: its callback never runs. Not from inside the callback
 * of this probe (it is over by then). */
void orch_https_probe_cancel(orch_https_probe *p);

/* Releases curl's multi handle and its timer (the daemon, at exit, after
 * every health checker is stopped). Probes may start again afterwards. */
void orch_https_shutdown(void);

#endif
