/* The index of a tar file (ustar, GNU and pax headers): every regular
 * member's name, and where its bytes lie in the file. Pure: bytes come from
 * a read callback, so the same code indexes a file (import.c, in a worker
 * thread) and a buffer (the fuzz target, the unit test). The archive is not
 * trusted: every header field is checked, every sum is checked for
 * overflow, and the scan stops within the limits below (docs/IMAGES.md,
 * "Archive limits"). Nothing is ever extracted. */
#ifndef ORCH_IMPORT_TAR_READER_H
#define ORCH_IMPORT_TAR_READER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define TAR_MAX_PAX (1u << 20)     /* one pax extended header, or a GNU long name */
#define TAR_MAX_NAME 4096u         /* one member name */
#define TAR_MAX_MEMBERS 65536u     /* regular members indexed */
#define TAR_MAX_NAME_BYTES (16u << 20) /* all names together */

typedef struct tar_member {
    char *name; /* "./" and leading "/" taken off */
    int64_t off, size;
} tar_member;

typedef struct tar_index {
    tar_member *m;
    size_t n;
} tar_index;

typedef struct tar_source {
    /* n bytes at off into buf: 0, or an errno (EIO for a short read) */
    int (*read)(void *ctx, void *buf, size_t n, int64_t off);
    void *ctx;
    int64_t size;             /* the file's size */
    const char *name;         /* for messages */
    const atomic_bool *cancel; /* may be NULL; checked before every header */
} tar_source;

/* Indexes src into *ix (empty first). 0, or -1 with *err (malloc'ed),
 * which names the file and the offset; "cancelled" when *cancel was set. */
int tar_scan(const tar_source *src, tar_index *ix, orch_error **err);
/* The member name: the last one of that name, as unpacking would leave it. */
const tar_member *tar_find(const tar_index *ix, const char *name);
void tar_index_free(tar_index *ix);

/* A numeric header field: octal digits between optional spaces/NULs, or
 * GNU base-256 (first byte 0x80). False when malformed, negative or above
 * INT64_MAX. */
bool tar_number(const unsigned char *p, size_t n, int64_t *out);
/* Pax records ("LEN key=value\n"...): the path and size they set (*path
 * malloc'ed or NULL; *size -1 when absent). False with *why (static) when
 * a record is malformed. */
bool tar_pax_parse(const char *data, size_t len, char **path, int64_t *size, const char **why);

#endif
