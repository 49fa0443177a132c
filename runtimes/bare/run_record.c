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

int orch_run_record_write(const char *path, const orch_run_record *r)
{
    int rc = orch_mkdir_parents(path, 0700);
    if (rc < 0)
        return rc;
    char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        free(tmp);
        return rc;
    }
    char line[RECORD_MAX];
    int n = snprintf(line, sizeof line, "%d %llu %016" PRIx64 "\n", (int)r->pid, r->start_time,
                     r->spec_hash);
    rc = write(fd, line, (size_t)n) == n ? 0 : -(errno ? errno : EIO);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

int orch_run_record_read(const char *path, orch_run_record *r)
{
    /* The state directory is root's; still, read only a small regular file. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    char buf[RECORD_MAX];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < RECORD_MAX)
        n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -EINVAL;
    buf[n] = '\0';
    int pid;
    unsigned long long t;
    uint64_t h;
    if (sscanf(buf, "%d %llu %" SCNx64, &pid, &t, &h) != 3 || pid <= 1 || t == 0)
        return -EINVAL;
    *r = (orch_run_record){.pid = pid, .start_time = t, .spec_hash = h};
    return 0;
}

void orch_run_record_remove(const char *path, pid_t pid)
{
    orch_run_record r;
    if (orch_run_record_read(path, &r) == 0 && r.pid == pid)
        unlink(path);
}
