/* SHA-256 and hex (ctd_sha256.c): pure, usable outside the module. */
#ifndef ORCH_CTD_SHA256_H
#define ORCH_CTD_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct ctd_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t n;
} ctd_sha256;
void ctd_sha256_init(ctd_sha256 *c);
void ctd_sha256_update(ctd_sha256 *c, const void *data, size_t len);
void ctd_sha256_final(ctd_sha256 *c, uint8_t out[32]);
/* "sha256:" + hex of data; malloc'ed. */
char *ctd_sha256_digest(const void *data, size_t len);
void ctd_hex(const uint8_t *in, size_t n, char *out /* 2n+1 */);

#endif
