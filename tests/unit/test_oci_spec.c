/* The containerd runtime's pure parts: image config parsing, user resolution
 * against an image's /etc/passwd and /etc/group, ENTRYPOINT/CMD splitting,
 * and the OCI runtime spec built from a service (loaded from a real Orchfile,
 * so errors carry FILE:LINE) and an image config. Each spec is parsed back
 * with yajl_tree and checked field by field (docs/OCI-SPEC.md). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "check.h"
#include "containerd/store/image_config.h"
#include "containerd/container/spec.h"
#include "containerd/container/user.h"
#include "containerd/container/seccomp_default.h"
#include "orchfile/orchfile.h"

/* ---- harness -------------------------------------------------------------- */

static char test_dir[] = "/tmp/orch-test-oci-XXXXXX";

/* One loaded Orchfile: the model and the diagnostics that own its origins. */
typedef struct loaded {
    orch_model m;
    orch_diags d;
    const orch_service *svc; /* the first service */
} loaded;

static void load(loaded *l, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/Orchfile", test_dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
    const char *files[] = {path};
    static char *const empty_env[] = {NULL};
    orch_load_opts o = {.files = files, .n_files = 1, .environ = empty_env};
    orch_diags_init(&l->d);
    if (orch_load(&o, &l->m, &l->d) != 0 || l->m.n_services == 0) {
        for (size_t i = 0; i < l->d.n; i++)
            fprintf(stderr, "load: %s\n", l->d.items[i].message);
        abort();
    }
    l->svc = &l->m.services[0];
}

static void unload(loaded *l)
{
    orch_model_free(&l->m);
    orch_diags_free(&l->d);
}

static void image(ctd_image_config *c, const char *json)
{
    char *err = NULL;
    if (ctd_image_config_parse(json, strlen(json), c, &err) != 0) {
        fprintf(stderr, "image: %s\n", err);
        abort();
    }
}

static const char *const PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
                                  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                                  "# a comment\n"
                                  "\n"
                                  "broken line\n"
                                  "app:x:1000:1000:App:/home/app:/bin/sh\n"
                                  "web:x:33:33::/var/www:/bin/false\r\n";
static const char *const GROUP = "root:x:0:root\n"
                                 "daemon:x:1:\n"
                                 "wheel:x:10:root,app\n"
                                 "staff:x:50:app\n"
                                 "app:x:1000:\n"
                                 "audio:x:29:web,app\n"
                                 "wheel2:x:10:app\n";

/* Builds a spec from Orchfile text and an image config JSON (NULL: none),
 * with in's other fields as given. Returns the parsed tree (free it) and sets
 * *err on failure (then returns NULL). */
static yajl_val build(const char *orchfile, const char *image_json, ctd_spec_input in, char **err,
                      char **json_out)
{
    loaded l;
    load(&l, orchfile);
    ctd_image_config c = {0};
    if (image_json)
        image(&c, image_json);
    in.svc = l.svc;
    in.image = image_json ? &c : NULL;
    if (!in.namespace_)
        in.namespace_ = "orch";
    char *json = NULL;
    *err = NULL;
    int rc = ctd_spec_build(&in, &json, err);
    yajl_val root = NULL;
    if (rc == 0) {
        char why[256];
        root = yajl_tree_parse(json, why, sizeof why);
        if (!root) {
            fprintf(stderr, "spec is not JSON: %s\n%s\n", why, json);
            abort();
        }
    } else {
        /* Keep only the part of the error after the test directory. */
        char *e = *err;
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s/", test_dir);
        char *p = strstr(e, prefix);
        if (p)
            memmove(p, p + strlen(prefix), strlen(p + strlen(prefix)) + 1);
    }
    if (json_out)
        *json_out = json;
    else
        free(json);
    ctd_image_config_free(&c);
    unload(&l);
    return root;
}

static yajl_val at(yajl_val v, const char *const *path)
{
    return yajl_tree_get(v, (const char **)path, yajl_t_any);
}
#define AT(v, ...) at((v), (const char *const[]){__VA_ARGS__, NULL})

static const char *str_at(yajl_val v)
{
    return YAJL_IS_STRING(v) ? v->u.string : NULL;
}

static long long int_at(yajl_val v)
{
    return YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : -424242;
}

static size_t len_at(yajl_val v)
{
    return YAJL_IS_ARRAY(v) ? v->u.array.len : (size_t)-1;
}

/* Array of strings joined with '|' (static buffer, fine for tests). */
static const char *joined(yajl_val v)
{
    static char buf[4096];
    buf[0] = '\0';
    if (!YAJL_IS_ARRAY(v))
        return "(not an array)";
    for (size_t i = 0; i < v->u.array.len; i++) {
        const char *s = str_at(v->u.array.values[i]);
        if (i)
            strncat(buf, "|", sizeof buf - strlen(buf) - 1);
        strncat(buf, s ? s : "(non-string)", sizeof buf - strlen(buf) - 1);
    }
    return buf;
}

/* The mount with that destination, or NULL. */
static yajl_val mount_at(yajl_val root, const char *dest)
{
    yajl_val ms = AT(root, "mounts");
    for (size_t i = 0; YAJL_IS_ARRAY(ms) && i < ms->u.array.len; i++) {
        const char *d = str_at(AT(ms->u.array.values[i], "destination"));
        if (d && strcmp(d, dest) == 0)
            return ms->u.array.values[i];
    }
    return NULL;
}

static long mount_index(yajl_val root, const char *dest)
{
    yajl_val ms = AT(root, "mounts");
    for (size_t i = 0; YAJL_IS_ARRAY(ms) && i < ms->u.array.len; i++) {
        const char *d = str_at(AT(ms->u.array.values[i], "destination"));
        if (d && strcmp(d, dest) == 0)
            return (long)i;
    }
    return -1;
}

/* The rlimit of that type: its hard value, soft in *soft; -1 when absent. */
static long long rlimit_at(yajl_val root, const char *type, long long *soft)
{
    yajl_val rs = AT(root, "process", "rlimits");
    for (size_t i = 0; YAJL_IS_ARRAY(rs) && i < rs->u.array.len; i++) {
        yajl_val r = rs->u.array.values[i];
        const char *t = str_at(AT(r, "type"));
        if (t && strcmp(t, type) == 0) {
            *soft = int_at(AT(r, "soft"));
            return int_at(AT(r, "hard"));
        }
    }
    return -1;
}

static const char *const BUSYBOX_IMAGE =
    "{\"architecture\":\"amd64\",\"os\":\"linux\","
    "\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],"
    "\"Cmd\":[\"sh\"]},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:aaaa\"]}}";

static const char *const APP_IMAGE =
    "{\"config\":{\"Env\":[\"A=image\",\"B=image\",\"PATH=/app/bin:/bin\",\"NOEQUALS\"],"
    "\"Entrypoint\":[\"/entry\",\"--flag\"],\"Cmd\":[\"serve\",\"--port\",\"80\"],"
    "\"WorkingDir\":\"/app\",\"User\":\"app\"},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:1\",\"sha256:2\"]}}";

/* ---- image config ----------------------------------------------------------- */

