/* libcurl through dlopen (common/curl_dl.h): this binary does not link it
 * (nor does orchd or the containerd module), the first orch_curl_load maps
 * it and fills every entry of the table, later loads are no-ops, and calls
 * through the table work. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "common/curl_dl.h"

static bool maps_libcurl(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return false;
    char line[4096];
    bool hit = false;
    while (!hit && fgets(line, sizeof line, f))
        hit = strstr(line, "/libcurl") != NULL;
    fclose(f);
    return hit;
}

int main(void)
{
    CHECK(!maps_libcurl()); /* not linked: nothing before the first load */
    CHECK(orch_curl.curl_easy_init == NULL);
    const char *why = NULL;
    if (orch_curl_load(&why) != 0) {
        printf("SKIP: libcurl cannot be loaded here: %s\n", why);
        return 77;
    }
    CHECK(maps_libcurl());
#define NONNULL(name) CHECK(orch_curl.name != NULL);
    ORCH_CURL_FUNCS(NONNULL)
#undef NONNULL
    CHECK(orch_curl_load(&why) == 0); /* once: the second is a no-op */

    /* a call through the table: curl's URL parser */
    CURLU *u = orch_curl.curl_url();
    CHECK(u != NULL);
    CHECK(orch_curl.curl_url_set(u, CURLUPART_URL, "https://Registry.Example:5000/v2/", 0) ==
          CURLUE_OK);
    char *host = NULL;
    CHECK(orch_curl.curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK);
    CHECK_STR(host, "Registry.Example");
    orch_curl.curl_free(host);
    orch_curl.curl_url_cleanup(u);
    CHECK_STR(orch_curl.curl_easy_strerror(CURLE_OK), "No error");
    return check_done();
}
