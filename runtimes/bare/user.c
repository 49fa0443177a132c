#include "bare/user.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/gidset.h"
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

/* The groups the group database (/etc/group, through NSS) lists name in,
 * plus gid itself, in one pass over getgrent_r. (glibc's getgrouplist checks
 * each match against the list so far: quadratic in a large /etc/group.)
 * Returns -1 with *why past max groups, which setgroups would refuse. */
static int supplementary_groups(orch_bare_user *u, size_t max, char **why)
{
    orch_gidset set = {0};
    orch_gidset_add(&set, (uint32_t)u->gid);
    size_t cap = 4096;
    char *buf = xmalloc(cap);
    struct group gr, *res;
    int rc = 0;
    setgrent();
    for (;;) {
        int e = getgrent_r(&gr, buf, cap, &res);
        if (e == ERANGE) { /* a group too long for buf: the same entry again, bigger */
            cap *= 2;
            free(buf);
            buf = xmalloc(cap);
            continue;
        }
        if (e != 0 || !res)
            break;
        bool member = false;
        for (char **m = gr.gr_mem; m && *m && !member; m++)
            member = strcmp(*m, u->name) == 0;
        if (member && orch_gidset_add(&set, (uint32_t)gr.gr_gid) && set.n > max) {
            *why = xasprintf("USER '%s' is a member of more than %zu groups in /etc/group "
                             "(NGROUPS_MAX, the kernel's limit)",
                             u->name, max);
            rc = -1;
            break;
        }
    }
    endgrent();
    free(buf);
    if (rc != 0) {
        orch_gidset_free(&set);
        return -1;
    }
    size_t n;
    uint32_t *v = orch_gidset_take(&set, &n);
    u->groups = xcalloc(n, sizeof *u->groups);
    for (size_t i = 0; i < n; i++)
        u->groups[i] = (gid_t)v[i];
    u->n_groups = n;
    free(v);
    return 0;
}

/* The daemon's own user (no USER), looked up once per version of
 * /etc/passwd: every start of a service without USER asked NSS again (an
 * open and read of /etc/passwd, ~7 syscalls), twice per start counting the
 * identity check. The entry is kept while /etc/passwd has the same inode,
 * size and mtime and the euid is the same; without a readable /etc/passwd
 * nothing is kept and NSS is asked each time. */
static struct {
    bool valid;
    uid_t euid;
    struct stat st;
    orch_bare_user u;
} own;

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void copy_user(orch_bare_user *to, const orch_bare_user *from)
{
    *to = *from;
    to->groups = NULL; /* the own user's supplementary groups are not switched to */
    to->n_groups = 0;
    to->name = from->name ? xstrdup(from->name) : NULL;
    to->home = from->home ? xstrdup(from->home) : NULL;
    to->shell = from->shell ? xstrdup(from->shell) : NULL;
}

static void resolve_own(orch_bare_user *u)
{
    struct stat st;
    uid_t euid = geteuid();
    bool cacheable = stat("/etc/passwd", &st) == 0;
    if (cacheable && own.valid && own.euid == euid && same_file(&own.st, &st)) {
        copy_user(u, &own.u);
        return;
    }
    struct passwd *pw = getpwuid(euid);
    if (pw) {
        fill_from_passwd(u, pw);
    } else { /* e.g. an initramfs without /etc/passwd */
        u->uid = euid;
        u->gid = getegid();
        u->home = xstrdup("/");
    }
    if (own.valid)
        orch_bare_user_free(&own.u);
    own.valid = cacheable;
    if (cacheable) {
        own.euid = euid;
        own.st = st;
        copy_user(&own.u, u);
    }
}

int orch_bare_user_resolve(const char *spec, orch_bare_user *u, char **why)
{
    memset(u, 0, sizeof *u);
    *why = NULL;
    if (!spec) {
        resolve_own(u);
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
    if (u->name && supplementary_groups(u, orch_ngroups_max(), why) != 0) {
        free(user);
        orch_bare_user_free(u);
        return -1;
    }
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
