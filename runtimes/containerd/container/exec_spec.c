/* The OCI Process of a helper command (HEALTHCHECK, STOP, RELOAD run with
 * Tasks.Exec): the container's own process object, taken from the spec
 * ctd_spec_build made for it, with only the arguments replaced. The
 * environment, user, working directory, capabilities, rlimits and
 * noNewPrivileges are the very bytes the container's process got, so the
 * two can never diverge. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "common/xalloc.h"
#include "containerd/container/spec.h"

/* Writes v again; numbers keep their text (rlimits may be 2^64-1). */
static void emit(yajl_gen g, yajl_val v)
{
    switch (v->type) {
    case yajl_t_string:
        yajl_gen_string(g, (const unsigned char *)v->u.string, strlen(v->u.string));
        break;
    case yajl_t_number:
        yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
        break;
    case yajl_t_object:
        yajl_gen_map_open(g);
        for (size_t i = 0; i < v->u.object.len; i++) {
            const char *k = v->u.object.keys[i];
            yajl_gen_string(g, (const unsigned char *)k, strlen(k));
            emit(g, v->u.object.values[i]);
        }
        yajl_gen_map_close(g);
        break;
    case yajl_t_array:
        yajl_gen_array_open(g);
        for (size_t i = 0; i < v->u.array.len; i++)
            emit(g, v->u.array.values[i]);
        yajl_gen_array_close(g);
        break;
    case yajl_t_true:
        yajl_gen_bool(g, 1);
        break;
    case yajl_t_false:
        yajl_gen_bool(g, 0);
        break;
    default:
        yajl_gen_null(g);
        break;
    }
}

int ctd_spec_exec_process(const char *spec_json, size_t len, const char *command, char **json_out,
                          char **err)
{
    *json_out = NULL;
    *err = NULL;
    if (!spec_json || memchr(spec_json, '\0', len)) {
        *err = xstrdup("the container's spec is not JSON");
        return -1;
    }
    char *text = xstrndup(spec_json, len);
    char why[256] = "";
    yajl_val root = yajl_tree_parse(text, why, sizeof why);
    free(text);
    const char *path[] = {"process", NULL};
    yajl_val proc = root ? yajl_tree_get(root, path, yajl_t_object) : NULL;
    if (!proc) {
        *err = xstrdup(root ? "the container's spec has no process object"
                            : "the container's spec is not JSON");
        yajl_tree_free(root);
        return -1;
    }
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g) {
        yajl_tree_free(root);
        *err = xstrdup("out of memory");
        return -1;
    }
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);
    int rc = 0;
    bool have_args = false;
    yajl_gen_map_open(g);
    for (size_t i = 0; i < proc->u.object.len; i++) {
        const char *k = proc->u.object.keys[i];
        yajl_gen_string(g, (const unsigned char *)k, strlen(k));
        if (strcmp(k, "args") == 0) {
            have_args = true;
            const char *args[] = {"/bin/sh", "-c", command};
            yajl_gen_array_open(g);
            for (size_t a = 0; a < 3; a++)
                if (yajl_gen_string(g, (const unsigned char *)args[a], strlen(args[a])) !=
                    yajl_gen_status_ok)
                    rc = -1;
            yajl_gen_array_close(g);
        } else if (strcmp(k, "terminal") == 0) {
            yajl_gen_bool(g, 0); /* output goes to the log, never a tty */
        } else {
            emit(g, proc->u.object.values[i]);
        }
    }
    yajl_gen_map_close(g);
    if (rc != 0) {
        *err = xstrdup("the command is not valid UTF-8");
    } else if (!have_args) {
        *err = xstrdup("the container's spec has no process arguments");
        rc = -1;
    } else {
        const unsigned char *buf;
        size_t n;
        yajl_gen_get_buf(g, &buf, &n);
        *json_out = xstrndup((const char *)buf, n);
    }
    yajl_gen_free(g);
    yajl_tree_free(root);
    return rc;
}
