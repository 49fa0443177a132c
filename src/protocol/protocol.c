#include "protocol/protocol.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "common/xalloc.h"

static const char *const kind_names[] = {
    [ORCH_REQ_PING] = "ping",     [ORCH_REQ_GROW] = "grow",     [ORCH_REQ_FELL] = "fell",
    [ORCH_REQ_SURVEY] = "survey", [ORCH_REQ_RELOAD] = "reload", [ORCH_REQ_LOG_PATH] = "log-path",
    [ORCH_REQ_PULL] = "pull",     [ORCH_REQ_IMPORT] = "import",
};

const char *orch_req_kind_name(orch_req_kind k)
{
    return kind_names[k];
}

void orch_request_free(orch_request *r)
{
    for (size_t i = 0; i < r->n_files; i++)
        free(r->files[i]);
    for (size_t i = 0; i < r->n_args; i++) {
        free(r->arg_names[i]);
        free(r->arg_values[i]);
    }
    for (size_t i = 0; i < r->n_env; i++)
        free(r->env[i]);
    for (size_t i = 0; i < r->n_names; i++)
        free(r->names[i]);
    free(r->files);
    free(r->arg_names);
    free(r->arg_values);
    free(r->env);
    free(r->names);
    for (size_t i = 0; i < r->n_rerun; i++)
        free(r->rerun[i]);
    free(r->rerun);
    free(r->project_dir);
    free(r->port_offset);
    free(r->data_dir);
    free(r->namespace_);
    free(r->pull);
    memset(r, 0, sizeof *r);
}

static yajl_val member(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    return yajl_tree_get(obj, path, yajl_t_any);
}

/* Strings must be free of NUL bytes: they become paths and names. */
static int take_string(yajl_val v, const char *key, char **out, char **err)
{
    if (!v)
        return 0;
    if (!YAJL_IS_STRING(v)) {
        *err = xasprintf("'%s' must be a string", key);
        return -1;
    }
    *out = xstrdup(YAJL_GET_STRING(v));
    return 0;
}

static int take_strings(yajl_val v, const char *key, char ***out, size_t *n, char **err)
{
    if (!v)
        return 0;
    if (!YAJL_IS_ARRAY(v)) {
        *err = xasprintf("'%s' must be an array of strings", key);
        return -1;
    }
    size_t len = YAJL_GET_ARRAY(v)->len;
    *out = xcalloc(len + 1, sizeof **out);
    for (size_t i = 0; i < len; i++) {
        yajl_val item = YAJL_GET_ARRAY(v)->values[i];
        if (!YAJL_IS_STRING(item)) {
            *err = xasprintf("'%s' must be an array of strings", key);
            return -1;
        }
        (*out)[(*n)++] = xstrdup(YAJL_GET_STRING(item));
    }
    return 0;
}

static int take_bool(yajl_val v, const char *key, bool *out, char **err)
{
    if (!v)
        return 0;
    if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v)) {
        *err = xasprintf("'%s' must be true or false", key);
        return -1;
    }
    *out = YAJL_IS_TRUE(v);
    return 0;
}

static int take_args(yajl_val v, orch_request *r, char **err)
{
    if (!v)
        return 0;
    if (!YAJL_IS_OBJECT(v)) {
        *err = xstrdup("'args' must be an object of name: value");
        return -1;
    }
    size_t len = YAJL_GET_OBJECT(v)->len;
    r->arg_names = xcalloc(len + 1, sizeof *r->arg_names);
    r->arg_values = xcalloc(len + 1, sizeof *r->arg_values);
    for (size_t i = 0; i < len; i++) {
        yajl_val item = YAJL_GET_OBJECT(v)->values[i];
        if (!YAJL_IS_STRING(item)) {
            *err = xstrdup("'args' values must be strings");
            return -1;
        }
        r->arg_names[r->n_args] = xstrdup(YAJL_GET_OBJECT(v)->keys[i]);
        r->arg_values[r->n_args++] = xstrdup(YAJL_GET_STRING(item));
    }
    return 0;
}

