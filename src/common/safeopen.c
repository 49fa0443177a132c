#include "common/safeopen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/xalloc.h"

static const char *kind(mode_t m)
{
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISCHR(m))
        return "a character device";
    return "a special file";
}

int orch_open_file(const char *path, int flags, mode_t mode, unsigned how, char **why)
{
    *why = NULL;
    int extra = O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    if (how & ORCH_OPEN_NOFOLLOW)
        extra |= O_NOFOLLOW;
    int fd = open(path, flags | extra, mode);
    if (fd < 0) {
        int e = errno; /* kept for the caller: EMFILE is worth a retry */
        if (errno == ELOOP && (how & ORCH_OPEN_NOFOLLOW))
            *why = xstrdup("is a symbolic link, which orchd does not follow here");
        else if (errno == ENXIO)
            *why = xstrdup("is a FIFO or socket without a reader, not a regular file");
        else
            *why = xstrdup(strerror(errno));
        errno = e;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        *why = xstrdup(strerror(errno));
        close(fd);
        return -1;
    }
    bool ok = S_ISREG(st.st_mode) || (S_ISCHR(st.st_mode) && (how & ORCH_OPEN_CHARDEV));
    if (!ok) {
        *why = xasprintf("is %s, not a regular file", kind(st.st_mode));
        close(fd);
        errno = EINVAL;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int orch_read_file_capped(const char *path, size_t max, unsigned how, char **out, size_t *len,
                          char **why)
{
    int fd = orch_open_file(path, O_RDONLY, 0, how & ~(unsigned)ORCH_OPEN_CHARDEV, why);
    if (fd < 0)
        return -1;
    size_t n = 0;
    char *buf = xmalloc(max + 2);
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *why = xstrdup(strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            *why = xasprintf("is larger than %zu bytes", max);
            free(buf);
            close(fd);
            return -1;
        }
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

int orch_private_dir_ensure(const char *path, char **why)
{
    *why = NULL;
    int r = orch_mkdir_parents(path, 0755);
    if (r == 0 && mkdir(path, 0700) != 0 && errno != EEXIST)
        r = -errno;
    if (r != 0) {
        *why = xasprintf("cannot create %s: %s", path, strerror(-r));
        return -1;
    }
    struct stat st;
    if (lstat(path, &st) != 0) {
        *why = xasprintf("%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        *why = xasprintf("%s is %s, not a real directory; remove it or choose another "
                         "(--state-dir, ORCH_STATE_DIR)",
                         path, S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory");
        return -1;
    }
    if (st.st_uid != geteuid()) {
        *why = xasprintf("%s is owned by uid %u, not by you (uid %u): someone else may have "
                         "planted it; remove it or choose another (--state-dir, ORCH_STATE_DIR)",
                         path, (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    if (st.st_mode & 077) {
        *why = xasprintf("%s is accessible to group or others (mode %03o); it must be 0700: "
                         "chmod 700 %s",
                         path, (unsigned)(st.st_mode & 0777), path);
        return -1;
    }
    return 0;
}
