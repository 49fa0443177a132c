/* The tar index (tar_reader.h). Offsets and sizes are int64_t; every sum
 * is arranged so that it cannot overflow (a value is compared with what is
 * left of the file before it is added), every number is parsed with an
 * overflow check, and every loop advances by at least one byte, so a
 * crafted archive ends in an error, never in a loop or an out-of-bounds
 * read. */
#include "containerd/fetch/tar_reader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define BLOCK 512

static int fail(orch_error **err, orch_errc code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(orch_error **err, orch_errc code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *err = orch_error_vnew(code, fmt, ap);
    va_end(ap);
    return -1;
}

bool tar_number(const unsigned char *p, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (n == 0)
        return false;
    if (p[0] & 0x80) {
        /* base-256: big-endian two's complement after the flag bit; a set
         * sign bit (0xff...) is a negative number: never a valid size */
        if (p[0] & 0x40)
            return false;
        v = p[0] & 0x3f;
        for (size_t i = 1; i < n; i++) {
            if (v > (INT64_MAX >> 8))
                return false;
            v = (v << 8) | p[i];
        }
        *out = v;
        return true;
    }
    size_t i = 0, digits = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\0'))
        i++;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++, digits++) {
        if (v > (INT64_MAX - 7) / 8)
            return false;
        v = v * 8 + (p[i] - '0');
    }
    for (; i < n; i++)
        if (p[i] != ' ' && p[i] != '\0')
            return false;
    if (digits == 0)
        return false;
    *out = v;
    return true;
}

bool tar_pax_parse(const char *data, size_t len, char **path, int64_t *size, const char **why)
{
    *path = NULL;
    *size = -1;
    size_t i = 0;
    while (i < len) {
        size_t j = i, rec = 0;
        while (j < len && data[j] >= '0' && data[j] <= '9') {
            if (rec > (SIZE_MAX - 9) / 10) {
                *why = "a record length overflows";
                goto bad;
            }
            rec = rec * 10 + (size_t)(data[j++] - '0');
        }
        if (j == i) {
            *why = "a record has no length";
            goto bad;
        }
        if (j >= len || data[j] != ' ') {
            *why = "a record length is not followed by a space";
            goto bad;
        }
        /* the record covers its own length, the space and at least the
         * newline, and ends inside the header */
        if (rec > len - i) {
            *why = "a record runs past the end of the header";
            goto bad;
        }
        if (rec < (j - i) + 2) {
            *why = "a record is shorter than its own length field";
            goto bad;
        }
        size_t end = i + rec;
        if (data[end - 1] != '\n') {
            *why = "a record does not end in a newline";
            goto bad;
        }
        const char *kv = data + j + 1;
        size_t kvlen = end - 1 - (j + 1);
        const char *eq = memchr(kv, '=', kvlen);
        if (!eq) {
            *why = "a record has no '='";
            goto bad;
        }
        size_t klen = (size_t)(eq - kv);
        const char *val = eq + 1;
        size_t vlen = kvlen - klen - 1;
        if (klen == 4 && memcmp(kv, "path", 4) == 0) {
            if (vlen > TAR_MAX_NAME) {
                *why = "a path is longer than 4096 bytes";
                goto bad;
            }
            if (memchr(val, '\0', vlen)) {
                *why = "a path has a NUL byte";
                goto bad;
            }
            free(*path);
            *path = xstrndup(val, vlen);
        } else if (klen == 4 && memcmp(kv, "size", 4) == 0) {
            int64_t s = 0;
            if (vlen == 0) {
                *why = "a size is empty";
                goto bad;
            }
            for (size_t k = 0; k < vlen; k++) {
                if (val[k] < '0' || val[k] > '9' || s > (INT64_MAX - 9) / 10) {
                    *why = "a size is not a number or overflows";
                    goto bad;
                }
                s = s * 10 + (val[k] - '0');
            }
            *size = s;
        }
        i = end; /* rec >= 2: always forward */
    }
    return true;
bad:
    free(*path);
    *path = NULL;
    *size = -1;
    return false;
}

static bool checksum_ok(const unsigned char *h)
{
    int64_t want;
    if (!tar_number(h + 148, 8, &want))
        return false;
    /* the sum with the checksum field as spaces; some old writers summed
     * signed chars */
    int64_t usum = 0, ssum = 0;
    for (int i = 0; i < BLOCK; i++) {
        unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
        usum += c;
        ssum += (signed char)c;
    }
    return want == usum || want == ssum;
}

static void add_member(tar_index *ix, const char *n, int64_t off, int64_t size)
{
    while (n[0] == '.' && n[1] == '/')
        n += 2;
    while (*n == '/')
        n++;
    ix->m = xrealloc(ix->m, (ix->n + 1) * sizeof *ix->m);
    ix->m[ix->n++] = (tar_member){xstrdup(n), off, size};
}

