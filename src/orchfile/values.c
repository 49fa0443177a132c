/* Typed value parsers for directive values (see values.h). Everything here is
 * strict by design: no sign, no spaces, no locale-dependent conversions
 * (strtoul and friends accept leading blanks and '-', strtod honours the
 * locale's decimal point), so the digits are walked by hand. */
#include "orchfile/values.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Out of memory is fatal in orchd; the orchfile library does not link the
 * util helpers, so it carries its own tiny copy. */
static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) {
        fputs("orchd: out of memory\n", stderr);
        abort();
    }
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_alpha(char c) { return is_lower(c) || (c >= 'A' && c <= 'Z'); }
static bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

/* Reads the run of decimal digits at *p into *out and advances *p past it.
 * On overflow *out is UINT64_MAX and *big is set, but the whole run is still
 * consumed so the caller can tell "too large" from "malformed". Returns false
 * when there is no digit at *p. */
static bool read_digits(const char **p, uint64_t *out, bool *big)
{
    const char *s = *p;
    uint64_t v = 0;
    *big = false;
    if (!is_digit(*s))
        return false;
    for (; is_digit(*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (*big || v > (UINT64_MAX - d) / 10) {
            *big = true;
            v = UINT64_MAX;
        } else {
            v = v * 10 + d;
        }
    }
    *p = s;
    *out = v;
    return true;
}

bool orch_parse_duration(const char *s, uint32_t *out, const char **why)
{
    const char *p = s;
    uint64_t n;
    bool big;
    /* A bare number means seconds, as the reference parser reads it. */
    if (!read_digits(&p, &n, &big) || (p[0] != '\0' && p[1] != '\0') ||
        (p[0] != '\0' && p[0] != 's' && p[0] != 'm' && p[0] != 'h')) {
        *why = "expected a number of seconds, optionally followed by s, m or h";
        return false;
    }
    uint64_t mult = p[0] == 'h' ? 3600 : p[0] == 'm' ? 60 : 1;
    if (big || n > INT32_MAX / mult) {
        *why = "too long (at most 2147483647 seconds)";
        return false;
    }
    *out = (uint32_t)(n * mult);
    return true;
}

/* At most this many fractional digits in a size: 10^9 * 2^30 still fits in
 * 64 bits, and nobody means a finer fraction of a gigabyte. */
#define SIZE_FRAC_DIGITS 9

bool orch_parse_size(const char *s, uint64_t *out, const char **why)
{
    static const char *const malformed =
        "expected a number optionally followed by K, M or G, such as 512M or 1.5G";
    const char *p = s;
    uint64_t n;
    bool big;
    if (!read_digits(&p, &n, &big)) {
        *why = malformed;
        return false;
    }
    /* An optional fraction ("1.5G"), kept as frac / 10^nfrac. */
    uint64_t frac = 0, scale = 1;
    if (*p == '.') {
        p++;
        size_t nfrac = strspn(p, "0123456789");
        if (nfrac == 0) {
            *why = malformed;
            return false;
        }
        if (nfrac > SIZE_FRAC_DIGITS) {
            *why = "too many decimals (at most 9)";
            return false;
        }
        for (size_t i = 0; i < nfrac; i++) {
            frac = frac * 10 + (uint64_t)(p[i] - '0');
            scale *= 10;
        }
        p += nfrac;
    }
    unsigned shift = 0;
    if (*p != '\0') {
        const char *units = "KkMmGg";
        const char *u = strchr(units, *p);
        if (!u || p[1] != '\0') {
            *why = malformed;
            return false;
        }
        shift = 10 * (unsigned)(1 + (u - units) / 2); /* K=10, M=20, G=30 */
    }
    if (frac != 0 && shift == 0) {
        *why = "a fraction needs a unit (K, M or G); bytes are whole";
        return false;
    }
    if (big || n > (UINT64_MAX >> shift)) {
        *why = "too large";
        return false;
    }
    /* frac < scale <= 10^9 and shift <= 30: the product fits in 64 bits;
     * the fraction of a byte is dropped. */
    uint64_t part = (frac << shift) / scale;
    uint64_t whole = n << shift;
    if (whole > UINT64_MAX - part) {
        *why = "too large";
        return false;
    }
    if (whole + part == 0) {
        *why = "must be greater than zero";
        return false;
    }
    *out = whole + part;
    return true;
}

bool orch_parse_bool(const char *s, bool *out, const char **why)
{
    if (strcmp(s, "true") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(s, "false") == 0) {
        *out = false;
        return true;
    }
    *why = "expected true or false";
    return false;
}

bool orch_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
                     const char **why)
{
    const char *p = s;
    uint64_t n;
    bool big;
    if (!read_digits(&p, &n, &big) || *p != '\0') {
        *why = "expected a decimal number";
        return false;
    }
    if (big || n < min || n > max) {
        *why = "out of range";
        return false;
    }
    *out = n;
    return true;
}

