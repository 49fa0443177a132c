#include "bare/run_record.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/xalloc.h"
#include "orchfile/orchfile.h"

#define RECORD_MAX 128 /* "<pid> <ticks> <hash>\n" is far shorter */

char *orch_run_record_path(const orch_env_ctx *ctx, const char *service)
{
    return xasprintf("%s/run/%s.%s", ctx->state_dir,
                     ctx->namespace_ ? ctx->namespace_ : ORCH_DEFAULT_NAMESPACE, service);
}

uint64_t orch_run_spec_hash(const orch_service *svc)
{
    orch_model one = {.services = (orch_service *)svc, .n_services = 1};
    char *json = orch_model_to_json(&one, ORCH_JSON_TYPED);
    if (!json)
        return 0;
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)json; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    free(json);
    return h ? h : 1;
}

unsigned long long orch_proc_start_time(pid_t pid)
{
    char path[64], *text = NULL;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (orch_read_file(path, &text, NULL) < 0)
        return 0;
    /* comm (field 2) may hold spaces and parentheses: count after the last ')' */
    char *p = strrchr(text, ')');
    unsigned long long t = 0;
    if (p) {
        p++;
        for (int field = 3; field < 22 && p; field++)
            p = strchr(p + 1, ' ');
        if (p)
            t = strtoull(p + 1, NULL, 10);
    }
    free(text);
    return t;
}

/* Every record has the same width, so a rewrite in place (one pwrite at
 * offset 0, which a crash of orchd cannot tear) always leaves one whole
 * record: no temporary file, no rename, no new inode per start. */
#define RECORD_FMT "%10d %20llu %016" PRIx64 " %10d %20llu\n"

static int write_at_start(int fd, const orch_run_record *r)
{
    char line[RECORD_MAX];
    int n = snprintf(line, sizeof line, RECORD_FMT, (int)r->pid, r->start_time, r->spec_hash,
                     (int)r->relay_pid, r->relay_pipe_ino);
    ssize_t w = pwrite(fd, line, (size_t)n, 0);
    return w == n ? 0 : -(w < 0 ? errno : EIO);
}

/* The record file, created when missing (mode 0600, never through a
 * symlink), or -errno. */
static int open_record(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT) {
        int rc = orch_mkdir_parents(path, 0700);
        if (rc < 0)
            return rc;
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    return fd < 0 ? -errno : fd;
}

int orch_run_record_write(const char *path, const orch_run_record *r)
{
    int fd = open_record(path);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? write_at_start(fd, r) : -EINVAL;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* Reads the record at fd: 0 and *r, or -errno. */
static int read_fd(int fd, orch_run_record *r)
{
    /* The state directory is root's; still, read only a small regular file. */
    struct stat st;
    char buf[RECORD_MAX];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < RECORD_MAX)
        n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -EINVAL;
    buf[n] = '\0';
    int pid;
    unsigned long long t;
    uint64_t h;
    int relay = 0;
    unsigned long long ino = 0;
    int got = sscanf(buf, "%d %llu %" SCNx64 " %d %llu", &pid, &t, &h, &relay, &ino);
    if (got < 3 || pid <= 1 || t == 0)
        return -EINVAL; /* also a cleared record (pid 0) */
    if (got < 5) /* an older orchd's: no relay */
        relay = 0, ino = 0;
    *r = (orch_run_record){.pid = pid, .start_time = t, .spec_hash = h, .relay_pid = relay,
                           .relay_pipe_ino = ino};
    return 0;
}

int orch_run_record_read(const char *path, orch_run_record *r)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = read_fd(fd, r);
    close(fd);
    return rc;
}

void orch_run_record_remove(const char *path, pid_t pid)
{
    /* Cleared in place (pid 0 reads as no record), not unlinked: the next
     * start of the service rewrites the same file, and no inode is made or
     * freed per restart. */
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return;
    orch_run_record r, none = {0};
    if (read_fd(fd, &r) == 0 && r.pid == pid && write_at_start(fd, &none) < 0)
        unlink(path);
    close(fd);
}
