/* Registry authentication (auth.h). Tokens are fetched by the pull itself
 * (pull.c); here are the parsing and the credentials file. */
#include "containerd/fetch/auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yajl/yajl_tree.h>

#include "common/xalloc.h"

#define MAX_CONFIG (1u << 20)

void auth_challenge_free(auth_challenge *c)
{
    free(c->scheme);
    free(c->realm);
    free(c->service);
    free(c->scope);
    memset(c, 0, sizeof *c);
}

/* Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="..." */
int auth_parse_challenge(const char *v, auth_challenge *c)
{
    memset(c, 0, sizeof *c);
    if (!v)
        return -1;
    while (*v == ' ')
        v++;
    size_t n = strcspn(v, " ");
    if (n == 0)
        return -1;
    c->scheme = xstrndup(v, n);
    for (char *p = c->scheme; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    v += n;
    while (*v) {
        while (*v == ' ' || *v == ',')
            v++;
        size_t k = strcspn(v, "= ,");
        if (k == 0 || v[k] != '=')
            break;
        char *key = xstrndup(v, k);
        v += k + 1;
        char *val;
        if (*v == '"') {
            v++;
            size_t cap = strlen(v) + 1, len = 0;
            val = xmalloc(cap);
            while (*v && *v != '"') {
                if (*v == '\\' && v[1])
                    v++;
                val[len++] = *v++;
            }
            val[len] = '\0';
            if (*v == '"')
                v++;
        } else {
            size_t m = strcspn(v, ",");
            val = xstrndup(v, m);
            v += m;
        }
        char **dst = NULL;
        if (strcasecmp(key, "realm") == 0)
            dst = &c->realm;
        else if (strcasecmp(key, "service") == 0)
            dst = &c->service;
        else if (strcasecmp(key, "scope") == 0)
            dst = &c->scope;
        if (dst && !*dst)
            *dst = val;
        else
            free(val);
        free(key);
    }
    return 0;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *auth_base64(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = xmalloc(4 * ((len + 2) / 3) + 1), *o = out;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        *o++ = B64[(v >> 18) & 63];
        *o++ = B64[(v >> 12) & 63];
        *o++ = i + 1 < len ? B64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? B64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

char *auth_unbase64(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *out = xmalloc(n / 4 * 3 + 4);
    size_t o = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '=' || ch == '\n' || ch == '\r')
            continue;
        const char *p = strchr(B64, ch);
        if (!p || !ch) {
            free(out);
            return NULL;
        }
        v = (v << 6) | (unsigned)(p - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((v >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

static char *read_small_file(const char *path, char **problem)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno != ENOENT)
            *problem = xasprintf("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = xmalloc(MAX_CONFIG + 1);
    size_t n = fread(buf, 1, MAX_CONFIG, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* "https://index.docker.io/v1/" -> "index.docker.io"; "http://h:5000/x" -> "h:5000" */
static char *key_host(const char *key)
{
    const char *p = strstr(key, "://");
    p = p ? p + 3 : key;
    size_t n = strcspn(p, "/");
    return xstrndup(p, n);
}

char *auth_config_path(void)
{
    const char *dir = getenv("DOCKER_CONFIG");
    if (dir && *dir)
        return xasprintf("%s/config.json", dir);
    const char *home = getenv("HOME");
    return xasprintf("%s/.docker/config.json", home && *home ? home : "/root");
}

bool auth_find_credentials(const char *domain, char **user, char **secret, char **where,
                           char **problem)
{
    *user = *secret = NULL;
    *where = NULL;
    *problem = NULL;
    char *path = auth_config_path();
    char *text = read_small_file(path, problem);
    if (!text) {
        free(path);
        return false;
    }
    char why[256] = "";
    yajl_val root = yajl_tree_parse(text, why, sizeof why);
    free(text);
    if (!root || !YAJL_IS_OBJECT(root)) {
        why[strcspn(why, "\n")] = '\0';
        *problem = xasprintf("%s is not valid JSON%s%s", path, *why ? ": " : "", why);
        yajl_tree_free(root);
        free(path);
        return false;
    }
    const char *ap[] = {"auths", NULL};
    yajl_val auths = yajl_tree_get(root, ap, yajl_t_object);
    bool found = false;
    bool hub = strcmp(domain, "docker.io") == 0;
    for (size_t i = 0; auths && i < auths->u.object.len && !found; i++) {
        char *h = key_host(auths->u.object.keys[i]);
        bool match = strcmp(h, domain) == 0 ||
                     (hub && (strcmp(h, "index.docker.io") == 0 ||
                              strcmp(h, "registry-1.docker.io") == 0));
        free(h);
        if (!match)
            continue;
        yajl_val e = auths->u.object.values[i];
        const char *kp[] = {"auth", NULL}, *up[] = {"username", NULL}, *pp[] = {"password", NULL};
        const char *a = YAJL_GET_STRING(yajl_tree_get(e, kp, yajl_t_string));
        const char *u = YAJL_GET_STRING(yajl_tree_get(e, up, yajl_t_string));
        const char *p = YAJL_GET_STRING(yajl_tree_get(e, pp, yajl_t_string));
        if (a && *a) {
            size_t len = 0;
            char *dec = auth_unbase64(a, &len);
            char *colon = dec ? memchr(dec, ':', len) : NULL;
            if (!colon) {
                *problem = xasprintf("%s: the \"auth\" of %s is not base64 of user:password",
                                     path, auths->u.object.keys[i]);
                free(dec);
                continue;
            }
            *colon = '\0';
            *user = xstrdup(dec);
            *secret = xstrdup(colon + 1);
            free(dec);
            found = true;
        } else if (u && p) {
            *user = xstrdup(u);
            *secret = xstrdup(p);
            found = true;
        }
    }
    yajl_tree_free(root);
    if (found)
        *where = path;
    else
        free(path);
    return found;
}
