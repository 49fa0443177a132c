/* libcurl, dlopen()ed at its first use. The daemon's https health checks
 * (daemon/https_probe.c) and the containerd module's registry pulls
 * (containerd/fetch/http.c, registry.c) call it through the table orch_curl,
 * so neither orchd nor orchd-containerd.so has libcurl (nor what it pulls
 * in: nghttp2, krb5, ldap, ssh2, rtmp, psl, idn2, brotli, ...) in DT_NEEDED,
 * and a process that never makes such a request never maps it.
 *
 * The daemon and the module each link this statically and so each have a
 * table of their own; libcurl is mapped once per process all the same
 * (dlopen counts references) and curl_global_init counts its calls.
 * Loop thread only: the one-time dlopen is the only blocking part.
 *
 * Needs libcurl's headers (Debian: libcurl4-openssl-dev), not its library;
 * at run time libcurl.so.4 (Debian: libcurl4) or libcurl-gnutls.so.4. */
#ifndef ORCH_COMMON_CURL_DL_H
#define ORCH_COMMON_CURL_DL_H

#if defined(CURLINC_CURL_H) && !defined(CURL_DISABLE_TYPECHECK)
#error "curl/curl.h was included before common/curl_dl.h: its type-check macros would hide the table's members"
#endif
#ifndef CURL_DISABLE_TYPECHECK
#define CURL_DISABLE_TYPECHECK /* calls go through pointers, not curl's macros */
#endif
#include <curl/curl.h>

/* Every function taken from libcurl, typed by libcurl's own declarations.
 * One used anywhere must be listed here (the linker no longer catches it:
 * neither binary links libcurl). */
#define ORCH_CURL_FUNCS(X)                                                                     \
    X(curl_global_init)                                                                        \
    X(curl_free)                                                                               \
    X(curl_multi_init)                                                                         \
    X(curl_multi_setopt)                                                                       \
    X(curl_multi_assign)                                                                       \
    X(curl_multi_socket_action)                                                                \
    X(curl_multi_info_read)                                                                    \
    X(curl_multi_add_handle)                                                                   \
    X(curl_multi_remove_handle)                                                                \
    X(curl_multi_cleanup)                                                                      \
    X(curl_multi_strerror)                                                                     \
    X(curl_easy_init)                                                                          \
    X(curl_easy_setopt)                                                                        \
    X(curl_easy_getinfo)                                                                       \
    X(curl_easy_header)                                                                        \
    X(curl_easy_pause)                                                                         \
    X(curl_easy_cleanup)                                                                       \
    X(curl_easy_strerror)                                                                      \
    X(curl_slist_append)                                                                       \
    X(curl_slist_free_all)                                                                     \
    X(curl_url)                                                                                \
    X(curl_url_set)                                                                            \
    X(curl_url_get)                                                                            \
    X(curl_url_cleanup)

typedef struct orch_curl_api {
#define ORCH_CURL_FIELD(name) __typeof__(name) *name;
    ORCH_CURL_FUNCS(ORCH_CURL_FIELD)
#undef ORCH_CURL_FIELD
} orch_curl_api;

/* The functions, once orch_curl_load has returned 0 (all NULL before). */
extern orch_curl_api orch_curl;

/* Loads libcurl (libcurl.so.4, else libcurl-gnutls.so.4), takes every
 * function of ORCH_CURL_FUNCS and runs curl_global_init, the first time;
 * then returns 0 at once. -1 with *why when it cannot: the loader's reasons
 * ("libcurl.so.4: cannot open shared object file: No such file or
 * directory; libcurl-gnutls.so.4: ..."), a missing function, or a failed
 * curl_global_init. The failure is kept: later calls give the same *why
 * (valid for the life of the process) without trying again. */
int orch_curl_load(const char **why);

#endif