int tar_scan(const tar_source *src, tar_index *ix, orch_error **err)
{
    const char *f = src->name;
    int64_t off = 0;
    char *longname = NULL, *paxname = NULL;
    int64_t paxsize = -1;
    size_t name_bytes = 0;
    unsigned char h[BLOCK];
    int rc = -1;
    *err = NULL;
    if (src->size < 0)
        return fail(err, ORCH_E_CORRUPT, "%s has a negative size", f);
    for (;;) {
        if (src->cancel && atomic_load(src->cancel)) {
            fail(err, ORCH_E_CANCELLED, "cancelled");
            break;
        }
        if (src->size - off < BLOCK) {
            if (off == src->size && ix->n > 0) {
                rc = 0; /* no end-of-archive blocks: tolerated */
                break;
            }
            fail(err, ORCH_E_CORRUPT, "%s is truncated or not a tar file (a header at offset %lld runs past the end)",
                 f, (long long)off);
            break;
        }
        int e = src->read(src->ctx, h, BLOCK, off);
        if (e) {
            fail(err, orch_errc_from_errno(e), "reading %s at offset %lld: %s", f, (long long)off, strerror(e));
            break;
        }
        bool zero = true;
        for (int i = 0; i < BLOCK && zero; i++)
            zero = h[i] == 0;
        if (zero) {
            rc = 0;
            break;
        }
        if (!checksum_ok(h)) {
            fail(err, ORCH_E_CORRUPT, "%s is corrupt or not a tar file (bad header checksum at offset %lld)", f,
                 (long long)off);
            break;
        }
        int64_t size;
        if (!tar_number(h + 124, 12, &size)) {
            fail(err, ORCH_E_CORRUPT, "%s is corrupt: the header at offset %lld has a bad size", f, (long long)off);
            break;
        }
        char type = (char)h[156];
        bool regular = type == '0' || type == '\0' || type == '7';
        if (regular && paxsize >= 0)
            size = paxsize; /* pax "size" records carry sizes of 8 GiB and more */
        int64_t data = off + BLOCK; /* <= src->size: checked above */
        if (size > src->size - data) {
            fail(err, ORCH_E_CORRUPT, "%s is truncated: the member at offset %lld has %lld bytes, %lld are left",
                 f, (long long)off, (long long)size, (long long)(src->size - data));
            break;
        }
        int64_t next = data + size, rem = size % BLOCK;
        if (rem && BLOCK - rem <= src->size - next)
            next += BLOCK - rem;
        else if (rem)
            next = src->size; /* the last member without its padding */

        if (type == 'x' || type == 'L') {
            int64_t max = type == 'x' ? TAR_MAX_PAX : TAR_MAX_NAME + 1;
            if (size > max) {
                fail(err, ORCH_E_CORRUPT, "%s: the %s at offset %lld has %lld bytes (at most %lld)", f,
                     type == 'x' ? "pax extended header" : "GNU long name", (long long)off,
                     (long long)size, (long long)max);
                break;
            }
            char *buf = xmalloc((size_t)size + 1);
            e = src->read(src->ctx, buf, (size_t)size, data);
            if (e) {
                free(buf);
                fail(err, orch_errc_from_errno(e), "reading %s at offset %lld: %s", f, (long long)data, strerror(e));
                break;
            }
            buf[size] = '\0';
            if (type == 'x') {
                const char *why = "";
                free(paxname);
                if (!tar_pax_parse(buf, (size_t)size, &paxname, &paxsize, &why)) {
                    free(buf);
                    fail(err, ORCH_E_CORRUPT, "%s is corrupt: the pax header at offset %lld is malformed (%s)", f,
                         (long long)off, why);
                    break;
                }
            } else {
                free(longname);
                longname = xstrdup(buf); /* up to its NUL */
            }
            free(buf);
        } else if (regular) {
            char name[BLOCK];
            if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345]) /* POSIX: prefix/name */
                snprintf(name, sizeof name, "%.155s/%.100s", (const char *)h + 345,
                         (const char *)h);
            else
                snprintf(name, sizeof name, "%.100s", (const char *)h);
            const char *n = paxname ? paxname : longname ? longname : name;
            size_t nl = strlen(n);
            if (ix->n >= TAR_MAX_MEMBERS || nl > TAR_MAX_NAME_BYTES - name_bytes) {
                fail(err, ORCH_E_CORRUPT, "%s has more than %u members or %u MiB of names (at offset %lld)", f,
                     TAR_MAX_MEMBERS, TAR_MAX_NAME_BYTES >> 20, (long long)off);
                break;
            }
            name_bytes += nl;
            add_member(ix, n, data, size);
            free(paxname);
            free(longname);
            paxname = longname = NULL;
            paxsize = -1;
        } else if (type != 'g' && type != 'K') {
            /* directories, links, devices: not indexed; the extended
             * header before them was theirs */
            free(paxname);
            free(longname);
            paxname = longname = NULL;
            paxsize = -1;
        }
        off = next; /* > off: at least one block further */
    }
    free(longname);
    free(paxname);
    return rc;
}

const tar_member *tar_find(const tar_index *ix, const char *name)
{
    for (size_t i = ix->n; i-- > 0;)
        if (strcmp(ix->m[i].name, name) == 0)
            return &ix->m[i];
    return NULL;
}

void tar_index_free(tar_index *ix)
{
    for (size_t i = 0; i < ix->n; i++)
        free(ix->m[i].name);
    free(ix->m);
    ix->m = NULL;
    ix->n = 0;
}