static void test_image_config(void)
{
    ctd_image_config c;
    char *err = NULL;
    const char *oci =
        "{\"created\":\"2024-01-01T00:00:00Z\",\"architecture\":\"arm64\",\"os\":\"linux\","
        "\"config\":{\"User\":\"1000:1000\",\"ExposedPorts\":{\"80/tcp\":{}},"
        "\"Env\":[\"PATH=/bin\",\"LANG=C.UTF-8\"],\"Entrypoint\":[\"/docker-entrypoint.sh\"],"
        "\"Cmd\":[\"nginx\",\"-g\",\"daemon off;\"],\"WorkingDir\":\"/srv\","
        "\"StopSignal\":\"SIGQUIT\",\"Labels\":{\"a\":\"b\"}},"
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:a1\",\"sha256:b2\",\"sha256:c3\"]},"
        "\"history\":[{\"created_by\":\"x\"}]}";
    CHECK(ctd_image_config_parse(oci, strlen(oci), &c, &err) == 0);
    CHECK(err == NULL);
    CHECK_STR(c.os, "linux");
    CHECK_STR(c.architecture, "arm64");
    CHECK(c.env.n == 2);
    CHECK_STR(c.env.v[1], "LANG=C.UTF-8");
    CHECK(c.entrypoint.n == 1);
    CHECK_STR(c.entrypoint.v[0], "/docker-entrypoint.sh");
    CHECK(c.cmd.n == 3);
    CHECK_STR(c.cmd.v[2], "daemon off;");
    CHECK_STR(c.working_dir, "/srv");
    CHECK_STR(c.user, "1000:1000");
    CHECK_STR(c.stop_signal, "SIGQUIT");
    CHECK(c.diff_ids.n == 3);
    CHECK_STR(c.diff_ids.v[0], "sha256:a1");
    CHECK_STR(c.diff_ids.v[2], "sha256:c3");
    ctd_image_config_free(&c);
    CHECK(c.env.n == 0 && c.os == NULL);
    ctd_image_config_free(&c); /* twice is harmless */

    /* Docker's own config: capitalised members beside container_config, null
     * Entrypoint, Cmd as a plain string, empty strings meaning absent. */
    const char *docker =
        "{\"architecture\":\"amd64\",\"config\":{\"Hostname\":\"\",\"Domainname\":\"\","
        "\"User\":\"\",\"AttachStdin\":false,\"Tty\":false,"
        "\"Env\":[\"PATH=/usr/bin:/bin\"],\"Cmd\":\"/bin/sh -c sleep\",\"Image\":\"sha256:x\","
        "\"Volumes\":null,\"WorkingDir\":\"\",\"Entrypoint\":null,\"OnBuild\":null,"
        "\"Labels\":null},"
        "\"container\":\"abc\",\"container_config\":{\"Cmd\":[\"/bin/sh\",\"-c\",\"#(nop)\"]},"
        "\"docker_version\":\"20.10.7\",\"os\":\"linux\","
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:d1\"]}}";
    CHECK(ctd_image_config_parse(docker, strlen(docker), &c, &err) == 0);
    CHECK(c.entrypoint.n == 0 && c.entrypoint.v == NULL);
    CHECK(c.cmd.n == 1);
    CHECK_STR(c.cmd.v[0], "/bin/sh -c sleep");
    CHECK(c.user == NULL);
    CHECK(c.working_dir == NULL);
    CHECK(c.diff_ids.n == 1);
    CHECK_STR(c.diff_ids.v[0], "sha256:d1");
    ctd_image_config_free(&c);

    /* Missing everything: an empty but valid config. */
    CHECK(ctd_image_config_parse("{}", 2, &c, &err) == 0);
    CHECK(c.env.n == 0 && c.cmd.n == 0 && c.entrypoint.n == 0 && c.diff_ids.n == 0);
    CHECK(c.user == NULL && c.working_dir == NULL && c.os == NULL);
    ctd_image_config_free(&c);
    const char *nulls = "{\"config\":null,\"rootfs\":{\"type\":\"layers\"}}";
    CHECK(ctd_image_config_parse(nulls, strlen(nulls), &c, &err) == 0);
    CHECK(c.diff_ids.n == 0);
    ctd_image_config_free(&c);
    /* len bounds the input: trailing bytes are not read */
    const char *prefix = "{\"config\":{\"Cmd\":[\"a\"]}}GARBAGE";
    CHECK(ctd_image_config_parse(prefix, strlen(prefix) - 7, &c, &err) == 0);
    CHECK(c.cmd.n == 1);
    ctd_image_config_free(&c);

    static const struct {
        const char *json, *want;
    } bad[] = {
        {"not json", "image config: not JSON"},
        {"[1,2]", "image config: not a JSON object"},
        {"{\"config\":[]}", "image config: config is not an object"},
        {"{\"config\":{\"Env\":\"A=1\"}}", "config.Env is not an array of strings"},
        {"{\"config\":{\"Env\":[\"A=1\",2]}}", "config.Env is not an array of strings"},
        {"{\"config\":{\"Cmd\":{}}}", "config.Cmd is not a string or an array of strings"},
        {"{\"config\":{\"Entrypoint\":[null]}}", "config.Entrypoint is not a string or an array"},
        {"{\"config\":{\"User\":0}}", "config.User is not a string"},
        {"{\"config\":{\"WorkingDir\":[\"/\"]}}", "config.WorkingDir is not a string"},
        {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[1]}}", "rootfs.diff_ids is not an array"},
        {"{\"rootfs\":{\"type\":\"tar\",\"diff_ids\":[]}}", "rootfs.type is not \"layers\""},
        {"{\"rootfs\":\"x\"}", "rootfs is not an object"},
        {"{\"os\":1}", "image config: os is not a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&c, 0xff, sizeof c); /* parse must reset it */
        err = NULL;
        CHECK(ctd_image_config_parse(bad[i].json, strlen(bad[i].json), &c, &err) == -1);
        CHECK_CONTAINS(err, bad[i].want);
        CHECK(c.env.v == NULL && c.cmd.n == 0 && c.user == NULL);
        free(err);
        ctd_image_config_free(&c);
    }
    const char nul[] = "{\"a\":1}\0x";
    CHECK(ctd_image_config_parse(nul, sizeof nul - 1, &c, &err) == -1);
    CHECK_CONTAINS(err, "NUL");
    free(err);
}

/* ---- a hostile /etc/group ---------------------------------------------------- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* An /etc/group of at most max bytes listing "app" in one group per line,
 * gids first..first+n-1 (repeating every distinct gids). */
static char *group_file(size_t max, uint32_t distinct, size_t *lines)
{
    char *t = malloc(max + 1);
    size_t len = 0, k = 0;
    for (;;) {
        char line[64];
        int n = snprintf(line, sizeof line, "g::%u:app\n", 100000u + (uint32_t)(k % distinct));
        if (len + (size_t)n > max)
            break;
        memcpy(t + len, line, (size_t)n);
        len += (size_t)n;
        k++;
    }
    t[len] = '\0';
    *lines = k;
    return t;
}

static void test_users_hostile_group(void)
{
    const size_t max = 4u << 20; /* what build_spec reads at most (MAX_ETC_FILE) */
    size_t ngmax = (size_t)sysconf(_SC_NGROUPS_MAX);
    uint32_t uid, gid, *gids = NULL;
    size_t n = 0, lines;
    char *err = NULL;

    /* 4 MiB, every line a membership, every gid distinct: past NGROUPS_MAX */
    char *big = group_file(max, 0xffffffffu, &lines);
    CHECK(lines >= 200000);
    double t0 = now_s();
    int rc = ctd_resolve_user(PASSWD, big, "app", &uid, &gid, &gids, &n, &err);
    double dt = now_s() - t0;
    printf("hostile /etc/group: %zu bytes, %zu memberships, resolved in %.3f s\n", strlen(big),
           lines, dt);
    CHECK(dt < 2.0); /* a hang guard only: it takes milliseconds */
    CHECK(rc == -1 && gids == NULL && n == 0);
    char want[128];
    snprintf(want, sizeof want, "user 'app' is a member of more than %zu groups in the image's /etc/group",
             ngmax);
    CHECK_CONTAINS(err, want);
    free(err);
    err = NULL;

    /* the same through the spec: the error names the service */
    yajl_val r = build("SERVICE api\nFROM app\n", APP_IMAGE,
                       (ctd_spec_input){.etc_passwd = PASSWD, .etc_group = big}, &err, NULL);
    CHECK(r == NULL);
    CHECK_CONTAINS(err, "service api: the image's user 'app': user 'app' is a member of more than");
    free(err);
    err = NULL;
    yajl_tree_free(r);
    free(big);

    /* exactly NGROUPS_MAX distinct gids (the primary 1000 is not among them),
     * each listed several times: accepted, in file order, no duplicates */
    big = group_file(max, (uint32_t)ngmax, &lines);
    CHECK(lines > 3 * ngmax);
    t0 = now_s();
    rc = ctd_resolve_user(PASSWD, big, "app", &uid, &gid, &gids, &n, &err);
    dt = now_s() - t0;
    printf("%zu memberships of %zu distinct groups resolved in %.3f s\n", lines, ngmax, dt);
    CHECK(dt < 2.0);
    CHECK(rc == 0 && uid == 1000 && gid == 1000 && n == ngmax);
    bool in_order = gids != NULL;
    for (size_t i = 0; in_order && i < n; i++)
        in_order = gids[i] == 100000u + (uint32_t)i;
    CHECK(in_order);
    free(gids);
    free(big);
}

/* ---- users ------------------------------------------------------------------ */

