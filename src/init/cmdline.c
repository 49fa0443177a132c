/* Kernel command line parsing for orchd init (cmdline.h). */
#include "init/cmdline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

char *orch_cmdline_get(const char *cmdline, const char *key)
{
    if (!cmdline || !key || !*key)
        return NULL;
    size_t klen = strlen(key);
    char *found = NULL;
    const char *p = cmdline;
    for (;;) {
        while (is_blank(*p))
            p++;
        if (!*p)
            break;
        /* One word: quotes group blanks and are dropped, as in the kernel's
         * next_arg(). */
        size_t cap = strlen(p) + 1, n = 0;
        char *word = xmalloc(cap);
        int quoted = 0;
        for (; *p && (quoted || !is_blank(*p)); p++) {
            if (*p == '"') {
                quoted = !quoted;
                continue;
            }
            word[n++] = *p;
        }
        word[n] = '\0';
        if (strncmp(word, key, klen) == 0 && word[klen] == '=') {
            free(found);
            found = xstrdup(word + klen + 1);
        }
        free(word);
    }
    return found;
}

char *orch_cmdline_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 65536, len = 0;
    char *buf = xmalloc(cap + 1);
    while (len < cap) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[len] = '\0';
    return buf;
}
