/* Prints the default seccomp profile (ctd_seccomp_emit) for a kernel release
 * and a bounding set, for seccomp_profile_test.py to hold against
 * containerd's Go source:
 *
 *   seccomp_dump RELEASE [CAP...]     ("-" as RELEASE: unknown) */
#include <stdio.h>
#include <string.h>

#include "containerd/container/seccomp_default.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s RELEASE [CAP...]\n", argv[0]);
        return 2;
    }
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return 1;
    const char *release = strcmp(argv[1], "-") == 0 ? NULL : argv[1];
    ctd_seccomp_emit(g, (const char *const *)argv + 2, (size_t)(argc - 2), release);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    int rc = fwrite(buf, 1, len, stdout) == len ? 0 : 1;
    yajl_gen_free(g);
    return rc;
}