static void test_users(void)
{
    uint32_t uid = 99, gid = 99, *gids = NULL;
    size_t n = 99;
    char *err = NULL;

    /* no user: root, with root's supplementary groups */
    CHECK(ctd_resolve_user(PASSWD, GROUP, NULL, &uid, &gid, &gids, &n, &err) == 0);
    CHECK(uid == 0 && gid == 0);
    CHECK(n == 1 && gids && gids[0] == 10);
    free(gids);
    CHECK(ctd_resolve_user(NULL, NULL, "", &uid, &gid, &gids, &n, &err) == 0);
    CHECK(uid == 0 && gid == 0 && n == 0 && gids == NULL);

    /* a name: uid and gid from passwd, supplementary from group, in file
     * order, without duplicates (wheel2 shares gid 10) */
    CHECK(ctd_resolve_user(PASSWD, GROUP, "app", &uid, &gid, &gids, &n, &err) == 0);
    CHECK(uid == 1000 && gid == 1000);
    CHECK(n == 3);
    if (n == 3)
        CHECK(gids[0] == 10 && gids[1] == 50 && gids[2] == 29);
    free(gids);
    /* CRLF line */
    CHECK(ctd_resolve_user(PASSWD, GROUP, "web", &uid, &gid, &gids, &n, &err) == 0);
    CHECK(uid == 33 && gid == 33 && n == 1 && gids[0] == 29);
    free(gids);
    /* callers that do not want the groups */
    CHECK(ctd_resolve_user(PASSWD, GROUP, "app", &uid, &gid, NULL, NULL, &err) == 0);
    CHECK(uid == 1000);

    /* a numeric uid: the passwd entry's gid and groups when there is one */
    CHECK(ctd_resolve_user(PASSWD, GROUP, "1000", &uid, &gid, &gids, &n, &err) == 0);
    CHECK(uid == 1000 && gid == 1000 && n == 3);
    free(gids);
    CHECK(ctd_resolve_user(PASSWD, GROUP, "4242", &uid, &gid, &gids, &n, &err) == 0);
    CHECK(uid == 4242 && gid == 0 && n == 0);
    CHECK(ctd_resolve_user(NULL, NULL, "4242", &uid, &gid, &gids, &n, &err) == 0);
    CHECK(uid == 4242 && gid == 0 && n == 0);

    /* name:group, uid:gid and the mixes: the group given is primary and no
     * supplementary groups are added */
    CHECK(ctd_resolve_user(PASSWD, GROUP, "app:staff", &uid, &gid, &gids, &n, &err) == 0);
    CHECK(uid == 1000 && gid == 50 && n == 0 && gids == NULL);
    CHECK(ctd_resolve_user(NULL, NULL, "1000:50", &uid, &gid, &gids, &n, &err) == 0);
    CHECK(uid == 1000 && gid == 50 && n == 0);
    CHECK(ctd_resolve_user(PASSWD, GROUP, "4242:wheel", &uid, &gid, &gids, &n, &err) == 0);
    CHECK(uid == 4242 && gid == 10);
    CHECK(ctd_resolve_user(PASSWD, NULL, "daemon:7", &uid, &gid, &gids, &n, &err) == 0);
    CHECK(uid == 1 && gid == 7);

    static const struct {
        const char *passwd, *group, *spec, *want;
    } bad[] = {
        {NULL, NULL, "app", "user 'app' cannot be resolved: the image has no /etc/passwd"},
        {"root:x:0:0::/:/bin/sh\n", "", "nobody", "user 'nobody' not found in the image's /etc/passwd"},
        {"", "", "app:staff", "user 'app' not found"},
        {"app:x:1:1::/:/bin/sh\n", "", "app:staff", "group 'staff' not found in the image's /etc/group"},
        {"app:x:1:1::/:/bin/sh\n", NULL, "app:staff", "group 'staff' cannot be resolved: the image has no /etc/group"},
        {NULL, NULL, "a:b:c", "invalid user 'a:b:c'"},
        {NULL, NULL, ":0", "invalid user ':0'"},
        {NULL, NULL, "0:", "invalid user '0:'"},
        {NULL, NULL, "2147483648", "uid 2147483648 is out of range"},
        {NULL, NULL, "0:99999999999", "gid 99999999999 is out of range"},
        /* a malformed passwd line never matches */
        {"app:x:notanumber:1::/:/bin/sh\n", NULL, "app", "user 'app' not found"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err = NULL;
        gids = (uint32_t *)&n; /* must be reset */
        CHECK(ctd_resolve_user(bad[i].passwd, bad[i].group, bad[i].spec, &uid, &gid, &gids, &n,
                               &err) == -1);
        CHECK(gids == NULL && n == 0);
        CHECK_CONTAINS(err, bad[i].want);
        free(err);
    }
    CHECK(ctd_resolve_user(NULL, NULL, "2147483647", &uid, &gid, NULL, NULL, &err) == 0);
    CHECK(uid == 2147483647u);

    CHECK(!ctd_user_needs_files(NULL));
    CHECK(!ctd_user_needs_files(""));
    CHECK(!ctd_user_needs_files("1000"));
    CHECK(!ctd_user_needs_files("1000:50"));
    CHECK(ctd_user_needs_files("app"));
    CHECK(ctd_user_needs_files("1000:staff"));
    CHECK(ctd_user_needs_files("app:50"));
}

/* ---- ENTRYPOINT / CMD splitting ----------------------------------------------- */

static const char *split(const char *value)
{
    static char buf[1024];
    char **v = NULL, *err = NULL;
    size_t n = 0;
    if (ctd_split_command(value, &v, &n, &err) != 0) {
        snprintf(buf, sizeof buf, "ERR %s", err);
        free(err);
        return buf;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(buf, "|");
        strcat(buf, "<");
        strcat(buf, v[i]);
        strcat(buf, ">");
    }
    if (v[n] != NULL)
        strcat(buf, "NOT TERMINATED");
    ctd_argv_free(v);
    return buf;
}

static void test_split(void)
{
    CHECK_STR(split("nginx -g daemon"), "<nginx>|<-g>|<daemon>");
    CHECK_STR(split("  a\tb   c  "), "<a>|<b>|<c>");
    CHECK_STR(split("sh -c 'echo $HOME; exit 3'"), "<sh>|<-c>|<echo $HOME; exit 3>");
    CHECK_STR(split("printf \"a \\\"q\\\" \\\\ \\n\""), "<printf>|<a \"q\" \\ \\n>");
    CHECK_STR(split("--name=\"a b\"c 'x'y"), "<--name=a bc>|<xy>");
    CHECK_STR(split("'' x \"\""), "<>|<x>|<>");
    CHECK_STR(split("a\\ b *.c $X"), "<a\\>|<b>|<*.c>|<$X>");
    CHECK_STR(split("'['  -e /x ']'"), "<[>|<-e>|</x>|<]>");
    CHECK_STR(split(""), "");
    CHECK_STR(split("   "), "");
    CHECK_STR(split("[\"sh\", \"-c\", \"echo 'hi' \\\"there\\\"\"]"),
              "<sh>|<-c>|<echo 'hi' \"there\">");
    CHECK_STR(split("  [ \"a b\" ]"), "<a b>");
    CHECK_STR(split("[]"), "");
    CHECK_CONTAINS(split("echo 'oops"), "ERR unterminated single quote");
    CHECK_CONTAINS(split("echo \"oops\\\""), "ERR unterminated double quote");
    CHECK_CONTAINS(split("[ -e /x ]"), "ERR a value starting with '[' must be a JSON array");
    CHECK_CONTAINS(split("[\"sleep\", 10]"), "ERR element 2 of the JSON array is not a string");
    CHECK_STR(split("{\"a\":1}"), "<{a:1}>"); /* not an array: plain words */
}

/* ---- the spec: defaults -------------------------------------------------------- */

static void test_defaults(void)
{
    char *err = NULL, *json = NULL;
    yajl_val r = build("SERVICE box\nFROM busybox\n", BUSYBOX_IMAGE, (ctd_spec_input){0}, &err,
                       &json);
    CHECK(r != NULL);
    CHECK(err == NULL);
    if (!r)
        return;
    /* compact output */
    CHECK(json && !strchr(json, '\n') && !strstr(json, ": "));
    CHECK_STR(str_at(AT(r, "ociVersion")), "1.0.2-dev");
    CHECK_STR(str_at(AT(r, "root", "path")), "rootfs");
    CHECK(YAJL_IS_FALSE(AT(r, "root", "readonly")));
    CHECK_STR(str_at(AT(r, "hostname")), "box");
    CHECK(YAJL_IS_FALSE(AT(r, "process", "terminal")));
    CHECK_STR(joined(AT(r, "process", "args")), "sh");
    CHECK_STR(joined(AT(r, "process", "env")),
              "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|ORCH_SERVICE=box");
    CHECK_STR(str_at(AT(r, "process", "cwd")), "/");
    CHECK(int_at(AT(r, "process", "user", "uid")) == 0);
    CHECK(int_at(AT(r, "process", "user", "gid")) == 0);
    CHECK(AT(r, "process", "user", "additionalGids") == NULL);
    CHECK(YAJL_IS_TRUE(AT(r, "process", "noNewPrivileges")));
    const char *caps = "CAP_CHOWN|CAP_DAC_OVERRIDE|CAP_FSETID|CAP_FOWNER|CAP_MKNOD|CAP_NET_RAW|"
                       "CAP_SETGID|CAP_SETUID|CAP_SETFCAP|CAP_SETPCAP|CAP_NET_BIND_SERVICE|"
                       "CAP_SYS_CHROOT|CAP_KILL|CAP_AUDIT_WRITE";
    CHECK_STR(joined(AT(r, "process", "capabilities", "bounding")), caps);
    CHECK_STR(joined(AT(r, "process", "capabilities", "effective")), caps);
    CHECK_STR(joined(AT(r, "process", "capabilities", "permitted")), caps);
    CHECK(AT(r, "process", "capabilities", "inheritable") == NULL);
    CHECK(AT(r, "process", "capabilities", "ambient") == NULL);
    long long soft = 0;
    CHECK(rlimit_at(r, "RLIMIT_NOFILE", &soft) == 1024 && soft == 1024);
    CHECK(rlimit_at(r, "RLIMIT_NPROC", &soft) == -1);
    CHECK(len_at(AT(r, "process", "rlimits")) == 1);

    /* mounts: containerd's defaults, in its order */
    yajl_val ms = AT(r, "mounts");
    CHECK(len_at(ms) == 7);
    const char *dests[] = {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/run"};
    const char *types[] = {"proc", "tmpfs", "devpts", "tmpfs", "mqueue", "sysfs", "tmpfs"};
    for (size_t i = 0; i < 7 && len_at(ms) == 7; i++) {
        CHECK_STR(str_at(AT(ms->u.array.values[i], "destination")), dests[i]);
        CHECK_STR(str_at(AT(ms->u.array.values[i], "type")), types[i]);
    }
    CHECK_STR(joined(AT(mount_at(r, "/proc"), "options")), "nosuid|noexec|nodev");
    CHECK_STR(joined(AT(mount_at(r, "/dev/pts"), "options")),
              "nosuid|noexec|newinstance|ptmxmode=0666|mode=0620|gid=5");
    CHECK_STR(str_at(AT(mount_at(r, "/dev/shm"), "source")), "shm");
    CHECK_STR(joined(AT(mount_at(r, "/dev/shm"), "options")),
              "nosuid|noexec|nodev|mode=1777|size=65536k");
    CHECK_STR(joined(AT(mount_at(r, "/sys"), "options")), "nosuid|noexec|nodev|ro");
    CHECK_STR(joined(AT(mount_at(r, "/run"), "options")), "nosuid|strictatime|mode=755|size=65536k");
    CHECK(mount_at(r, "/etc/hosts") == NULL);

    CHECK_STR(joined(AT(r, "linux", "maskedPaths")),
              "/proc/acpi|/proc/asound|/proc/kcore|/proc/keys|/proc/latency_stats|"
              "/proc/timer_list|/proc/timer_stats|/proc/sched_debug|/sys/firmware|/proc/scsi");
    CHECK_STR(joined(AT(r, "linux", "readonlyPaths")),
              "/proc/bus|/proc/fs|/proc/irq|/proc/sys|/proc/sysrq-trigger");
    CHECK_STR(str_at(AT(r, "linux", "cgroupsPath")), "/orchd/orch/box");
    yajl_val nss = AT(r, "linux", "namespaces");
    CHECK(len_at(nss) == 4);
    for (size_t i = 0; i < len_at(nss) && len_at(nss) == 4; i++) {
        const char *want[] = {"pid", "ipc", "uts", "mount"};
        CHECK_STR(str_at(AT(nss->u.array.values[i], "type")), want[i]);
    }
    CHECK(!strstr(json, "network"));
    /* devices: deny all first, then containerd's default char devices */
    yajl_val devs = AT(r, "linux", "resources", "devices");
    CHECK(len_at(devs) == 10);
    if (len_at(devs) == 10) {
        CHECK(YAJL_IS_FALSE(AT(devs->u.array.values[0], "allow")));
        CHECK_STR(str_at(AT(devs->u.array.values[0], "access")), "rwm");
        CHECK(AT(devs->u.array.values[0], "type") == NULL);
        CHECK(YAJL_IS_TRUE(AT(devs->u.array.values[1], "allow")));
        CHECK(int_at(AT(devs->u.array.values[1], "major")) == 1);
        CHECK(int_at(AT(devs->u.array.values[1], "minor")) == 3);
        CHECK(int_at(AT(devs->u.array.values[8], "major")) == 136);
        CHECK(AT(devs->u.array.values[8], "minor") == NULL);
    }
    /* no resource limits asked: none written */
    CHECK(AT(r, "linux", "resources", "memory") == NULL);
    CHECK(AT(r, "linux", "resources", "cpu") == NULL);
    CHECK(AT(r, "linux", "resources", "pids") == NULL);
    CHECK(AT(r, "linux", "resources", "blockIO") == NULL);
    yajl_tree_free(r);

    /* deterministic: the same input, the same bytes */
    char *again = NULL;
    r = build("SERVICE box\nFROM busybox\n", BUSYBOX_IMAGE, (ctd_spec_input){0}, &err, &again);
    CHECK_STR(again, json);
    yajl_tree_free(r);
    free(again);
    free(json);

    /* caller's choices: rootfs, cgroups path, namespace, host files */
    ctd_spec_input in = {.rootfs = "/run/orchd/bundles/x/rootfs", .namespace_ = "dev",
                         .hosts_file = "/etc/hosts", .resolv_conf = "/run/resolv.conf"};
    r = build("SERVICE box\nFROM busybox\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK_STR(str_at(AT(r, "root", "path")), "/run/orchd/bundles/x/rootfs");
    CHECK_STR(str_at(AT(r, "linux", "cgroupsPath")), "/orchd/dev/box");
    CHECK_STR(str_at(AT(mount_at(r, "/etc/hosts"), "source")), "/etc/hosts");
    CHECK_STR(str_at(AT(mount_at(r, "/etc/hosts"), "type")), "bind");
    CHECK_STR(joined(AT(mount_at(r, "/etc/hosts"), "options")), "rbind|ro");
    CHECK_STR(str_at(AT(mount_at(r, "/etc/resolv.conf"), "source")), "/run/resolv.conf");
    CHECK(len_at(AT(r, "mounts")) == 9);
    yajl_tree_free(r);
    in = (ctd_spec_input){.cgroups_path = "orchd-dev-box"};
    r = build("SERVICE box\nFROM busybox\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK_STR(str_at(AT(r, "linux", "cgroupsPath")), "orchd-dev-box");
    yajl_tree_free(r);
    char *cg = ctd_default_cgroups_path(NULL, "svc");
    CHECK_STR(cg, "/orchd/orch/svc");
    free(cg);

    /* no image config at all: nothing to run unless the service says */
    r = build("SERVICE box\nFROM busybox\nCMD /bin/true\n", NULL, (ctd_spec_input){0}, &err, NULL);
    CHECK_STR(joined(AT(r, "process", "args")), "/bin/true");
    CHECK_STR(str_at(AT(r, "process", "cwd")), "/");
    yajl_tree_free(r);
}

/* ---- argv ------------------------------------------------------------------------ */

static const char *argv_of(const char *orchfile, const char *img)
{
    static char buf[1024];
    char *err = NULL;
    yajl_val r = build(orchfile, img, (ctd_spec_input){.etc_passwd = PASSWD, .etc_group = GROUP},
                       &err, NULL);
    if (!r) {
        snprintf(buf, sizeof buf, "ERR %s", err);
    } else {
        snprintf(buf, sizeof buf, "%s", joined(AT(r, "process", "args")));
    }
    free(err);
    yajl_tree_free(r);
    return buf;
}

static void test_argv(void)
{
    const char *base = "SERVICE app\nFROM app:1\n";
    char text[512];
    /* the image's entrypoint + cmd */
    CHECK_STR(argv_of(base, APP_IMAGE), "/entry|--flag|serve|--port|80");
    /* CMD replaces the image's Cmd, keeps its Entrypoint */
    snprintf(text, sizeof text, "%sCMD migrate --all\n", base);
    CHECK_STR(argv_of(text, APP_IMAGE), "/entry|--flag|migrate|--all");
    /* ENTRYPOINT replaces the image's Entrypoint and drops its Cmd */
    snprintf(text, sizeof text, "%sENTRYPOINT /bin/other -v\n", base);
    CHECK_STR(argv_of(text, APP_IMAGE), "/bin/other|-v");
    /* both */
    snprintf(text, sizeof text, "%sENTRYPOINT [\"/bin/sh\", \"-c\"]\nCMD ['echo $A; exit 0']\n",
             base);
    CHECK_STR(argv_of(text, APP_IMAGE), "ERR service app: CMD: a value starting with '[' must be "
                                        "a JSON array of strings, like [\"sh\", \"-c\", \"echo "
                                        "hi\"] (quote a literal '[') (Orchfile:4)");
    snprintf(text, sizeof text, "%sENTRYPOINT [\"/bin/sh\", \"-c\"]\nCMD 'echo $A; exit 0'\n",
             base);
    CHECK_STR(argv_of(text, APP_IMAGE), "/bin/sh|-c|echo $A; exit 0");
    /* ENTRYPOINT [] clears the entrypoint: CMD alone runs */
    snprintf(text, sizeof text, "%sENTRYPOINT []\nCMD /bin/date -u\n", base);
    CHECK_STR(argv_of(text, APP_IMAGE), "/bin/date|-u");
    /* an image with only Cmd (busybox): CMD replaces it */
    CHECK_STR(argv_of("SERVICE b\nFROM busybox\nCMD sleep 3600\n", BUSYBOX_IMAGE), "sleep|3600");
    /* an image with only Entrypoint: CMD appends */
    const char *ep_only = "{\"config\":{\"Entrypoint\":[\"/tini\",\"--\"]}}";
    CHECK_STR(argv_of("SERVICE b\nFROM t\nCMD run.sh\n", ep_only), "/tini|--|run.sh");
    CHECK_STR(argv_of("SERVICE b\nFROM t\n", ep_only), "/tini|--");

    /* errors */
    CHECK_STR(argv_of("SERVICE b\nFROM scratch\n", "{}"),
              "ERR service b: image has no entrypoint or cmd and the service gives none "
              "(Orchfile:2)");
    CHECK_STR(argv_of("SERVICE b\nFROM scratch\nENTRYPOINT []\n", BUSYBOX_IMAGE),
              "ERR service b: image has no entrypoint or cmd and the service gives none "
              "(Orchfile:2)");
    CHECK_STR(argv_of("SERVICE b\nFROM x\nCMD echo 'unterminated\n", BUSYBOX_IMAGE),
              "ERR service b: CMD: unterminated single quote (Orchfile:3)");
    CHECK_STR(argv_of("SERVICE b\nFROM x\nENTRYPOINT '' x\n", BUSYBOX_IMAGE),
              "ERR service b: the program to run (the first argument) is empty (Orchfile:3)");
}

/* ---- env -------------------------------------------------------------------------- */

static void test_env(void)
{
    char *err = NULL;
    char *files[] = {"B=file1", "C=file1", "E=file2", "A", NULL}; /* "A": no '=', ignored */
    ctd_spec_input in = {.env_file_env = files, .etc_passwd = PASSWD, .etc_group = GROUP};
    yajl_val r = build("SERVICE app\nFROM app\nENV C=service\nENV D=service\nENV B=\n", APP_IMAGE,
                       in, &err, NULL);
    CHECK(r != NULL);
    /* image order first, later sources replace values in place, new keys
     * append in the order they appear; PATH kept from the image */
    CHECK_STR(joined(AT(r, "process", "env")),
              "A=image|B=|PATH=/app/bin:/bin|C=service|E=file2|D=service|ORCH_SERVICE=app");
    yajl_tree_free(r);

    /* an image without PATH gets the default one, first */
    const char *nopath = "{\"config\":{\"Env\":[\"X=1\"],\"Cmd\":[\"x\"]}}";
    r = build("SERVICE s\nFROM x\nENV Y=2\n", nopath, (ctd_spec_input){0}, &err, NULL);
    CHECK_STR(joined(AT(r, "process", "env")),
              "PATH=" CTD_DEFAULT_PATH "|X=1|Y=2|ORCH_SERVICE=s");
    yajl_tree_free(r);
    /* ENV may set PATH itself */
    r = build("SERVICE s\nFROM x\nENV PATH=/opt/bin\n", nopath, (ctd_spec_input){0}, &err, NULL);
    CHECK_STR(joined(AT(r, "process", "env")), "X=1|PATH=/opt/bin|ORCH_SERVICE=s");
    yajl_tree_free(r);

    /* bytes that are not UTF-8 cannot go into JSON: a clear error */
    char *bad[] = {"K=\xff\xfe", NULL};
    in = (ctd_spec_input){.env_file_env = bad};
    r = build("SERVICE s\nFROM x\n", nopath, in, &err, NULL);
    CHECK(r == NULL);
    CHECK_STR(err, "service s: the environment (image Env, ENV_FILE or ENV) is not valid UTF-8");
    free(err);
}

/* ---- cwd and user ------------------------------------------------------------------- */

static void test_cwd_user(void)
{
    char *err = NULL;
    ctd_spec_input in = {.etc_passwd = PASSWD, .etc_group = GROUP};
    yajl_val r = build("SERVICE app\nFROM app\n", APP_IMAGE, in, &err, NULL);
    CHECK_STR(str_at(AT(r, "process", "cwd")), "/app");
    /* the image's User "app", resolved in its /etc/passwd and /etc/group */
    CHECK(int_at(AT(r, "process", "user", "uid")) == 1000);
    CHECK(int_at(AT(r, "process", "user", "gid")) == 1000);
    yajl_val g = AT(r, "process", "user", "additionalGids");
    CHECK(len_at(g) == 3);
    if (len_at(g) == 3)
        CHECK(int_at(g->u.array.values[0]) == 10 && int_at(g->u.array.values[1]) == 50 &&
              int_at(g->u.array.values[2]) == 29);
    yajl_tree_free(r);

    r = build("SERVICE app\nFROM app\nWORKDIR /srv/data\n", APP_IMAGE, in, &err, NULL);
    CHECK_STR(str_at(AT(r, "process", "cwd")), "/srv/data");
    yajl_tree_free(r);

    r = build("SERVICE app\nFROM app\nWORKDIR data\n", APP_IMAGE, in, &err, NULL);
    CHECK(r == NULL);
    CHECK_STR(err, "service app: WORKDIR 'data' must be an absolute path inside the container "
                   "(Orchfile:3)");
    free(err);

    const char *relwd = "{\"config\":{\"Cmd\":[\"x\"],\"WorkingDir\":\"app\"}}";
    r = build("SERVICE app\nFROM app\n", relwd, in, &err, NULL);
    CHECK(r == NULL);
    CHECK_CONTAINS(err, "service app: the image's WorkingDir 'app' is not an absolute path");
    free(err);

    /* numeric users need no passwd; name:group */
    const char *numeric = "{\"config\":{\"Cmd\":[\"x\"],\"User\":\"65534:65534\"}}";
    r = build("SERVICE n\nFROM x\n", numeric, (ctd_spec_input){0}, &err, NULL);
    CHECK(int_at(AT(r, "process", "user", "uid")) == 65534);
    CHECK(int_at(AT(r, "process", "user", "gid")) == 65534);
    yajl_tree_free(r);
    const char *named = "{\"config\":{\"Cmd\":[\"x\"],\"User\":\"app:staff\"}}";
    r = build("SERVICE n\nFROM x\n", named, in, &err, NULL);
    CHECK(int_at(AT(r, "process", "user", "uid")) == 1000);
    CHECK(int_at(AT(r, "process", "user", "gid")) == 50);
    CHECK(AT(r, "process", "user", "additionalGids") == NULL);
    yajl_tree_free(r);

    /* a user the image does not have: an error naming the service */
    const char *ghost = "{\"config\":{\"Cmd\":[\"x\"],\"User\":\"ghost\"}}";
    r = build("SERVICE n\nFROM x\n", ghost, in, &err, NULL);
    CHECK(r == NULL);
    CHECK_STR(err, "service n: the image's user 'ghost': user 'ghost' not found in the image's "
                   "/etc/passwd");
    free(err);
    r = build("SERVICE n\nFROM x\n", named, (ctd_spec_input){0}, &err, NULL);
    CHECK(r == NULL);
    CHECK_CONTAINS(err, "service n: the image's user 'app:staff': user 'app' cannot be resolved: "
                        "the image has no /etc/passwd");
    free(err);
}

/* ---- volumes and publish ----------------------------------------------------------------- */

static void test_volumes_publish(void)
{
    char *err = NULL;
    ctd_spec_input in = {.project_dir = "/home/u/proj/", .data_dir = "/var/lib/orchd"};
    yajl_val r = build("SERVICE v\nFROM busybox\n"
                       "VOLUME /srv/a/b:/data/sub\n"
                       "VOLUME pgdata:/data\n"
                       "VOLUME ./conf:/etc/app\n"
                       "VOLUME ../shared:/run\n",
                       BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(r != NULL);
    yajl_val m = mount_at(r, "/data");
    CHECK_STR(str_at(AT(m, "type")), "bind");
    CHECK_STR(str_at(AT(m, "source")), "/var/lib/orchd/volumes/pgdata");
    CHECK_STR(joined(AT(m, "options")), "rbind|rw");
    CHECK_STR(str_at(AT(mount_at(r, "/data/sub"), "source")), "/srv/a/b");
    CHECK_STR(str_at(AT(mount_at(r, "/etc/app"), "source")), "/home/u/proj/conf");
    /* a VOLUME on a default mount's destination takes its place */
    CHECK_STR(str_at(AT(mount_at(r, "/run"), "source")), "/home/u/proj/../shared");
    CHECK_STR(str_at(AT(mount_at(r, "/run"), "type")), "bind");
    CHECK(len_at(AT(r, "mounts")) == 6 + 4);
    /* parents are mounted before what is inside them */
    CHECK(mount_index(r, "/data") >= 0 && mount_index(r, "/data") < mount_index(r, "/data/sub"));
    CHECK(mount_index(r, "/dev") < mount_index(r, "/dev/pts"));
    yajl_tree_free(r);

    /* a VOLUME over /dev comes before the default mounts inside /dev; one
     * over /etc before the host's /etc/hosts */
    in.hosts_file = "/etc/hosts";
    r = build("SERVICE v\nFROM busybox\nVOLUME /srv/dev:/dev/\nVOLUME /srv/etc:/etc\n",
              BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(len_at(AT(r, "mounts")) == 9);
    CHECK(mount_index(r, "/proc") == 0);
    CHECK(mount_index(r, "/dev/") == 1);
    CHECK(mount_index(r, "/dev/pts") == 2);
    CHECK(mount_index(r, "/dev") == -1);
    CHECK(mount_index(r, "/etc") >= 0 && mount_index(r, "/etc") < mount_index(r, "/etc/hosts"));
    CHECK_STR(str_at(AT(mount_at(r, "/dev/"), "source")), "/srv/dev");
    yajl_tree_free(r);
    /* a VOLUME at /etc/hosts replaces the host file */
    r = build("SERVICE v\nFROM busybox\nVOLUME ./hosts:/etc/hosts\n", BUSYBOX_IMAGE, in, &err,
              NULL);
    CHECK_STR(str_at(AT(mount_at(r, "/etc/hosts"), "source")), "/home/u/proj/hosts");
    CHECK(len_at(AT(r, "mounts")) == 8);
    yajl_tree_free(r);
    in.hosts_file = NULL;

    orch_volume named = {.source = "cache", .destination = "/c", .is_named = true};
    char *s = ctd_volume_source(&named, "/p", "/d");
    CHECK_STR(s, "/d/volumes/cache");
    free(s);
    CHECK(ctd_volume_source(&named, "/p", NULL) == NULL);

    r = build("SERVICE v\nFROM busybox\nVOLUME pgdata:/data\n", BUSYBOX_IMAGE,
              (ctd_spec_input){0}, &err, NULL);
    CHECK(r == NULL);
    CHECK_STR(err, "service v: VOLUME pgdata:/data: a named volume needs the data directory "
                   "(Orchfile:3)");
    free(err);
    r = build("SERVICE v\nFROM busybox\nVOLUME /x:/\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(r == NULL);
    CHECK_STR(err, "service v: VOLUME /x:/: cannot mount over the root (Orchfile:3)");
    free(err);

    /* PUBLISH: equal ports need nothing in the host network */
    r = build("SERVICE p\nFROM busybox\nPUBLISH 8080:8080\nPUBLISH 127.0.0.1:53:53\n",
              BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(r != NULL);
    CHECK(len_at(AT(r, "mounts")) == 7);
    yajl_tree_free(r);
    r = build("SERVICE p\nFROM busybox\nPUBLISH 9000:9000\nPUBLISH 8080:80\n", BUSYBOX_IMAGE, in,
              &err, NULL);
    CHECK(r == NULL);
    CHECK_STR(err, "service p: PUBLISH 8080:80 maps host port 8080 to container port 80, but "
                   "containers share the host's network, which cannot remap ports: publish the "
                   "same port on both sides (80:80) (Orchfile:4)");
    free(err);
    r = build("SERVICE p\nFROM busybox\nPUBLISH 127.0.0.1:8443:443\n", BUSYBOX_IMAGE, in, &err,
              NULL);
    CHECK_CONTAINS(err, "service p: PUBLISH 127.0.0.1:8443:443 maps host port 8443 to container "
                        "port 443");
    free(err);
}

/* ---- resources and rlimits --------------------------------------------------------------- */

static void test_resources(void)
{
    char *err = NULL;
    ctd_spec_input in = {.host_nofile_hard = 20000, .host_nproc_hard = 96365};
    yajl_val r = build("SERVICE r\nFROM busybox\nMEMORY 256M\nCPUS 0.5\nTASKS_MAX 64\n"
                       "IO_WEIGHT 200\nLIMIT_NOFILE 4096\nLIMIT_NPROC 512\n",
                       BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(r != NULL);
    CHECK(int_at(AT(r, "linux", "resources", "memory", "limit")) == 268435456);
    CHECK(int_at(AT(r, "linux", "resources", "cpu", "quota")) == 50000);
    CHECK(int_at(AT(r, "linux", "resources", "cpu", "period")) == 100000);
    CHECK(int_at(AT(r, "linux", "resources", "pids", "limit")) == 64);
    CHECK(int_at(AT(r, "linux", "resources", "blockIO", "weight")) == 200);
    long long soft = 0;
    CHECK(rlimit_at(r, "RLIMIT_NOFILE", &soft) == 4096 && soft == 4096);
    CHECK(rlimit_at(r, "RLIMIT_NPROC", &soft) == 512 && soft == 512);
    yajl_tree_free(r);

    r = build("SERVICE r\nFROM busybox\nCPU_QUOTA 150%\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(int_at(AT(r, "linux", "resources", "cpu", "quota")) == 150000);
    CHECK(int_at(AT(r, "linux", "resources", "cpu", "period")) == 100000);
    yajl_tree_free(r);
    /* both: the stricter, whichever it is (the rule of every runtime) */
    r = build("SERVICE r\nFROM busybox\nCPUS 2\nCPU_QUOTA 25%\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(int_at(AT(r, "linux", "resources", "cpu", "quota")) == 25000);
    yajl_tree_free(r);
    r = build("SERVICE r\nFROM busybox\nCPUS 0.5\nCPU_QUOTA 150%\n", BUSYBOX_IMAGE, in, &err,
              NULL);
    CHECK(int_at(AT(r, "linux", "resources", "cpu", "quota")) == 50000);
    yajl_tree_free(r);
    r = build("SERVICE r\nFROM busybox\nCPUS 1.25\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(int_at(AT(r, "linux", "resources", "cpu", "quota")) == 125000);
    yajl_tree_free(r);
    r = build("SERVICE r\nFROM busybox\nCPUS 0.001\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(r == NULL);
    CHECK_STR(err, "service r: CPUS 0.001 is below the kernel's minimum of 0.01 CPU (Orchfile:3)");
    free(err);

    /* the default nofile never exceeds the host's hard limit */
    in.host_nofile_hard = 512;
    r = build("SERVICE r\nFROM busybox\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(rlimit_at(r, "RLIMIT_NOFILE", &soft) == 512 && soft == 512);
    yajl_tree_free(r);
    in.host_nofile_hard = UINT64_MAX; /* RLIM_INFINITY */
    r = build("SERVICE r\nFROM busybox\nLIMIT_NOFILE 1048576\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(rlimit_at(r, "RLIMIT_NOFILE", &soft) == 1048576);
    yajl_tree_free(r);

    in.host_nofile_hard = 20000;
    r = build("SERVICE r\nFROM busybox\nLIMIT_NOFILE 20000\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(rlimit_at(r, "RLIMIT_NOFILE", &soft) == 20000);
    yajl_tree_free(r);
    r = build("SERVICE r\nFROM busybox\nLIMIT_NOFILE 20001\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(r == NULL);
    CHECK_STR(err, "service r: LIMIT_NOFILE 20001 exceeds this host's hard limit 20000 (orchd "
                   "cannot raise it without CAP_SYS_RESOURCE) (Orchfile:3)");
    free(err);
    r = build("SERVICE r\nFROM busybox\nLIMIT_NPROC 100000\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(r == NULL);
    CHECK_STR(err, "service r: LIMIT_NPROC 100000 exceeds this host's hard limit 96365 (orchd "
                   "cannot raise it without CAP_SYS_RESOURCE) (Orchfile:3)");
    free(err);
    /* an unknown host limit is not checked */
    r = build("SERVICE r\nFROM busybox\nLIMIT_NOFILE 99999\n", BUSYBOX_IMAGE, (ctd_spec_input){0},
              &err, NULL);
    CHECK(rlimit_at(r, "RLIMIT_NOFILE", &soft) == 99999);
    yajl_tree_free(r);
}

/* ---- seccomp --------------------------------------------------------------------- */

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* How linux.seccomp treats one syscall: 'A' a rule allows it whatever its
 * arguments, 'C' rules allow it only with argument conditions (*n_cond of
 * them; *cond the last), 'E' a rule fails it with an errno (*errno_ret), 0 no
 * rule names it (the default action, EPERM). */
static int syscall_rule(yajl_val seccomp, const char *name, yajl_val *cond, size_t *n_cond,
                        long long *errno_ret)
{
    yajl_val rules = AT(seccomp, "syscalls");
    int how = 0;
    *n_cond = 0;
    for (size_t i = 0; YAJL_IS_ARRAY(rules) && i < rules->u.array.len; i++) {
        yajl_val r = rules->u.array.values[i];
        yajl_val names = AT(r, "names");
        bool named = false;
        for (size_t k = 0; YAJL_IS_ARRAY(names) && k < names->u.array.len; k++) {
            const char *nk = str_at(names->u.array.values[k]);
            named = named || (nk && strcmp(nk, name) == 0);
        }
        if (!named)
            continue;
        const char *action = str_at(AT(r, "action"));
        if (action && strcmp(action, "SCMP_ACT_ERRNO") == 0) {
            *errno_ret = int_at(AT(r, "errnoRet"));
            return 'E';
        }
        if (!action || strcmp(action, "SCMP_ACT_ALLOW") != 0)
            return '?';
        if (AT(r, "args") == NULL)
            return 'A';
        how = 'C';
        (*n_cond)++;
        *cond = r;
    }
    return how;
}

static int rule_of(yajl_val seccomp, const char *name)
{
    yajl_val cond;
    size_t n;
    long long e;
    return syscall_rule(seccomp, name, &cond, &n, &e);
}

static void test_seccomp(void)
{
    char *err = NULL, *json = NULL;
    ctd_spec_input in = {.kernel_release = "6.1.0-13-amd64"};
    yajl_val r = build("SERVICE box\nFROM busybox\n", BUSYBOX_IMAGE, in, &err, &json);
    CHECK(r != NULL); /* and it parsed back as JSON (build aborts otherwise) */
    if (!r)
        return;
    yajl_val sc = AT(r, "linux", "seccomp");
    CHECK(YAJL_IS_OBJECT(sc));
    CHECK_STR(str_at(AT(sc, "defaultAction")), "SCMP_ACT_ERRNO");
    CHECK(AT(sc, "defaultErrnoRet") == NULL); /* runc: EPERM, as containerd leaves it */
#if defined(__x86_64__)
    CHECK_STR(joined(AT(sc, "architectures")), "SCMP_ARCH_X86_64|SCMP_ARCH_X86|SCMP_ARCH_X32");
#elif defined(__aarch64__)
    CHECK_STR(joined(AT(sc, "architectures")), "SCMP_ARCH_ARM|SCMP_ARCH_AARCH64");
#endif
    /* containerd's allow-list: 349 names in its first rule */
    yajl_val rules = AT(sc, "syscalls");
    CHECK(YAJL_IS_ARRAY(rules) && rules->u.array.len >= 1 &&
          len_at(AT(rules->u.array.values[0], "names")) == 349);
    const char *allowed[] = {"read",   "write",  "openat", "execve",  "exit_group", "futex",
                             "mmap",   "socket", "bind",   "wait4",   "setuid",     "capset",
                             "vfork",  "fork",   "prctl",  "seccomp", "rt_sigreturn",
                             "chroot", /* the spec grants CAP_SYS_CHROOT */
                             "ptrace" /* kernel >= 4.8 */};
    for (size_t i = 0; i < COUNT_OF(allowed); i++) {
        int how = rule_of(sc, allowed[i]);
        CHECK(how == 'A');
        if (how != 'A')
            fprintf(stderr, "  %s: %c\n", allowed[i], how ? how : '0');
    }
#if defined(__x86_64__)
    CHECK(rule_of(sc, "arch_prctl") == 'A');
    CHECK(rule_of(sc, "modify_ldt") == 'A');
#endif
    /* Not in the profile: namespaces, mounts, keys, kernel images and
     * modules, the clock, bpf (the spec grants no CAP_SYS_ADMIN, CAP_SYS_BOOT,
     * CAP_SYS_MODULE, CAP_SYS_TIME, CAP_BPF, ...). */
    const char *denied[] = {"unshare",       "setns",        "mount",           "umount2",
                            "fsopen",        "move_mount",   "pivot_root",      "keyctl",
                            "add_key",       "request_key",  "kexec_load",      "kexec_file_load",
                            "init_module",   "finit_module", "delete_module",   "reboot",
                            "swapon",        "bpf",          "perf_event_open", "clock_settime",
                            "settimeofday",  "sethostname",  "open_by_handle_at",
                            "userfaultfd",   "syslog",       "acct",            "iopl",
                            "process_vm_readv", "kcmp",      "lookup_dcookie",  "vhangup",
                            "mbind",         "quotactl"};
    for (size_t i = 0; i < COUNT_OF(denied); i++) {
        int how = rule_of(sc, denied[i]);
        CHECK(how == 0);
        if (how != 0)
            fprintf(stderr, "  %s: %c\n", denied[i], how);
    }
    /* clone without namespace flags only; clone3 fails with ENOSYS */
    yajl_val cond = NULL;
    size_t n = 0;
    long long e = 0;
    CHECK(syscall_rule(sc, "clone", &cond, &n, &e) == 'C' && n == 1);
    CHECK(rule_of(sc, "clone") == 'C'); /* no rule allows it unconditionally */
    if (cond) {
        yajl_val a = AT(cond, "args");
        CHECK(len_at(a) == 1);
        if (len_at(a) == 1) {
            yajl_val a0 = a->u.array.values[0];
            CHECK(int_at(AT(a0, "index")) == 0);
            /* CLONE_NEW{NS,UTS,IPC,USER,PID,NET,CGROUP} */
            CHECK(int_at(AT(a0, "value")) == 0x7e020000);
            CHECK(AT(a0, "valueTwo") == NULL); /* 0, omitted as containerd does */
            CHECK_STR(str_at(AT(a0, "op")), "SCMP_CMP_MASKED_EQ");
        }
    }
    CHECK(syscall_rule(sc, "clone3", &cond, &n, &e) == 'E' && e == ENOSYS);
    /* personality with containerd's five personas only */
    cond = NULL;
    CHECK(syscall_rule(sc, "personality", &cond, &n, &e) == 'C' && n == 5);
    if (cond && len_at(AT(cond, "args")) == 1) {
        CHECK(int_at(AT(AT(cond, "args")->u.array.values[0], "value")) == 0xffffffffLL);
        CHECK_STR(str_at(AT(AT(cond, "args")->u.array.values[0], "op")), "SCMP_CMP_EQ");
    }
    yajl_tree_free(r);
    free(json);

    /* ptrace only from kernel 4.8 on, and not when the release is unknown */
    const char *releases[] = {"4.7.10", "3.12-1-amd64", "x.y", NULL};
    for (size_t i = 0; i < COUNT_OF(releases); i++) {
        in.kernel_release = releases[i];
        r = build("SERVICE box\nFROM busybox\n", BUSYBOX_IMAGE, in, &err, NULL);
        CHECK(rule_of(AT(r, "linux", "seccomp"), "ptrace") == 0);
        CHECK(rule_of(AT(r, "linux", "seccomp"), "read") == 'A');
        yajl_tree_free(r);
    }
    in.kernel_release = "4.8";
    r = build("SERVICE box\nFROM busybox\n", BUSYBOX_IMAGE, in, &err, NULL);
    CHECK(rule_of(AT(r, "linux", "seccomp"), "ptrace") == 'A');
    yajl_tree_free(r);

    /* ORCH_SECCOMP=unconfined: no profile at all */
    in.seccomp = CTD_SECCOMP_UNCONFINED;
    r = build("SERVICE box\nFROM busybox\n", BUSYBOX_IMAGE, in, &err, &json);
    CHECK(r != NULL && AT(r, "linux", "seccomp") == NULL);
    CHECK(json && !strstr(json, "SCMP_"));
    CHECK(AT(r, "linux", "maskedPaths") != NULL); /* the rest stays */
    yajl_tree_free(r);
    free(json);

    ctd_seccomp_mode m = CTD_SECCOMP_UNCONFINED;
    CHECK(ctd_seccomp_mode_parse(NULL, &m) == 0 && m == CTD_SECCOMP_DEFAULT);
    m = CTD_SECCOMP_UNCONFINED;
    CHECK(ctd_seccomp_mode_parse("", &m) == 0 && m == CTD_SECCOMP_DEFAULT);
    m = CTD_SECCOMP_UNCONFINED;
    CHECK(ctd_seccomp_mode_parse("default", &m) == 0 && m == CTD_SECCOMP_DEFAULT);
    CHECK(ctd_seccomp_mode_parse("unconfined", &m) == 0 && m == CTD_SECCOMP_UNCONFINED);
    CHECK(ctd_seccomp_mode_parse("Unconfined", &m) == -1);
    CHECK(ctd_seccomp_mode_parse("off", &m) == -1);
    CHECK(ctd_seccomp_mode_parse("unconfined ", &m) == -1);
    unsigned kv = 0, km = 0;
    CHECK(ctd_kernel_version("6.1.0-13-amd64", &kv, &km) == 0 && kv == 6 && km == 1);
    CHECK(ctd_kernel_version("3.12-1-amd64", &kv, &km) == 0 && kv == 3 && km == 12);
    CHECK(ctd_kernel_version("6", &kv, &km) == -1);
    CHECK(ctd_kernel_version(NULL, &kv, &km) == -1);
}

static void test_not_container(void)
{
    char *err = NULL;
    yajl_val r = build("SERVICE h\nRUN sleep 1\n", NULL, (ctd_spec_input){0}, &err, NULL);
    CHECK(r == NULL);
    CHECK_STR(err, "service h: not a container service (no FROM) (Orchfile:1)");
    free(err);
}

/* ---- helper commands: the exec process ---------------------------------------------- */

static yajl_val exec_process(const char *spec, const char *command, char **err)
{
    char *json = NULL;
    *err = NULL;
    if (ctd_spec_exec_process(spec, strlen(spec), command, &json, err) != 0)
        return NULL;
    char why[256];
    yajl_val v = yajl_tree_parse(json, why, sizeof why);
    if (!v) {
        fprintf(stderr, "exec process is not JSON: %s\n%s\n", why, json);
        abort();
    }
    free(json);
    return v;
}

static void test_exec_process(void)
{
    char *err = NULL, *spec = NULL;
    ctd_spec_input in = {.etc_passwd = PASSWD, .etc_group = GROUP};
    yajl_val r = build("SERVICE app\nFROM app\nENV C=service\nWORKDIR /srv\nLIMIT_NOFILE 4096\n"
                       "LIMIT_NPROC 64\n",
                       APP_IMAGE, in, &err, &spec);
    CHECK(r != NULL);
    if (!r)
        return;
    yajl_val p = exec_process(spec, "test -f /x && echo \"$C\"", &err);
    CHECK(p != NULL);
    if (p) {
        yajl_val rp = AT(r, "process");
        /* the same keys as the container's process, in the same order */
        CHECK(YAJL_IS_OBJECT(p) && p->u.object.len == rp->u.object.len);
        for (size_t i = 0; YAJL_IS_OBJECT(p) && i < p->u.object.len && i < rp->u.object.len; i++)
            CHECK_STR(p->u.object.keys[i], rp->u.object.keys[i]);
        CHECK_STR(joined(AT(p, "args")), "/bin/sh|-c|test -f /x && echo \"$C\"");
        CHECK(YAJL_IS_FALSE(AT(p, "terminal")));
        CHECK(int_at(AT(p, "user", "uid")) == 1000 && int_at(AT(p, "user", "gid")) == 1000);
        CHECK(len_at(AT(p, "user", "additionalGids")) == 3);
        char env[4096];
        snprintf(env, sizeof env, "%s", joined(AT(rp, "env")));
        CHECK_STR(joined(AT(p, "env")), env);
        CHECK_CONTAINS(env, "C=service");
        CHECK_STR(str_at(AT(p, "cwd")), "/srv");
        char caps[4096];
        snprintf(caps, sizeof caps, "%s", joined(AT(rp, "capabilities", "bounding")));
        CHECK_STR(joined(AT(p, "capabilities", "bounding")), caps);
        snprintf(caps, sizeof caps, "%s", joined(AT(rp, "capabilities", "effective")));
        CHECK_STR(joined(AT(p, "capabilities", "effective")), caps);
        yajl_val rl = AT(p, "rlimits");
        CHECK(len_at(rl) == 2);
        if (len_at(rl) == 2) {
            CHECK_STR(str_at(AT(rl->u.array.values[0], "type")), "RLIMIT_NOFILE");
            CHECK(int_at(AT(rl->u.array.values[0], "hard")) == 4096);
            CHECK_STR(str_at(AT(rl->u.array.values[1], "type")), "RLIMIT_NPROC");
            CHECK(int_at(AT(rl->u.array.values[1], "soft")) == 64);
        }
        CHECK(YAJL_IS_TRUE(AT(p, "noNewPrivileges")));
        yajl_tree_free(p);
    }
    /* numbers keep their text: an unlimited rlimit is 2^64-1 */
    p = exec_process("{\"process\":{\"args\":[\"x\"],\"rlimits\":[{\"type\":\"RLIMIT_NPROC\","
                     "\"hard\":18446744073709551615,\"soft\":18446744073709551615}]}}",
                     "true", &err);
    CHECK(p != NULL);
    if (p) {
        yajl_val h = AT(p, "rlimits");
        CHECK(len_at(h) == 1);
        if (len_at(h) == 1)
            CHECK_STR(AT(h->u.array.values[0], "hard")->u.number.r, "18446744073709551615");
        yajl_tree_free(p);
    }
    /* errors */
    CHECK(exec_process("not json", "true", &err) == NULL);
    CHECK_STR(err, "the container's spec is not JSON");
    free(err);
    CHECK(exec_process("{\"root\":{}}", "true", &err) == NULL);
    CHECK_STR(err, "the container's spec has no process object");
    free(err);
    CHECK(exec_process("{\"process\":{\"cwd\":\"/\"}}", "true", &err) == NULL);
    CHECK_STR(err, "the container's spec has no process arguments");
    free(err);
    CHECK(exec_process(spec, "echo \xff", &err) == NULL);
    CHECK_STR(err, "the command is not valid UTF-8");
    free(err);
    free(spec);
    yajl_tree_free(r);
}

int main(void)
{
    if (!mkdtemp(test_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_image_config();
    test_users();
    test_users_hostile_group();
    test_split();
    test_defaults();
    test_argv();
    test_env();
    test_cwd_user();
    test_volumes_publish();
    test_resources();
    test_seccomp();
    test_not_container();
    test_exec_process();

    char path[256];
    snprintf(path, sizeof path, "%s/Orchfile", test_dir);
    unlink(path);
    rmdir(test_dir);
    return check_done();
}
