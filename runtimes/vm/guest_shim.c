/* /init of a vm-runtime guest, linked statically: it runs the orchd the
 * host put under /.orchd with the host's own dynamic loader and libraries,
 * so the image's libc (whatever it is, if any) is never replaced or used by
 * orchd, and the image's programs never see orchd's libraries. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    char *argv[] = {"/.orchd/bin/orchd", "--library-path", "/.orchd/lib", "/.orchd/bin/orchd",
                    "init", NULL};
    execv("/.orchd/lib/ld-linux-x86-64.so.2", argv);
    perror("orchd-vm /init: cannot run /.orchd/lib/ld-linux-x86-64.so.2");
    return 127;
}