/* The range checks are done on the digits, not on a double, so 4096.0...01
 * is rejected exactly; only the result goes through floating point. */
bool orch_parse_cpus(const char *s, double *out, const char **why)
{
    const char *p = s;
    uint64_t whole;
    bool big;
    if (!read_digits(&p, &whole, &big)) {
        *why = "expected a number like 2 or 0.5";
        return false;
    }
    const char *frac = NULL;
    size_t nfrac = 0;
    if (*p == '.') {
        frac = ++p;
        nfrac = strspn(frac, "0123456789");
        if (nfrac == 0) {
            *why = "expected a number like 2 or 0.5";
            return false;
        }
        p += nfrac;
    }
    if (*p != '\0') {
        *why = "expected a number like 2 or 0.5";
        return false;
    }
    bool frac_nonzero = frac && strspn(frac, "0") < nfrac;
    if (whole > 4096 || (whole == 4096 && frac_nonzero)) {
        *why = "too large (at most 4096)";
        return false;
    }
    /* 17 fractional digits are more than a double can tell apart here; a
     * value that is zero to that precision counts as zero. */
    uint64_t f = 0, scale = 1;
    for (size_t i = 0; i < nfrac && i < 17; i++) {
        f = f * 10 + (uint64_t)(frac[i] - '0');
        scale *= 10;
    }
    if (whole == 0 && f == 0) {
        *why = "must be greater than zero";
        return false;
    }
    *out = (double)whole + (double)f / (double)scale;
    return true;
}

bool orch_parse_percent(const char *s, uint32_t *out, const char **why)
{
    const char *p = s;
    uint64_t n;
    bool big;
    if (!read_digits(&p, &n, &big) || p[0] != '%' || p[1] != '\0') {
        *why = "expected a number followed by %";
        return false;
    }
    if (n < 1) {
        *why = "must be at least 1%";
        return false;
    }
    if (n > 100000) {
        *why = "too large (at most 100000%)";
        return false;
    }
    *out = (uint32_t)n;
    return true;
}

bool orch_parse_port(const char *s, uint16_t *out, const char **why)
{
    uint64_t n;
    if (!orch_parse_uint(s, 1, 65535, &n, why)) {
        *why = "expected a port number from 1 to 65535";
        return false;
    }
    *out = (uint16_t)n;
    return true;
}

bool orch_parse_publish(const char *s, char **address, uint16_t *host,
                        uint16_t *container, const char **why)
{
    /* Work on a copy so the fields can be cut out with NULs. */
    char *w = dup_n(s, strlen(s));
    char *addr = NULL, *ports = w;
    uint16_t h, c;
    *address = NULL;

    if (w[0] == '[') {
        /* "[::1]:host:container": brackets as in URLs, optional for IPv6. */
        char *close = strchr(w, ']');
        if (!close || close[1] != ':') {
            *why = "expected ']:' after a bracketed address";
            goto fail;
        }
        *close = '\0';
        addr = w + 1;
        ports = close + 2;
    }
    char *last = strrchr(ports, ':');
    if (!last) {
        *why = "expected [address:]host:container";
        goto fail;
    }
    *last = '\0';
    /* The last two fields are the ports; everything before is the address. */
    char *hostp = strrchr(ports, ':');
    if (hostp) {
        if (addr) {
            *why = "expected host:container after a bracketed address";
            goto fail;
        }
        *hostp++ = '\0';
        addr = w;
    } else {
        hostp = ports;
    }
    if (addr && !*addr) {
        *why = "empty address";
        goto fail;
    }
    if (!orch_parse_port(hostp, &h, why)) {
        *why = "host port must be a number from 1 to 65535";
        goto fail;
    }
    if (!orch_parse_port(last + 1, &c, why)) {
        *why = "container port must be a number from 1 to 65535";
        goto fail;
    }
    if (addr)
        *address = dup_n(addr, strlen(addr));
    *host = h;
    *container = c;
    free(w);
    return true;
fail:
    free(w);
    return false;
}

