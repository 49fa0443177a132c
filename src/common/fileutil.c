#include "common/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"

int orch_read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = 0, cap = 0;
    char *buf = NULL;
    for (;;) {
        xgrow((void **)&buf, &cap, n + 4096, 1);
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = -errno;
            free(buf);
            close(fd);
            return err;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

int orch_write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(s);
    ssize_t w;
    do
        w = write(fd, s, len);
    while (w < 0 && errno == EINTR);
    int err = w < 0 ? -errno : (size_t)w != len ? -EIO : 0;
    close(fd);
    return err;
}

int orch_mkdir_p(const char *path, mode_t mode)
{
    if (!*path)
        return -ENOENT;
    char *p = xstrdup(path);
    int err = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            err = -errno;
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    if (!err) {
        struct stat st;
        if (stat(path, &st) < 0)
            err = -errno;
        else if (!S_ISDIR(st.st_mode))
            err = -ENOTDIR;
    }
    free(p);
    return err;
}

int orch_mkdir_parents(const char *file, mode_t mode)
{
    const char *slash = strrchr(file, '/');
    if (!slash || slash == file)
        return 0;
    char *dir = xstrndup(file, (size_t)(slash - file));
    int r = orch_mkdir_p(dir, mode);
    free(dir);
    return r;
}
