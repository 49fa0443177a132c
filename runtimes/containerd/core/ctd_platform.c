/* The host's platform and the one rule that picks a manifest for it from
 * an index (ctd_platform.h): registry pulls, archive imports and the store's
 * resolution of a start's image all use this. */
#include "containerd/core/ctd_platform.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/xalloc.h"

static const char *jstr(yajl_val v, const char *key)
{
    const char *path[] = {key, NULL};
    return YAJL_GET_STRING(yajl_tree_get(v, path, yajl_t_string));
}

const char *ctd_host_arch(const char **variant)
{
    static char arch[32], var[8];
    if (!arch[0]) {
        struct utsname u;
        const char *m = uname(&u) == 0 ? u.machine : "";
        const char *a = m, *v = "";
        if (strcmp(m, "x86_64") == 0)
            a = "amd64";
        else if (strcmp(m, "aarch64") == 0 || strcmp(m, "arm64") == 0)
            a = "arm64", v = "v8";
        else if (strncmp(m, "armv7", 5) == 0)
            a = "arm", v = "v7";
        else if (strncmp(m, "armv6", 5) == 0)
            a = "arm", v = "v6";
        else if (m[0] == 'i' && strcmp(m + 2, "86") == 0)
            a = "386";
        snprintf(arch, sizeof arch, "%.31s", a);
        snprintf(var, sizeof var, "%.7s", v);
    }
    if (variant)
        *variant = var;
    return arch;
}

int ctd_pick_platform(yajl_val index, const char *want, const char *want_var, char **why)
{
    const char *mp[] = {"manifests", NULL};
    yajl_val ms = yajl_tree_get(index, mp, yajl_t_array);
    if (!YAJL_IS_ARRAY(ms)) {
        *why = xstrdup("its index has no \"manifests\"");
        return -1;
    }
    int pick = -1, unnamed = -1, n_unnamed = 0;
    char seen[256] = "";
    for (size_t i = 0; i < ms->u.array.len && i < (size_t)INT32_MAX; i++) {
        yajl_val m = ms->u.array.values[i];
        const char *pp[] = {"platform", NULL};
        yajl_val p = yajl_tree_get(m, pp, yajl_t_object);
        if (!p) {
            n_unnamed++;
            unnamed = (int)i;
            continue;
        }
        const char *os = jstr(p, "os"), *arch = jstr(p, "architecture"), *var = jstr(p, "variant");
        if (os && arch && strlen(seen) < 200)
            snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s%s/%s%s%s",
                     *seen ? ", " : "", os, arch, var && *var ? "/" : "", var ? var : "");
        if (!os || strcmp(os, "linux") != 0 || !arch || strcmp(arch, want) != 0)
            continue;
        bool exact = !var || !*var || !*want_var || strcmp(var, want_var) == 0;
        if (!exact)
            continue;
        if (pick < 0)
            pick = (int)i;
    }
    if (pick < 0 && n_unnamed == 1 && ms->u.array.len == 1)
        pick = unnamed;
    if (pick < 0)
        *why = xasprintf("no manifest for linux/%s%s%s (it has: %s)", want, *want_var ? "/" : "",
                         want_var, *seen ? seen : "no platforms");
    return pick;
}
