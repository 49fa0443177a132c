/* Unit checks of image reference parsing (pull/ref.c), WWW-Authenticate
 * challenges, base64 and the docker credentials file (pull/auth.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "containerd/fetch/auth.h"
#include "containerd/fetch/ref.h"

static int failures;

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                  \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
            failures++;                                                                           \
        }                                                                                         \
    } while (0)

static const char *or_null(const char *s)
{
    return s ? s : "(null)";
}

static void ok_ref(const char *in, const char *domain, const char *path, const char *tag,
                   const char *digest, const char *name)
{
    img_ref r;
    orch_error *err = NULL;
    int rc = img_ref_parse(in, "/proj", &r, &err);
    CHECK(rc == 0, "%s: refused: %s", in, or_null(err ? err->msg : NULL));
    if (rc != 0) {
        orch_error_free(err);
        return;
    }
    CHECK(r.kind == REF_REGISTRY, "%s: kind %d", in, r.kind);
    CHECK(strcmp(r.domain, domain) == 0, "%s: domain %s, wanted %s", in, r.domain, domain);
    CHECK(strcmp(r.path, path) == 0, "%s: path %s, wanted %s", in, r.path, path);
    CHECK((!tag && !r.tag) || (tag && r.tag && strcmp(r.tag, tag) == 0), "%s: tag %s, wanted %s",
          in, or_null(r.tag), or_null(tag));
    CHECK((!digest && !r.digest) || (digest && r.digest && strcmp(r.digest, digest) == 0),
          "%s: digest %s", in, or_null(r.digest));
    CHECK(strcmp(r.name, name) == 0, "%s: name %s, wanted %s", in, r.name, name);
    img_ref_free(&r);
}

static void bad_ref(const char *in, const char *why)
{
    img_ref r;
    orch_error *err = NULL;
    int rc = img_ref_parse(in, "/proj", &r, &err);
    CHECK(rc != 0, "%s: accepted", in);
    if (rc == 0) {
        img_ref_free(&r);
        return;
    }
    CHECK(err && err->code == ORCH_E_INVALID && strstr(err->msg, why), "%s: error '%s', wanted '%s'", in, or_null(err ? err->msg : NULL), why);
    orch_error_free(err);
}

static void local_ref(const char *in, img_ref_kind kind, const char *file, const char *tag,
                      const char *name)
{
    img_ref r;
    orch_error *err = NULL;
    int rc = img_ref_parse(in, "/proj", &r, &err);
    CHECK(rc == 0, "%s: refused: %s", in, or_null(err ? err->msg : NULL));
    if (rc != 0) {
        orch_error_free(err);
        return;
    }
    CHECK(r.kind == kind, "%s: kind %d", in, r.kind);
    CHECK(strcmp(r.file, file) == 0, "%s: file %s, wanted %s", in, r.file, file);
    CHECK((!tag && !r.file_tag) || (tag && r.file_tag && strcmp(r.file_tag, tag) == 0),
          "%s: tag %s", in, or_null(r.file_tag));
    CHECK(strcmp(r.name, name) == 0, "%s: name %s, wanted %s", in, r.name, name);
    img_ref_free(&r);
}

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_refs(void)
{
    ok_ref("busybox", "docker.io", "library/busybox", "latest", NULL,
           "docker.io/library/busybox:latest");
    ok_ref("redis:7", "docker.io", "library/redis", "7", NULL, "docker.io/library/redis:7");
    ok_ref("user/app:1.2", "docker.io", "user/app", "1.2", NULL, "docker.io/user/app:1.2");
    ok_ref("docker.io/library/redis:7", "docker.io", "library/redis", "7", NULL,
           "docker.io/library/redis:7");
    ok_ref("docker.io/redis", "docker.io", "library/redis", "latest", NULL,
           "docker.io/library/redis:latest");
    ok_ref("index.docker.io/library/redis", "docker.io", "library/redis", "latest", NULL,
           "docker.io/library/redis:latest");
    ok_ref("127.0.0.1:5000/orchd-test", "127.0.0.1:5000", "orchd-test", "latest", NULL,
           "127.0.0.1:5000/orchd-test:latest");
    ok_ref("localhost/app:v1", "localhost", "app", "v1", NULL, "localhost/app:v1");
    ok_ref("localhost:5000/a/b/c:v1", "localhost:5000", "a/b/c", "v1", NULL,
           "localhost:5000/a/b/c:v1");
    ok_ref("ghcr.io/o/r@" D64, "ghcr.io", "o/r", NULL, D64, "ghcr.io/o/r@" D64);
    ok_ref("ghcr.io/o/r:1@" D64, "ghcr.io", "o/r", "1", D64, "ghcr.io/o/r:1@" D64);
    ok_ref("[::1]:5000/x", "[::1]:5000", "x", "latest", NULL, "[::1]:5000/x:latest");
    ok_ref("reg.example.com/a__b/c-d.e:T_1", "reg.example.com", "a__b/c-d.e", "T_1", NULL,
           "reg.example.com/a__b/c-d.e:T_1");
    ok_ref("Reg.Example.com/x", "Reg.Example.com", "x", "latest", NULL,
           "Reg.Example.com/x:latest");

    bad_ref("", "empty");
    bad_ref("Busybox", "lowercase");
    bad_ref("docker.io/Library/x", "lowercase");
    bad_ref("a b", "spaces");
    bad_ref("x:-bad", "tag");
    bad_ref("x@sha256:abc", "digest");
    bad_ref("x@md5:0123", "digest");
    bad_ref("a//b", "repository name");
    bad_ref("a/b.", "repository name");
    bad_ref("-a.b:5/x", "registry host");
    bad_ref("host:99999x/x", "registry host");

    local_ref("oci-archive:/i/img.tar", REF_OCI_ARCHIVE, "/i/img.tar", NULL,
              "oci-archive:/i/img.tar");
    local_ref("oci-archive:img.tar", REF_OCI_ARCHIVE, "/proj/img.tar", NULL,
              "oci-archive:/proj/img.tar");
    local_ref("oci-archive:./sub/img.tar", REF_OCI_ARCHIVE, "/proj/sub/img.tar", NULL,
              "oci-archive:/proj/sub/img.tar");
    local_ref("oci:/l/layout", REF_OCI_LAYOUT, "/l/layout", NULL, "oci:/l/layout");
    local_ref("oci:/l/layout:v2", REF_OCI_LAYOUT, "/l/layout", "v2", "oci:/l/layout:v2");
    local_ref("oci:./layout:v2", REF_OCI_LAYOUT, "/proj/layout", "v2", "oci:/proj/layout:v2");
    /* "oci:5000/x" is a registry host named oci on port 5000 */
    ok_ref("oci:5000/x", "oci:5000", "x", "latest", NULL, "oci:5000/x:latest");

    CHECK(img_digest_valid(D64), "valid digest refused");
    CHECK(!img_digest_valid("sha256:../../etc/passwd"), "bad digest accepted");
    CHECK(!img_digest_valid("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"),
          "uppercase digest accepted");
    CHECK(strcmp(img_ref_api_host("docker.io"), "registry-1.docker.io") == 0, "docker.io host");
    CHECK(strcmp(img_ref_api_host("ghcr.io"), "ghcr.io") == 0, "other host");
}

