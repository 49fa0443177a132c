/* SHA-256 and hex (common/sha256.c): image digests (the containerd module) and the identity of a service run (the daemon). */
#ifndef ORCH_COMMON_SHA256_H
#define ORCH_COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct orch_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t n;
} orch_sha256;
void orch_sha256_init(orch_sha256 *c);
void orch_sha256_update(orch_sha256 *c, const void *data, size_t len);
void orch_sha256_final(orch_sha256 *c, uint8_t out[32]);
/* "sha256:" + hex of data; malloc'ed. */
char *orch_sha256_digest(const void *data, size_t len);
void orch_hex(const uint8_t *in, size_t n, char *out /* 2n+1 */);

#endif
