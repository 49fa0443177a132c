#include "containerd/store/image_config.h"

#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "common/xalloc.h"

static yajl_val member(yajl_val obj, const char *key)
{
    if (!YAJL_IS_OBJECT(obj))
        return NULL;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return obj->u.object.values[i];
    return NULL;
}

/* A string member: absent, null and "" leave *out NULL. */
static int take_string(yajl_val obj, const char *key, const char *path, char **out, char **err)
{
    yajl_val v = member(obj, key);
    if (!v || YAJL_IS_NULL(v))
        return 0;
    if (!YAJL_IS_STRING(v)) {
        *err = xasprintf("image config: %s is not a string", path);
        return -1;
    }
    if (v->u.string[0])
        *out = xstrdup(v->u.string);
    return 0;
}

/* An array of strings; a single string when single_ok (Docker's strslice). */
static int take_list(yajl_val obj, const char *key, const char *path, int single_ok,
                     ctd_strlist *out, char **err)
{
    yajl_val v = member(obj, key);
    if (!v || YAJL_IS_NULL(v))
        return 0;
    if (single_ok && YAJL_IS_STRING(v)) {
        out->v = xmalloc(sizeof *out->v);
        out->v[0] = xstrdup(v->u.string);
        out->n = 1;
        return 0;
    }
    if (!YAJL_IS_ARRAY(v))
        goto bad;
    for (size_t i = 0; i < v->u.array.len; i++)
        if (!YAJL_IS_STRING(v->u.array.values[i]))
            goto bad;
    out->n = v->u.array.len;
    out->v = xcalloc(out->n ? out->n : 1, sizeof *out->v);
    for (size_t i = 0; i < out->n; i++)
        out->v[i] = xstrdup(v->u.array.values[i]->u.string);
    return 0;
bad:
    *err = xasprintf("image config: %s is not %s", path,
                     single_ok ? "a string or an array of strings" : "an array of strings");
    return -1;
}

static void strlist_free(ctd_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void ctd_image_config_free(ctd_image_config *c)
{
    free(c->os);
    free(c->architecture);
    strlist_free(&c->env);
    strlist_free(&c->entrypoint);
    strlist_free(&c->cmd);
    free(c->working_dir);
    free(c->user);
    free(c->stop_signal);
    strlist_free(&c->diff_ids);
    memset(c, 0, sizeof *c);
}

int ctd_image_config_parse(const char *json, size_t len, ctd_image_config *out, char **err)
{
    memset(out, 0, sizeof *out);
    *err = NULL;
    if (memchr(json, '\0', len)) {
        *err = xstrdup("image config: not JSON (contains a NUL byte)");
        return -1;
    }
    char *text = xstrndup(json, len);
    char why[256] = "";
    yajl_val root = yajl_tree_parse(text, why, sizeof why);
    free(text);
    if (!root) {
        size_t n = strlen(why);
        while (n && (why[n - 1] == '\n' || why[n - 1] == ' '))
            why[--n] = '\0';
        *err = xasprintf("image config: not JSON: %s", why[0] ? why : "parse error");
        return -1;
    }
    int rc = -1;
    if (!YAJL_IS_OBJECT(root)) {
        *err = xstrdup("image config: not a JSON object");
        goto out;
    }
    if (take_string(root, "os", "os", &out->os, err) < 0 ||
        take_string(root, "architecture", "architecture", &out->architecture, err) < 0)
        goto out;

    yajl_val cfg = member(root, "config");
    if (cfg && !YAJL_IS_NULL(cfg)) {
        if (!YAJL_IS_OBJECT(cfg)) {
            *err = xstrdup("image config: config is not an object");
            goto out;
        }
        if (take_list(cfg, "Env", "config.Env", 0, &out->env, err) < 0 ||
            take_list(cfg, "Entrypoint", "config.Entrypoint", 1, &out->entrypoint, err) < 0 ||
            take_list(cfg, "Cmd", "config.Cmd", 1, &out->cmd, err) < 0 ||
            take_string(cfg, "WorkingDir", "config.WorkingDir", &out->working_dir, err) < 0 ||
            take_string(cfg, "User", "config.User", &out->user, err) < 0 ||
            take_string(cfg, "StopSignal", "config.StopSignal", &out->stop_signal, err) < 0)
            goto out;
    }

    yajl_val rootfs = member(root, "rootfs");
    if (rootfs && !YAJL_IS_NULL(rootfs)) {
        if (!YAJL_IS_OBJECT(rootfs)) {
            *err = xstrdup("image config: rootfs is not an object");
            goto out;
        }
        yajl_val type = member(rootfs, "type");
        if (type && !(YAJL_IS_STRING(type) && strcmp(type->u.string, "layers") == 0)) {
            *err = xstrdup("image config: rootfs.type is not \"layers\"");
            goto out;
        }
        if (take_list(rootfs, "diff_ids", "rootfs.diff_ids", 0, &out->diff_ids, err) < 0)
            goto out;
    }
    rc = 0;
out:
    yajl_tree_free(root);
    if (rc < 0)
        ctd_image_config_free(out);
    return rc;
}