static void test_auth(void)
{
    auth_challenge c;
    CHECK(auth_parse_challenge("Bearer realm=\"https://auth.docker.io/token\","
                               "service=\"registry.docker.io\",scope=\"repository:library/"
                               "busybox:pull\"",
                               &c) == 0,
          "bearer challenge");
    CHECK(c.scheme && strcmp(c.scheme, "bearer") == 0, "scheme %s", or_null(c.scheme));
    CHECK(c.realm && strcmp(c.realm, "https://auth.docker.io/token") == 0, "realm");
    CHECK(c.service && strcmp(c.service, "registry.docker.io") == 0, "service");
    CHECK(c.scope && strcmp(c.scope, "repository:library/busybox:pull") == 0, "scope");
    auth_challenge_free(&c);
    CHECK(auth_parse_challenge("Basic realm=\"basic-realm\"", &c) == 0 &&
              strcmp(c.scheme, "basic") == 0 && c.realm && !strcmp(c.realm, "basic-realm"),
          "basic challenge");
    auth_challenge_free(&c);
    CHECK(auth_parse_challenge("Bearer realm=\"a\\\"b\", error=invalid_token", &c) == 0 &&
              !strcmp(c.realm, "a\"b"),
          "escaped quote");
    auth_challenge_free(&c);
    CHECK(auth_parse_challenge(NULL, &c) != 0, "no header");

    const char *plain = "alice:s3cret";
    char *b = auth_base64(plain, strlen(plain));
    CHECK(strcmp(b, "YWxpY2U6czNjcmV0") == 0, "base64 %s", b);
    size_t n = 0;
    char *back = auth_unbase64(b, &n);
    CHECK(back && n == strlen(plain) && memcmp(back, plain, n) == 0, "unbase64");
    free(b);
    free(back);
    CHECK(auth_unbase64("!!", &n) == NULL, "bad base64 accepted");

    char dir[] = "/tmp/orchd-reftest.XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[128];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"auths\": {\"https://index.docker.io/v1/\": {\"auth\": \"dTE6cDE=\"},"
          " \"http://127.0.0.1:5000\": {\"username\": \"u2\", \"password\": \"p2\"}}}",
          f);
    fclose(f);
    setenv("DOCKER_CONFIG", dir, 1);
    char *user, *secret, *where, *problem;
    CHECK(auth_find_credentials("docker.io", &user, &secret, &where, &problem) &&
              !strcmp(user, "u1") && !strcmp(secret, "p1"),
          "docker hub credentials");
    free(user), free(secret), free(where), free(problem);
    CHECK(auth_find_credentials("127.0.0.1:5000", &user, &secret, &where, &problem) &&
              !strcmp(user, "u2") && !strcmp(secret, "p2"),
          "host:port credentials");
    free(user), free(secret), free(where), free(problem);
    CHECK(!auth_find_credentials("127.0.0.1:5001", &user, &secret, &where, &problem),
          "credentials for another port");
    free(problem);
    f = fopen(path, "w");
    fputs("{not json", f);
    fclose(f);
    CHECK(!auth_find_credentials("docker.io", &user, &secret, &where, &problem) && problem &&
              strstr(problem, "not valid JSON"),
          "a broken config.json is reported: %s", or_null(problem));
    free(problem);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_refs();
    test_auth();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    puts("PASS");
    return 0;
}
