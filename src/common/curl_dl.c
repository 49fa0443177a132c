/* libcurl through dlopen (common/curl_dl.h). */
#include "common/curl_dl.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

orch_curl_api orch_curl;

static void *lib;
static char *load_err; /* why it could not be loaded: kept, asked once */

static int failed(const char **why, char *msg)
{
    load_err = msg;
    memset(&orch_curl, 0, sizeof orch_curl);
    *why = load_err;
    return -1;
}

int orch_curl_load(const char **why)
{
    if (lib)
        return 0;
    if (load_err) {
        *why = load_err;
        return -1;
    }
    /* Debian's libcurl4 (OpenSSL), then the GnuTLS flavour. */
    static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};
    char *reasons = NULL;
    void *h = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !h; i++) {
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            char *r = xasprintf("%s%s%s", reasons ? reasons : "", reasons ? "; " : "",
                                e ? e : names[i]);
            free(reasons);
            reasons = r;
        }
    }
    if (!h)
        return failed(why, reasons);
    free(reasons);
#define ORCH_CURL_TAKE(name)                                                                   \
    *(void **)&orch_curl.name = dlsym(h, #name);                                               \
    if (!orch_curl.name) {                                                                     \
        dlclose(h);                                                                            \
        return failed(why, xstrdup("the libcurl found lacks " #name " (7.85 or later needed)")); \
    }
    ORCH_CURL_FUNCS(ORCH_CURL_TAKE)
#undef ORCH_CURL_TAKE
    CURLcode c = orch_curl.curl_global_init(CURL_GLOBAL_DEFAULT);
    if (c != CURLE_OK) {
        char *msg = xasprintf("curl_global_init failed: %s", orch_curl.curl_easy_strerror(c));
        dlclose(h);
        return failed(why, msg);
    }
    lib = h;
    return 0;
}
