/* The machine-level steps of orchd init (machine.h). Plain syscalls only:
 * this runs in process 1, before anything else exists. */
#include "init/machine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/xalloc.h"

/* The inode number of the initial pid namespace (PROC_PID_INIT_INO in the
 * kernel's include/linux/proc_ns.h, fixed since Linux 3.8). */
#define INITIAL_PIDNS_INO 0xEFFFFFFCu

void init_log(const char *fmt, ...)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "orchd-init: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w;
    do
        w = write(2, line, len);
    while (w < 0 && errno == EINTR);
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* Whether path is a mount point: a different device than its parent, or the
 * root of the same filesystem (a bind mount, or /proc over /proc). */
static bool is_mountpoint(const char *path)
{
    struct stat st, parent;
    char *up = xasprintf("%s/..", path);
    int r = stat(path, &st) == 0 && stat(up, &parent) == 0;
    free(up);
    if (!r)
        return false;
    return st.st_dev != parent.st_dev || st.st_ino == parent.st_ino;
}

static void open_console(void)
{
    int fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd < 0)
        fd = open("/dev/null", O_RDWR);
    if (fd < 0)
        return;
    for (int i = 0; i < 3; i++)
        if (!fd_open(i) || i == fd)
            dup2(fd, i);
    if (fd > 2)
        close(fd);
}

void init_console(void)
{
    if (fd_open(0) && fd_open(1) && fd_open(2))
        return;
    if (access("/dev/console", F_OK) != 0 && access("/dev/null", F_OK) != 0) {
        /* An initramfs without /dev nodes: devtmpfs brings them. */
        mkdir("/dev", 0755);
        if (!is_mountpoint("/dev"))
            mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    }
    open_console();
}

/* ---- mounts --------------------------------------------------------------- */

typedef struct fs {
    const char *target, *type, *source;
    unsigned long flags;
    const char *data;
} fs;

