/* Typed value parsers for directive values. Each returns true on success and
 * otherwise fills *why with a static, human-readable reason (no allocation),
 * for messages like "FILE:LINE: TIMEOUT_STOP: bad duration '5x': <why>". */
#ifndef ORCH_VALUES_H
#define ORCH_VALUES_H

#include <stdbool.h>
#include <stdint.h>

#include "orchfile/model.h"

/* "<digits>" (seconds) or "<digits>s|m|h"; result in seconds; at most
 * 2^31-1 seconds. */
bool orch_parse_duration(const char *s, uint32_t *out, const char **why);
/* "<digits>" (bytes) or "<digits>[.<digits>]K|M|G" (binary units, upper or
 * lower case; a fraction rounds down to whole bytes). */
bool orch_parse_size(const char *s, uint64_t *out, const char **why);
/* "true" or "false". */
bool orch_parse_bool(const char *s, bool *out, const char **why);
/* Decimal unsigned integer within [min, max]; no sign, no spaces. */
bool orch_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
                     const char **why);
/* CPUS: positive number with optional fraction, "n" or "n.d" (> 0, <= 4096). */
bool orch_parse_cpus(const char *s, double *out, const char **why);
/* CPU_QUOTA: "<digits>%" with value >= 1. */
bool orch_parse_percent(const char *s, uint32_t *out, const char **why);
/* Port 1-65535. */
bool orch_parse_port(const char *s, uint16_t *out, const char **why);
/* PUBLISH "[addr:]host:container"; *address is malloc'ed or NULL. */
bool orch_parse_publish(const char *s, char **address, uint16_t *host,
                        uint16_t *container, const char **why);
/* VOLUME "source:dest"; split on the last ':'; dest must be absolute. */
bool orch_parse_volume(const char *s, char **source, char **dest, bool *is_named,
                       const char **why);
/* RESTART no/always/on-failure; RECREATE always/never. */
bool orch_parse_restart(const char *s, orch_restart_policy *out, const char **why);
bool orch_parse_recreate(const char *s, orch_recreate *out, const char **why);

/* Names. */
bool orch_valid_service_name(const char *s, const char **why); /* [a-z][a-z0-9-]*, <=63 */
bool orch_valid_arg_name(const char *s, const char **why);     /* [A-Za-z][A-Za-z0-9_]* */
bool orch_valid_env_key(const char *s, const char **why);      /* [A-Za-z_][A-Za-z0-9_]* */
/* True when s is valid UTF-8 (no overlongs, no surrogates). */
bool orch_valid_utf8(const char *s, size_t len);

#endif
