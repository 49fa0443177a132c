/* Kernel command line parsing for orchd init (src/init/cmdline.c). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "init/cmdline.h"

static void check_get(const char *cmdline, const char *key, const char *want)
{
    char *got = orch_cmdline_get(cmdline, key);
    if (want)
        CHECK_STR(got, want);
    else
        CHECK(got == NULL);
    free(got);
}

int main(void)
{
    const char *c = "console=ttyS0 panic=-1 quiet orchd.orchfile=/etc/orchd/Orchfile\n";
    check_get(c, "orchd.orchfile", "/etc/orchd/Orchfile");
    check_get(c, "console", "ttyS0");
    check_get(c, "quiet", NULL);          /* no '=' */
    check_get(c, "orchd.hostname", NULL); /* absent */
    check_get(c, "orchd", NULL);          /* a prefix is not a key */
    check_get(c, "orchd.orchfil", NULL);
    /* the last one wins, as in the kernel */
    check_get("orchd.hostname=a orchd.hostname=b", "orchd.hostname", "b");
    /* quotes group blanks and are dropped */
    check_get("x=1 orchd.hostname=\"my host\" y=2", "orchd.hostname", "my host");
    check_get("\"orchd.orchfile=/a b/Orchfile\"", "orchd.orchfile", "/a b/Orchfile");
    check_get("orchd.state_dir=", "orchd.state_dir", "");
    check_get("\t orchd.state_dir=/run/x \t\n", "orchd.state_dir", "/run/x");
    check_get("", "orchd.orchfile", NULL);
    check_get(NULL, "orchd.orchfile", NULL);
    check_get("unterminated=\"abc def", "unterminated", "abc def");

    /* Reading: NUL bytes (as in /proc/PID/cmdline) become blanks. */
    char path[] = "/tmp/orchd-cmdline-test.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        static const char data[] = "a=1\0orchd.hostname=vm\0";
        CHECK(write(fd, data, sizeof data - 1) == (ssize_t)(sizeof data - 1));
        close(fd);
        char *text = orch_cmdline_read(path);
        CHECK_STR(text, "a=1 orchd.hostname=vm ");
        check_get(text, "orchd.hostname", "vm");
        free(text);
        unlink(path);
    }
    CHECK(orch_cmdline_read("/nonexistent/cmdline") == NULL);
    return check_done();
}