static const fs filesystems[] = {
    {"/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
    {"/sys", "sysfs", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
    {"/dev", "devtmpfs", "devtmpfs", MS_NOSUID, "mode=0755"},
    {"/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"},
    {"/dev/shm", "tmpfs", "shm", MS_NOSUID | MS_NODEV, "mode=1777"},
    {"/run", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
    {"/tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
    {"/sys/fs/cgroup", "cgroup2", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate"},
};

/* Whether /proc is procfs (the mount-point test cannot see /proc on a
 * root that is itself a procfs-less initramfs reliably). */
static bool proc_mounted(void)
{
    struct statfs sf;
    return statfs("/proc", &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
}

static void mount_one(const fs *f)
{
    bool present = strcmp(f->target, "/proc") == 0 ? proc_mounted() : is_mountpoint(f->target);
    if (present) {
        init_log("%s already mounted", f->target);
        return;
    }
    if (mkdir(f->target, 0755) != 0 && errno != EEXIST) {
        init_log("cannot create %s: %s", f->target, strerror(errno));
        return;
    }
    if (mount(f->source, f->target, f->type, f->flags, f->data) != 0) {
        int e = errno;
        /* nsdelegate needs a recent kernel; try without it. */
        if (strcmp(f->type, "cgroup2") == 0 &&
            mount(f->source, f->target, f->type, f->flags, NULL) == 0) {
            init_log("mounted %s (%s)", f->target, f->type);
            return;
        }
        init_log("cannot mount %s (%s): %s", f->target, f->type, strerror(e));
        return;
    }
    init_log("mounted %s (%s)", f->target, f->type);
}

static void enable_controllers(void)
{
    int fd = open("/sys/fs/cgroup/cgroup.controllers", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return; /* cgroup v1 or none: nothing to enable */
    char list[512];
    ssize_t n = read(fd, list, sizeof list - 1);
    close(fd);
    if (n <= 0)
        return;
    list[n] = '\0';
    char enabled[512] = "", failed[512] = "";
    char *save = NULL;
    for (char *c = strtok_r(list, " \n", &save); c; c = strtok_r(NULL, " \n", &save)) {
        char req[80];
        int len = snprintf(req, sizeof req, "+%s", c);
        int sc = open("/sys/fs/cgroup/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
        bool ok = sc >= 0 && write(sc, req, (size_t)len) == len;
        if (sc >= 0)
            close(sc);
        char *into = ok ? enabled : failed;
        size_t used = strlen(into);
        snprintf(into + used, 512 - used, "%s%s", used ? " " : "", c);
    }
    if (*enabled)
        init_log("cgroup controllers enabled: %s", enabled);
    if (*failed)
        init_log("cgroup controllers not enabled: %s", failed);
}

void init_mount_all(void)
{
    for (size_t i = 0; i < sizeof filesystems / sizeof *filesystems; i++)
        mount_one(&filesystems[i]);
    /* What shells and programs expect next to devtmpfs' nodes. */
    symlink("/proc/self/fd", "/dev/fd");
    symlink("/proc/self/fd/0", "/dev/stdin");
    symlink("/proc/self/fd/1", "/dev/stdout");
    symlink("/proc/self/fd/2", "/dev/stderr");
    enable_controllers();
}

void init_set_hostname(const char *name)
{
    if (sethostname(name, strlen(name)) != 0)
        init_log("cannot set the hostname to %s: %s", name, strerror(errno));
    else
        init_log("hostname %s", name);
}

void init_loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        init_log("loopback: no socket: %s", strerror(errno));
        return;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
        init_log("loopback: %s", strerror(errno));
    } else if (ifr.ifr_flags & IFF_UP) {
        init_log("loopback lo already up");
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
            init_log("loopback: cannot bring lo up: %s", strerror(errno));
        else
            init_log("loopback lo up");
    }
    close(s);
}

bool init_machine_pidns(void)
{
    struct stat st;
    if (stat("/proc/self/ns/pid", &st) == 0 && st.st_ino != INITIAL_PIDNS_INO)
        return false;
    /* In a child pid namespace this fails with EINVAL (pid_namespaces(7)). */
    if (reboot(RB_DISABLE_CAD) != 0 && errno == EINVAL)
        return false;
    return true;
}

/* ---- unmounting ----------------------------------------------------------- */

/* /proc/self/mounts escapes blanks and backslashes as \ooo. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

void init_unmount_all(void)
{
    FILE *f = fopen("/proc/self/mounts", "re");
    if (!f) {
        init_log("cannot read /proc/self/mounts: %s; nothing unmounted", strerror(errno));
        return;
    }
    char **targets = NULL;
    size_t n = 0, cap = 0;
    char root_type[64] = "";
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *save = NULL;
        strtok_r(line, " ", &save);
        char *target = strtok_r(NULL, " ", &save);
        char *type = strtok_r(NULL, " ", &save);
        if (!target || !type)
            continue;
        unescape(target);
        if (strcmp(target, "/") == 0) {
            snprintf(root_type, sizeof root_type, "%s", type);
            continue;
        }
        xgrow((void **)&targets, &cap, n + 1, sizeof *targets);
        targets[n++] = xstrdup(target);
    }
    fclose(f);
    for (size_t i = n; i-- > 0;) {
        if (umount2(targets[i], 0) == 0)
            init_log("unmounted %s", targets[i]);
        else if (errno == EBUSY && umount2(targets[i], MNT_DETACH) == 0)
            init_log("detached %s (busy)", targets[i]);
        else if (errno != EINVAL && errno != ENOENT)
            init_log("cannot unmount %s: %s", targets[i], strerror(errno));
        free(targets[i]);
    }
    free(targets);
    if (*root_type && strcmp(root_type, "rootfs") != 0 && strcmp(root_type, "tmpfs") != 0 &&
        strcmp(root_type, "ramfs") != 0) {
        if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0)
            init_log("remounted / read-only");
        else
            init_log("cannot remount / read-only: %s", strerror(errno));
    }
}
