/* Registry authentication: WWW-Authenticate challenges, the credentials of
 * ~/.docker/config.json, base64. */
#ifndef ORCH_PULL_AUTH_H
#define ORCH_PULL_AUTH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct auth_challenge {
    char *scheme; /* "bearer" or "basic" (lowercased) */
    char *realm, *service, *scope;
} auth_challenge;

/* Parses the first challenge of a WWW-Authenticate value. 0 or -1. */
int auth_parse_challenge(const char *value, auth_challenge *c);
void auth_challenge_free(auth_challenge *c);

/* Credentials for a registry domain ("docker.io", "127.0.0.1:5000") from
 * $DOCKER_CONFIG/config.json or ~/.docker/config.json `auths` (an "auth"
 * of base64 user:password, or "username" and "password"; docker.io is also
 * found under https://index.docker.io/v1/). Returns true with *user and
 * *secret (malloc'ed); false when there are none. *where (malloc'ed, may be
 * NULL) names the file read, for messages. A file that cannot be parsed is
 * reported in *problem (malloc'ed). */
bool auth_find_credentials(const char *domain, char **user, char **secret, char **where,
                           char **problem);

/* The credentials file that auth_find_credentials reads (malloc'ed). */
char *auth_config_path(void);

char *auth_base64(const void *data, size_t len);
/* NULL when s is not base64. */
char *auth_unbase64(const char *s, size_t *len);

#endif
