#include "bare/user.h"

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

/* A decimal id that fits in 32 bits (and is not (uid_t)-1). */
static bool parse_id(const char *s, unsigned *out)
{
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
        return false;
    unsigned long v = strtoul(s, NULL, 10);
    if (v >= 0xffffffffUL)
        return false;
    *out = (unsigned)v;
    return true;
}

static void fill_from_passwd(orch_bare_user *u, const struct passwd *pw)
{
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    u->name = xstrdup(pw->pw_name);
    u->home = xstrdup(pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/");
    u->shell = pw->pw_shell && *pw->pw_shell ? xstrdup(pw->pw_shell) : NULL;
}

/* The groups /etc/group lists name in, plus gid itself. */
static void supplementary_groups(orch_bare_user *u)
{
    int n = 16;
    for (;;) {
        gid_t *g = xmalloc((size_t)n * sizeof *g);
        int want = n;
        if (getgrouplist(u->name, u->gid, g, &want) >= 0) {
            u->groups = g;
            u->n_groups = (size_t)want;
            return;
        }
        free(g);
        n = want > n ? want : n * 2;
    }
}

int orch_bare_user_resolve(const char *spec, orch_bare_user *u, char **why)
{
    memset(u, 0, sizeof *u);
    *why = NULL;
    if (!spec) {
        struct passwd *pw = getpwuid(geteuid());
        if (pw) {
            fill_from_passwd(u, pw);
        } else { /* e.g. an initramfs without /etc/passwd */
            u->uid = geteuid();
            u->gid = getegid();
            u->home = xstrdup("/");
        }
        return 0;
    }

    char *user = xstrdup(spec);
    char *group = strchr(user, ':');
    if (group)
        *group++ = '\0';
    unsigned id;
    struct passwd *pw = NULL;
    if (parse_id(user, &id)) {
        pw = getpwuid((uid_t)id);
        if (!pw) {
            u->uid = (uid_t)id;
            u->gid = (gid_t)id;
            u->home = xstrdup("/");
        }
    } else if (!(pw = getpwnam(user))) {
        *why = xasprintf("USER '%s' does not exist", user);
        free(user);
        return -1;
    }
    if (pw)
        fill_from_passwd(u, pw);
    if (group) {
        struct group *gr;
        if (parse_id(group, &id)) {
            u->gid = (gid_t)id;
        } else if ((gr = getgrnam(group))) {
            u->gid = gr->gr_gid;
        } else {
            *why = xasprintf("USER '%s': group '%s' does not exist", spec, group);
            free(user);
            orch_bare_user_free(u);
            return -1;
        }
    }
    if (u->name)
        supplementary_groups(u);
    free(user);
    return 0;
}

void orch_bare_user_free(orch_bare_user *u)
{
    free(u->groups);
    free(u->name);
    free(u->home);
    free(u->shell);
    memset(u, 0, sizeof *u);
}
