#include "containerd/container/user.h"

#include <stdlib.h>
#include <string.h>

#include "common/gidset.h"
#include "common/xalloc.h"

#define ID_MAX 2147483647u /* runc rejects ids above INT32_MAX */
#define MAX_FIELDS 7

typedef struct field {
    const char *p;
    size_t n;
} field;

/* Splits the next line of *text into ':'-separated fields. Returns the number
 * of fields (0 for a blank or comment line), or -1 at the end of the text. */
static int next_entry(const char **text, field f[MAX_FIELDS])
{
    const char *s = *text;
    if (!s || !*s)
        return -1;
    const char *end = strchr(s, '\n');
    if (!end)
        end = s + strlen(s);
    *text = *end ? end + 1 : end;
    size_t len = (size_t)(end - s);
    if (len && s[len - 1] == '\r')
        len--;
    if (len == 0 || s[0] == '#')
        return 0;
    int nf = 0;
    const char *start = s;
    for (size_t i = 0; i <= len && nf < MAX_FIELDS; i++) {
        if (i == len || s[i] == ':') {
            f[nf].p = start;
            f[nf].n = (size_t)(s + i - start);
            nf++;
            start = s + i + 1;
        }
    }
    return nf;
}

static bool field_is(field f, const char *s)
{
    return strlen(s) == f.n && memcmp(f.p, s, f.n) == 0;
}

/* 1: a number within 0..ID_MAX; 0: not all digits; -1: digits but too big. */
static int parse_id(const char *p, size_t n, uint32_t *out)
{
    if (n == 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        if (v <= ID_MAX)
            v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > ID_MAX)
        return -1;
    *out = (uint32_t)v;
    return 1;
}

/* Finds a passwd entry by name (name != NULL) or by uid. On success sets
 * *uid, *gid and *found_name (malloc'ed). */
static bool passwd_find(const char *text, const char *name, uint32_t want_uid, uint32_t *uid,
                        uint32_t *gid, char **found_name)
{
    field f[MAX_FIELDS];
    int nf;
    while ((nf = next_entry(&text, f)) >= 0) {
        uint32_t u, g;
        if (nf < 4 || f[0].n == 0 || parse_id(f[2].p, f[2].n, &u) != 1 ||
            parse_id(f[3].p, f[3].n, &g) != 1)
            continue;
        if (name ? field_is(f[0], name) : u == want_uid) {
            *uid = u;
            *gid = g;
            *found_name = xstrndup(f[0].p, f[0].n);
            return true;
        }
    }
    return false;
}

static bool group_find(const char *text, const char *name, uint32_t *gid)
{
    field f[MAX_FIELDS];
    int nf;
    while ((nf = next_entry(&text, f)) >= 0) {
        uint32_t g;
        if (nf < 3 || !field_is(f[0], name) || parse_id(f[2].p, f[2].n, &g) != 1)
            continue;
        *gid = g;
        return true;
    }
    return false;
}

/* The gids of every group listing user as a member, except primary, in one
 * pass (an image's /etc/group is hostile: it may list the user in hundreds of
 * thousands of groups). Returns -1 with *err past max distinct gids. */
static int group_members(const char *text, const char *user, uint32_t primary, size_t max,
                         uint32_t **out, size_t *n, char **err)
{
    orch_gidset set = {0};
    size_t ulen = strlen(user);
    field f[MAX_FIELDS];
    int nf;
    while ((nf = next_entry(&text, f)) >= 0) {
        uint32_t g;
        if (nf < 4 || parse_id(f[2].p, f[2].n, &g) != 1 || g == primary)
            continue;
        bool member = false;
        const char *m = f[3].p, *end = f[3].p + f[3].n;
        while (m < end && !member) {
            const char *comma = memchr(m, ',', (size_t)(end - m));
            const char *me = comma ? comma : end;
            member = (size_t)(me - m) == ulen && memcmp(m, user, ulen) == 0;
            m = me + 1;
        }
        if (!member || !orch_gidset_add(&set, g) || set.n <= max)
            continue;
        orch_gidset_free(&set);
        *err = xasprintf("user '%s' is a member of more than %zu groups in the image's "
                         "/etc/group (NGROUPS_MAX, the kernel's limit)",
                         user, max);
        return -1;
    }
    *out = orch_gidset_take(&set, n);
    return 0;
}

bool ctd_user_needs_files(const char *spec)
{
    if (!spec || !*spec)
        return false;
    const char *colon = strchr(spec, ':');
    size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
    uint32_t id;
    if (parse_id(spec, ulen, &id) == 0)
        return true;
    return colon && parse_id(colon + 1, strlen(colon + 1), &id) == 0;
}

int ctd_resolve_user(const char *etc_passwd, const char *etc_group, const char *spec,
                     uint32_t *uid, uint32_t *gid, uint32_t **additional_gids, size_t *n,
                     char **err)
{
    *err = NULL;
    if (additional_gids)
        *additional_gids = NULL;
    if (n)
        *n = 0;
    if (!spec || !*spec)
        spec = "0";

    const char *colon = strchr(spec, ':');
    size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *gpart = colon ? colon + 1 : NULL;
    if (ulen == 0 || (gpart && (!*gpart || strchr(gpart, ':')))) {
        *err = xasprintf("invalid user '%s' (expected name, uid, name:group or uid:gid)", spec);
        return -1;
    }

    char *uname = xstrndup(spec, ulen);
    char *found = NULL; /* the passwd name of the user, when there is one */
    uint32_t u = 0, g = 0;
    int rc = -1;
    int k = parse_id(uname, ulen, &u);
    if (k < 0) {
        *err = xasprintf("uid %s is out of range (0-%u)", uname, ID_MAX);
        goto out;
    }
    if (k > 0) {
        if (!etc_passwd || !passwd_find(etc_passwd, NULL, u, &u, &g, &found))
            g = 0; /* an unknown uid runs with gid 0, as in Docker */
    } else if (!etc_passwd) {
        *err = xasprintf("user '%s' cannot be resolved: the image has no /etc/passwd", uname);
        goto out;
    } else if (!passwd_find(etc_passwd, uname, 0, &u, &g, &found)) {
        *err = xasprintf("user '%s' not found in the image's /etc/passwd", uname);
        goto out;
    }

    if (gpart) {
        k = parse_id(gpart, strlen(gpart), &g);
        if (k < 0) {
            *err = xasprintf("gid %s is out of range (0-%u)", gpart, ID_MAX);
            goto out;
        }
        if (k == 0) {
            if (!etc_group) {
                *err = xasprintf("group '%s' cannot be resolved: the image has no /etc/group",
                                 gpart);
                goto out;
            }
            if (!group_find(etc_group, gpart, &g)) {
                *err = xasprintf("group '%s' not found in the image's /etc/group", gpart);
                goto out;
            }
        }
    } else if (found && etc_group && additional_gids && n) {
        if (group_members(etc_group, found, g, orch_ngroups_max(), additional_gids, n, err) !=
            0)
            goto out;
    }
    *uid = u;
    *gid = g;
    rc = 0;
out:
    free(uname);
    free(found);
    return rc;
}