int orch_request_decode(const char *buf, size_t len, orch_request *r, char **err)
{
    memset(r, 0, sizeof *r);
    *err = NULL;
    if (len > ORCH_REQUEST_MAX) {
        *err = xstrdup("request too large");
        return -1;
    }
    if (memchr(buf, '\0', len)) {
        *err = xstrdup("request contains a NUL byte");
        return -1;
    }
    char *text = xstrndup(buf, len);
    char errbuf[256] = "";
    yajl_val root = yajl_tree_parse(text, errbuf, sizeof errbuf);
    free(text);
    if (!root) {
        errbuf[strcspn(errbuf, "\n")] = '\0';
        *err = xasprintf("request is not JSON: %s", errbuf);
        return -1;
    }
    int rc = -1;
    if (!YAJL_IS_OBJECT(root)) {
        *err = xstrdup("request must be a JSON object");
        goto out;
    }
    yajl_val cmd = member(root, "cmd");
    if (!cmd || !YAJL_IS_STRING(cmd)) {
        *err = xstrdup("request needs a string 'cmd'");
        goto out;
    }
    size_t k = 0;
    while (k < sizeof kind_names / sizeof *kind_names && strcmp(kind_names[k], cmd->u.string))
        k++;
    if (k == sizeof kind_names / sizeof *kind_names) {
        *err = xasprintf("unknown cmd '%s'", cmd->u.string);
        goto out;
    }
    r->kind = (orch_req_kind)k;
    if (take_strings(member(root, "files"), "files", &r->files, &r->n_files, err) ||
        take_args(member(root, "args"), r, err) ||
        take_strings(member(root, "env"), "env", &r->env, &r->n_env, err) ||
        take_strings(member(root, "names"), "names", &r->names, &r->n_names, err) ||
        take_strings(member(root, "rerun"), "rerun", &r->rerun, &r->n_rerun, err) ||
        take_string(member(root, "project_dir"), "project_dir", &r->project_dir, err) ||
        take_string(member(root, "data_dir"), "data_dir", &r->data_dir, err) ||
        take_string(member(root, "namespace"), "namespace", &r->namespace_, err) ||
        take_string(member(root, "port_offset"), "port_offset", &r->port_offset, err) ||
        take_bool(member(root, "keep_data"), "keep_data", &r->keep_data, err) ||
        take_bool(member(root, "poweroff"), "poweroff", &r->poweroff, err) ||
        take_string(member(root, "pull"), "pull", &r->pull, err) ||
        take_bool(member(root, "progress"), "progress", &r->progress, err))
        goto out;
    if (!r->env)
        r->env = xcalloc(1, sizeof *r->env);
    if ((r->kind == ORCH_REQ_GROW || r->kind == ORCH_REQ_PULL) && r->n_files == 0) {
        *err = xasprintf("%s needs 'files'", kind_names[r->kind]);
        goto out;
    }
    if (r->kind == ORCH_REQ_IMPORT && r->n_files != 1) {
        *err = xstrdup("import needs exactly one file");
        goto out;
    }
    /* The daemon's cwd is not the client's: a relative name would quietly
     * read some other file. */
    for (size_t i = 0; i < r->n_files; i++) {
        if (r->files[i][0] != '/') {
            *err = xasprintf("'files': %s is not an absolute path", r->files[i]);
            goto out;
        }
    }
    if (r->pull && strcmp(r->pull, "always") && strcmp(r->pull, "missing") &&
        strcmp(r->pull, "never")) {
        *err = xstrdup("'pull' must be always, missing or never");
        goto out;
    }
    if ((r->kind == ORCH_REQ_RELOAD || r->kind == ORCH_REQ_LOG_PATH) && r->n_names != 1) {
        *err = xasprintf("%s needs exactly one name", kind_names[r->kind]);
        goto out;
    }
    rc = 0;
out:
    yajl_tree_free(root);
    if (rc < 0)
        orch_request_free(r);
    return rc;
}

static void gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_strings(yajl_gen g, const char *key, char **v, size_t n)
{
    if (n == 0)
        return;
    gen_str(g, key);
    yajl_gen_array_open(g);
    for (size_t i = 0; i < n; i++)
        gen_str(g, v[i]);
    yajl_gen_array_close(g);
}

char *orch_request_encode(const orch_request *r)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    gen_str(g, "cmd");
    gen_str(g, kind_names[r->kind]);
    gen_strings(g, "files", r->files, r->n_files);
    if (r->n_args) {
        gen_str(g, "args");
        yajl_gen_map_open(g);
        for (size_t i = 0; i < r->n_args; i++) {
            gen_str(g, r->arg_names[i]);
            gen_str(g, r->arg_values[i]);
        }
        yajl_gen_map_close(g);
    }
    gen_strings(g, "env", r->env, r->n_env);
    gen_strings(g, "names", r->names, r->n_names);
    gen_strings(g, "rerun", r->rerun, r->n_rerun);
    const char *keys[] = {"project_dir", "data_dir", "namespace", "port_offset", "pull"};
    const char *vals[] = {r->project_dir, r->data_dir, r->namespace_, r->port_offset, r->pull};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        if (vals[i]) {
            gen_str(g, keys[i]);
            gen_str(g, vals[i]);
        }
    }
    if (r->keep_data) {
        gen_str(g, "keep_data");
        yajl_gen_bool(g, 1);
    }
    if (r->poweroff) {
        gen_str(g, "poweroff");
        yajl_gen_bool(g, 1);
    }
    if (r->progress) {
        gen_str(g, "progress");
        yajl_gen_bool(g, 1);
    }
    yajl_gen_map_close(g);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    char *out = xmalloc(len + 2);
    memcpy(out, buf, len);
    out[len] = '\n';
    out[len + 1] = '\0';
    yajl_gen_free(g);
    return out;
}
