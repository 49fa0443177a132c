/* orch_rmtree (common/rmtree.h): removes a tree that others can write into
 * without following their symlinks, without crossing mounts, through a
 * directory swapped for a symlink mid-walk, and at any depth. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common/rmtree.h"

static char base[] = "/tmp/orch-test-rmtree-XXXXXX";
static char mnt_path[512]; /* a bind mount to undo at exit, if any */

static void cleanup(void)
{
    if (mnt_path[0])
        umount2(mnt_path, MNT_DETACH);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf --one-file-system '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", base);
}

static void on_signal(int sig)
{
    (void)sig;
    exit(1); /* runs cleanup */
}

static char *path_of(const char *rel)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", base, rel);
    return p;
}

static void put(const char *rel, const char *text)
{
    FILE *f = fopen(path_of(rel), "w");
    if (!f) {
        perror(rel);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static void mk(const char *rel)
{
    if (mkdir(path_of(rel), 0755) != 0 && errno != EEXIST) {
        perror(rel);
        exit(1);
    }
}

static bool exists(const char *rel)
{
    struct stat st;
    return lstat(path_of(rel), &st) == 0;
}

/* The outside world every test checks is untouched. */
static void make_outside(void)
{
    mk("outside");
    mk("outside/dir");
    put("outside/file", "keep");
    put("outside/dir/inner", "keep");
}

static bool outside_intact(void)
{
    return exists("outside/file") && exists("outside/dir") && exists("outside/dir/inner");
}

static void test_symlinks(void)
{
    make_outside();
    mk("vol");
    mk("vol/sub");
    put("vol/sub/f", "x");
    if (symlink(path_of("outside/dir"), path_of("vol/to-dir")) != 0 ||
        symlink(path_of("outside/file"), path_of("vol/sub/to-file")) != 0 ||
        symlink("../../outside", path_of("vol/sub/rel")) != 0 || mkfifo(path_of("vol/fifo"), 0600) != 0) {
        perror("symlink");
        exit(1);
    }
    char *err = NULL;
    CHECK(orch_rmtree(path_of("vol"), &err) == 0);
    CHECK(err == NULL);
    free(err);
    CHECK(!exists("vol"));
    CHECK(outside_intact());
    /* absent: nothing to do */
    CHECK(orch_rmtree(path_of("vol"), &err) == 0);
    /* the top itself a symlink: refused, the target stays */
    if (symlink(path_of("outside"), path_of("vol")) == 0) {
        CHECK(orch_rmtree(path_of("vol"), &err) == -1);
        CHECK_CONTAINS(err, "vol");
        free(err);
        unlink(path_of("vol"));
    }
    CHECK(outside_intact());
}

static void test_mount(void)
{
    make_outside();
    mk("vol");
    mk("vol/a");
    mk("vol/a/mnt");
    put("vol/a/g", "x");
    mk("bindsrc");
    put("bindsrc/precious", "keep");
    snprintf(mnt_path, sizeof mnt_path, "%s", path_of("vol/a/mnt"));
    if (mount(path_of("bindsrc"), mnt_path, NULL, MS_BIND, NULL) != 0) {
        printf("SKIP (mount part): bind mount failed: %s\n", strerror(errno));
        mnt_path[0] = '\0';
        char *err = NULL;
        CHECK(orch_rmtree(path_of("vol"), &err) == 0);
        free(err);
        return;
    }
    char *err = NULL;
    CHECK(orch_rmtree(path_of("vol"), &err) == -1);
    CHECK_CONTAINS(err, "vol/a/mnt: a mount point");
    CHECK_CONTAINS(err, "not crossed");
    printf("mount: %s\n", err ? err : "(none)");
    free(err);
    CHECK(exists("bindsrc/precious"));
    CHECK(!exists("vol/a/g")); /* the rest went */
    umount2(mnt_path, MNT_DETACH);
    mnt_path[0] = '\0';
    CHECK(orch_rmtree(path_of("vol"), &err) == 0);
    CHECK(!exists("vol"));
    CHECK(exists("bindsrc/precious"));
}

/* A child swaps vol/d/x (a directory with files) and vol/d/y (a symlink to
 * outside) with RENAME_EXCHANGE as fast as it can while the tree goes. */
static void test_race(void)
{
    make_outside();
    for (int i = 0; i < 20; i++)
        {
            char name[64];
            snprintf(name, sizeof name, "outside/dir/k%d", i);
            put(name, "keep");
        }
    int runs = 300, losses = 0;
    for (int run = 0; run < runs; run++) {
        mk("vol");
        for (int d = 0; d < 4; d++) {
            char rel[128];
            snprintf(rel, sizeof rel, "vol/d%d", d);
            mk(rel);
            snprintf(rel, sizeof rel, "vol/d%d/x", d);
            mk(rel);
            for (int f = 0; f < 20; f++) {
                snprintf(rel, sizeof rel, "vol/d%d/x/k%d", d, f);
                put(rel, "x");
            }
            snprintf(rel, sizeof rel, "vol/d%d/y", d);
            if (symlink(path_of("outside/dir"), path_of(rel)) != 0)
                exit(1);
        }
        pid_t pid = fork();
        if (pid == 0) {
            for (;;)
                for (int d = 0; d < 4; d++) {
                    char x[512], y[512];
                    snprintf(x, sizeof x, "%s/vol/d%d/x", base, d);
                    snprintf(y, sizeof y, "%s/vol/d%d/y", base, d);
                    renameat2(AT_FDCWD, x, AT_FDCWD, y, RENAME_EXCHANGE);
                }
        }
        char *err = NULL;
        int rc = orch_rmtree(path_of("vol"), &err);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        if (rc != 0) {
            losses++;
            free(err);
            orch_rmtree(path_of("vol"), &err); /* the child is gone now */
        }
        free(err);
        int kept = 0;
        for (int i = 0; i < 20; i++) {
            char name[64];
            snprintf(name, sizeof name, "outside/dir/k%d", i);
            kept += exists(name);
        }
        CHECK(kept == 20 && outside_intact());
        if (kept != 20) {
            fprintf(stderr, "run %d: %d of 20 outside files deleted\n", run, 20 - kept);
            break;
        }
    }
    printf("race: %d runs, %d ended with an error (tree kept moving)\n", runs, losses);
    CHECK(!exists("vol"));
}

static void test_deep(void)
{
    mk("vol");
    int fd = open(path_of("vol"), O_RDONLY | O_DIRECTORY);
    const int depth = 10000;
    for (int i = 0; i < depth && fd >= 0; i++) {
        if (mkdirat(fd, "d", 0755) != 0)
            exit(1);
        int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
        if (i % 1000 == 0) {
            int f = openat(fd, "file", O_CREAT | O_WRONLY, 0644);
            close(f);
        }
        close(fd);
        fd = next;
    }
    close(fd);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *err = NULL;
    CHECK(orch_rmtree(path_of("vol"), &err) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (err)
        fprintf(stderr, "deep: %s\n", err);
    free(err);
    CHECK(!exists("vol"));
    printf("deep: %d levels removed in %.3f s\n", depth,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

int main(void)
{
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    test_symlinks();
    test_mount();
    test_race();
    test_deep();
    return check_done();
}
