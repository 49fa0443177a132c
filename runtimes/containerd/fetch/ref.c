/* Image references (ref.h), following distribution/reference's grammar and
 * docker's normalisation (reference/normalize.go). */
#include "containerd/fetch/ref.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

bool img_digest_valid(const char *d)
{
    if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

const char *img_ref_api_host(const char *domain)
{
    return strcmp(domain, "docker.io") == 0 ? "registry-1.docker.io" : domain;
}

void img_ref_free(img_ref *r)
{
    free(r->domain);
    free(r->path);
    free(r->tag);
    free(r->digest);
    free(r->name);
    free(r->file);
    free(r->file_tag);
    memset(r, 0, sizeof *r);
}

static bool lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool path_component_ok(const char *s, size_t n)
{
    if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n;) {
        if (lower_alnum(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        if (s[i] == '.')
            j = i + 1;
        else if (s[i] == '_')
            j = (i + 1 < n && s[i + 1] == '_') ? i + 2 : i + 1;
        else if (s[i] == '-')
            while (j < n && s[j] == '-')
                j++;
        else
            return false;
        if (j >= n || !lower_alnum(s[j]))
            return false;
        i = j;
    }
    return true;
}

static bool domain_ok(const char *s)
{
    if (s[0] == '[') { /* [ipv6]:port */
        const char *end = strchr(s, ']');
        if (!end || end == s + 1)
            return false;
        for (const char *p = s + 1; p < end; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':')
                return false;
        s = end + 1;
        if (!*s)
            return true;
        if (*s != ':')
            return false;
    } else {
        size_t n = strcspn(s, ":");
        if (n == 0)
            return false;
        for (size_t i = 0; i < n; i++) {
            char c = s[i];
            bool alnum = isalnum((unsigned char)c);
            if (!alnum && c != '-' && c != '.')
                return false;
            if (c == '.' && (i == 0 || i + 1 == n || s[i + 1] == '.'))
                return false;
            if (c == '-' && (i == 0 || i + 1 == n || s[i - 1] == '.' || s[i + 1] == '.'))
                return false;
        }
        s += n;
        if (!*s)
            return true;
    }
    /* :port */
    s++;
    if (!*s || strlen(s) > 5)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static bool tag_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        bool w = isalnum((unsigned char)c) || c == '_';
        if (!(w || (i > 0 && (c == '.' || c == '-'))))
            return false;
    }
    return true;
}

/* Every refusal names the reference: "image reference 'x': why". */
static int refuse(orch_error **err, const char *s, const char *why)
{
    return orch_error_set(err, orch_error_new(ORCH_E_INVALID, "image reference '%s': %s", s, why));
}

static char *absolute_path(const char *p, const char *base_dir)
{
    if (p[0] == '/')
        return xstrdup(p);
    if (!base_dir)
        return NULL;
    if (p[0] == '.' && p[1] == '/')
        p += 2;
    return xasprintf("%s/%s", base_dir, p);
}

static int parse_local(const char *s, const char *base_dir, img_ref *r, orch_error **err)
{
    bool archive = strncmp(s, "oci-archive:", 12) == 0;
    const char *p = s + (archive ? 12 : 4);
    if (!*p)
        return refuse(err, s, "no path after the colon");
    r->kind = archive ? REF_OCI_ARCHIVE : REF_OCI_LAYOUT;
    char *path = xstrdup(p);
    if (!archive) {
        /* oci:DIR:TAG -- a ':' after the last '/' starts the tag */
        char *slash = strrchr(path, '/');
        char *colon = strrchr(slash ? slash : path, ':');
        if (colon) {
            *colon = '\0';
            if (!tag_ok(colon + 1) && colon[1]) {
                free(path);
                return refuse(err, s, "the tag after the layout directory is not a valid tag");
            }
            if (colon[1])
                r->file_tag = xstrdup(colon + 1);
        }
    }
    r->file = absolute_path(path, base_dir);
    free(path);
    if (!r->file) {
        img_ref_free(r);
        return refuse(err, s, "a relative path needs a project directory");
    }
    /* the record name: the absolute form, so one file has one record */
    if (archive)
        r->name = xasprintf("oci-archive:%s", r->file);
    else
        r->name = r->file_tag ? xasprintf("oci:%s:%s", r->file, r->file_tag)
                              : xasprintf("oci:%s", r->file);
    return 0;
}

int img_ref_parse(const char *s, const char *base_dir, img_ref *r, orch_error **err)
{
    memset(r, 0, sizeof *r);
    if (err)
        *err = NULL;
    if (!s || !*s)
        return refuse(err, s ? s : "", "empty");
    if (strncmp(s, "oci-archive:", 12) == 0 ||
        (strncmp(s, "oci:", 4) == 0 && (s[4] == '/' || s[4] == '.')))
        return parse_local(s, base_dir, r, err);
    if (strlen(s) > 4096)
        return refuse(err, "...", "longer than 4096 characters");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return refuse(err, s, "contains spaces or control characters");
    r->kind = REF_REGISTRY;
    char *rest = xstrdup(s);
    char *at = strchr(rest, '@');
    if (at) {
        *at = '\0';
        if (!img_digest_valid(at + 1)) {
            free(rest);
            return refuse(err, s, "the digest must be sha256: and 64 lowercase hex digits");
        }
        r->digest = xstrdup(at + 1);
    }
    char *slash = strchr(rest, '/');
    char *last_slash = strrchr(rest, '/');
    char *colon = strrchr(last_slash ? last_slash : rest, ':');
    if (colon) {
        *colon = '\0';
        if (!tag_ok(colon + 1)) {
            free(rest);
            img_ref_free(r);
            return refuse(err, s, "the tag may hold letters, digits, '_', '.' and '-' "
                                "(at most 128, not starting with '.' or '-')");
        }
        r->tag = xstrdup(colon + 1);
    }
    const char *remote = rest;
    if (slash) {
        size_t n = (size_t)(slash - rest);
        bool upper = false;
        for (size_t i = 0; i < n; i++)
            upper |= isupper((unsigned char)rest[i]) != 0;
        if (memchr(rest, '.', n) || memchr(rest, ':', n) || (n == 9 && !strncmp(rest, "localhost", 9)) ||
            upper) {
            r->domain = xstrndup(rest, n);
            remote = slash + 1;
        }
    }
    if (!r->domain)
        r->domain = xstrdup("docker.io");
    if (strcmp(r->domain, "index.docker.io") == 0) {
        free(r->domain);
        r->domain = xstrdup("docker.io");
    }
    if (!domain_ok(r->domain)) {
        free(rest);
        char *why = xasprintf("'%s' is not a valid registry host[:port]", r->domain);
        img_ref_free(r);
        int rc = refuse(err, s, why);
        free(why);
        return rc;
    }
    if (strcmp(r->domain, "docker.io") == 0 && !strchr(remote, '/'))
        r->path = xasprintf("library/%s", remote);
    else
        r->path = xstrdup(remote);
    free(rest);
    /* every path component */
    for (const char *p = r->path;;) {
        size_t n = strcspn(p, "/");
        if (!path_component_ok(p, n)) {
            bool upper = false;
            for (size_t i = 0; i < n; i++)
                upper |= isupper((unsigned char)p[i]) != 0;
            img_ref_free(r);
            return refuse(err, s, upper ? "repository names must be lowercase"
                                      : "the repository name may hold a-z, 0-9 and single "
                                        "'.', '_', '__' or '-' runs between them");
        }
        if (!p[n])
            break;
        p += n + 1;
    }
    if (strlen(r->domain) + strlen(r->path) + 1 > 255) {
        img_ref_free(r);
        return refuse(err, s, "the repository name is longer than 255 characters");
    }
    if (!r->tag && !r->digest)
        r->tag = xstrdup("latest");
    if (r->digest && r->tag)
        r->name = xasprintf("%s/%s:%s@%s", r->domain, r->path, r->tag, r->digest);
    else if (r->digest)
        r->name = xasprintf("%s/%s@%s", r->domain, r->path, r->digest);
    else
        r->name = xasprintf("%s/%s:%s", r->domain, r->path, r->tag);
    return 0;
}