bool orch_parse_volume(const char *s, char **source, char **dest, bool *is_named,
                       const char **why)
{
    *source = NULL;
    *dest = NULL;
    const char *colon = strrchr(s, ':');
    if (!colon) {
        *why = "expected source:destination";
        return false;
    }
    size_t slen = (size_t)(colon - s);
    const char *d = colon + 1;
    if (slen == 0) {
        *why = "empty source";
        return false;
    }
    if (d[0] != '/') {
        *why = "destination must be an absolute path";
        return false;
    }
    bool named = !(s[0] == '/' || strncmp(s, "./", 2) == 0 ||
                   strncmp(s, "../", 3) == 0 || strncmp(s, "${", 2) == 0);
    if (named) {
        bool ok = is_alnum(s[0]);
        for (size_t i = 1; ok && i < slen; i++)
            ok = is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-';
        if (!ok) {
            *why = "a volume name must match [A-Za-z0-9][A-Za-z0-9_.-]* "
                   "(start a path with /, ./ or ../)";
            return false;
        }
    }
    *source = dup_n(s, slen);
    *dest = dup_n(d, strlen(d));
    *is_named = named;
    return true;
}

bool orch_parse_restart(const char *s, orch_restart_policy *out, const char **why)
{
    if (strcmp(s, "no") == 0)
        *out = ORCH_RESTART_NO;
    else if (strcmp(s, "always") == 0)
        *out = ORCH_RESTART_ALWAYS;
    else if (strcmp(s, "on-failure") == 0)
        *out = ORCH_RESTART_ON_FAILURE;
    else {
        *why = "expected no, always or on-failure";
        return false;
    }
    return true;
}

bool orch_parse_recreate(const char *s, orch_recreate *out, const char **why)
{
    if (strcmp(s, "always") == 0)
        *out = ORCH_RECREATE_ALWAYS;
    else if (strcmp(s, "never") == 0)
        *out = ORCH_RECREATE_NEVER;
    else {
        *why = "expected always or never";
        return false;
    }
    return true;
}

bool orch_valid_service_name(const char *s, const char **why)
{
    if (!is_lower(s[0])) {
        *why = s[0] ? "must start with a lower-case letter" : "empty name";
        return false;
    }
    size_t i = 1;
    for (; s[i]; i++) {
        if (!is_lower(s[i]) && !is_digit(s[i]) && s[i] != '-') {
            *why = "may contain only a-z, 0-9 and '-'";
            return false;
        }
    }
    if (i > ORCH_NAME_MAX) {
        *why = "longer than 63 characters";
        return false;
    }
    return true;
}

bool orch_valid_arg_name(const char *s, const char **why)
{
    if (!is_alpha(s[0])) {
        *why = s[0] ? "must start with a letter" : "empty name";
        return false;
    }
    for (size_t i = 1; s[i]; i++) {
        if (!is_alnum(s[i]) && s[i] != '_') {
            *why = "may contain only letters, digits and '_'";
            return false;
        }
    }
    return true;
}

bool orch_valid_env_key(const char *s, const char **why)
{
    if (!is_alpha(s[0]) && s[0] != '_') {
        *why = s[0] ? "must start with a letter or '_'" : "empty key";
        return false;
    }
    for (size_t i = 1; s[i]; i++) {
        if (!is_alnum(s[i]) && s[i] != '_') {
            *why = "may contain only letters, digits and '_'";
            return false;
        }
    }
    return true;
}

/* Well-formed sequences per Unicode table 3-7: the narrowed second-byte
 * ranges after E0, ED, F0 and F4 exclude overlongs, surrogates and code
 * points above U+10FFFF. */
bool orch_valid_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return false; /* continuation byte, C0/C1 overlong, F5-FF */
        }
        if (len - i - 1 < n)
            return false;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF)
                return false;
        i += n + 1;
    }
    return true;
}
