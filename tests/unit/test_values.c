/* Unit tests for the typed value parsers (src/orchfile/values.c). */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "orchfile/values.h"

/* Each helper returns the parsed value for an accepted input, and for a
 * rejected one records that *why was set and contains `want`. */

static void duration_ok(const char *s, uint32_t want)
{
    uint32_t v = 12345;
    const char *why = NULL;
    CHECK(orch_parse_duration(s, &v, &why));
    CHECK(v == want);
}

static void duration_bad(const char *s, const char *want)
{
    uint32_t v = 0;
    const char *why = NULL;
    CHECK(!orch_parse_duration(s, &v, &why));
    CHECK_CONTAINS(why, want);
}

static void test_duration(void)
{
    duration_ok("0s", 0);
    duration_ok("0m", 0);
    duration_ok("1s", 1);
    duration_ok("90s", 90);
    duration_ok("2m", 120);
    duration_ok("007s", 7);
    duration_ok("2147483647s", 2147483647u);
    duration_ok("35791394m", 35791394u * 60);
    /* What users write and the reference parser accepts: a bare number is
     * seconds, h is hours. */
    duration_ok("10", 10);
    duration_ok("0", 0);
    duration_ok("2h", 7200);
    duration_ok("596523h", 596523u * 3600);
    duration_ok("2147483647", 2147483647u);

    const char *form = "expected a number of seconds, optionally followed by s, m or h";
    duration_bad("", form);
    duration_bad("s", form);
    duration_bad("m", form);
    duration_bad("h", form);
    duration_bad("soon", form);
    duration_bad("10d", form);    /* other suffix */
    duration_bad("10ms", form);
    duration_bad("10sm", form);
    duration_bad("10S", form);    /* suffix is lower case */
    duration_bad("-5s", form);    /* sign */
    duration_bad("+5s", form);
    duration_bad(" 5s", form);    /* spaces */
    duration_bad("5 s", form);
    duration_bad("5s ", form);
    duration_bad("1.5m", form);
    duration_bad("5s5", form);
    duration_bad("0x10s", form);
    duration_bad("2147483648s", "too long");
    duration_bad("35791395m", "too long");
    duration_bad("596524h", "too long");
    duration_bad("2147483648", "too long");
    duration_bad("99999999999999999999999s", "too long"); /* past uint64 */
}

static void size_ok(const char *s, uint64_t want)
{
    uint64_t v = 12345;
    const char *why = NULL;
    CHECK(orch_parse_size(s, &v, &why));
    CHECK(v == want);
}

static void size_bad(const char *s, const char *want)
{
    uint64_t v = 0;
    const char *why = NULL;
    CHECK(!orch_parse_size(s, &v, &why));
    CHECK_CONTAINS(why, want);
}

static void test_size(void)
{
    size_ok("1", 1);
    size_ok("4096", 4096);
    size_ok("1K", 1024);
    size_ok("1k", 1024);
    size_ok("256M", 256ull << 20);
    size_ok("256m", 256ull << 20);
    size_ok("2G", 2ull << 30);
    size_ok("2g", 2ull << 30);
    size_ok("18446744073709551615", UINT64_MAX);
    size_ok("17179869183G", 17179869183ull << 30); /* largest G that fits */
    /* Decimal sizes, as the reference accepts them; a byte fraction drops. */
    size_ok("1.5G", 3ull << 29);
    size_ok("0.5M", 512ull << 10);
    size_ok("1.25k", 1280);
    size_ok("2.0G", 2ull << 30);
    size_ok("0.001K", 1);           /* 1.024 bytes */
    size_ok("0.999999999G", 1073741822);

    const char *form = "expected a number optionally followed by K, M or G";
    size_bad("", form);
    size_bad("K", form);
    size_bad("-1K", form);
    size_bad("+1K", form);
    size_bad(" 1K", form);
    size_bad("1 K", form);
    size_bad("1K ", form);
    size_bad("1T", form);
    size_bad("1KB", form);
    size_bad("1Ki", form);
    size_bad("1B", form);
    size_bad("1.G", form);
    size_bad(".5G", form);
    size_bad("1.5.5G", form);
    size_bad("1.5", "a fraction needs a unit");
    size_bad("1.0000000001G", "too many decimals");
    size_bad("0.0G", "must be greater than zero");
    size_bad("0.0001K", "must be greater than zero"); /* under one byte */
    size_ok("17179869183.5G", (17179869183ull << 30) + (1ull << 29));
    size_ok("18014398509481983.999999999K", UINT64_MAX); /* + 1023.99 bytes: 1023 */
    size_bad("17179869184.5G", "too large");
    size_bad("0", "must be greater than zero");
    size_bad("0K", "must be greater than zero");
    size_bad("000G", "must be greater than zero");
    size_bad("18446744073709551616", "too large");
    size_bad("17179869184G", "too large");
    size_bad("18014398509481984K", "too large");
    size_bad("99999999999999999999999999", "too large");
}

static void test_bool(void)
{
    bool v = false;
    const char *why = NULL;
    CHECK(orch_parse_bool("true", &v, &why) && v);
    CHECK(orch_parse_bool("false", &v, &why) && !v);
    const char *bad[] = {"", "TRUE", "True", "yes", "no", "1", "0", "on", "true ", " false", "tru", "falsey"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        v = true;
        CHECK(!orch_parse_bool(bad[i], &v, &why));
        CHECK_STR(why, "expected true or false");
    }
}

static void uint_ok(const char *s, uint64_t min, uint64_t max, uint64_t want)
{
    uint64_t v = 12345;
    const char *why = NULL;
    CHECK(orch_parse_uint(s, min, max, &v, &why));
    CHECK(v == want);
}

static void uint_bad(const char *s, uint64_t min, uint64_t max, const char *want)
{
    uint64_t v = 0;
    const char *why = NULL;
    CHECK(!orch_parse_uint(s, min, max, &v, &why));
    CHECK_CONTAINS(why, want);
}

static void test_uint(void)
{
    uint_ok("0", 0, 10, 0);
    uint_ok("10", 0, 10, 10);
    uint_ok("10", 10, 1000, 10);
    uint_ok("1000", 10, 1000, 1000);
    uint_ok("0065536", 0, UINT64_MAX, 65536);
    uint_ok("18446744073709551615", 0, UINT64_MAX, UINT64_MAX);
    uint_ok("0018446744073709551615", 0, UINT64_MAX, UINT64_MAX);

    const char *form = "expected a decimal number";
    uint_bad("", 0, 10, form);
    uint_bad("-1", 0, 10, form);
    uint_bad("+1", 0, 10, form);
    uint_bad(" 1", 0, 10, form);
    uint_bad("1 ", 0, 10, form);
    uint_bad("1.0", 0, 10, form);
    uint_bad("0x1", 0, 10, form);
    uint_bad("1e3", 0, 10000, form);
    uint_bad("abc", 0, 10, form);
    uint_bad("9", 10, 1000, "out of range");
    uint_bad("1001", 10, 1000, "out of range");
    uint_bad("0", 1, UINT64_MAX, "out of range");
    uint_bad("18446744073709551616", 0, UINT64_MAX, "out of range");
    uint_bad("184467440737095516150", 0, UINT64_MAX, "out of range");
    uint_bad("99999999999999999999999999999", 0, UINT64_MAX, "out of range");
}

static void cpus_ok(const char *s, double want)
{
    double v = -1;
    const char *why = NULL;
    CHECK(orch_parse_cpus(s, &v, &why));
    CHECK(v == want);
}

static void cpus_bad(const char *s, const char *want)
{
    double v = 0;
    const char *why = NULL;
    CHECK(!orch_parse_cpus(s, &v, &why));
    CHECK_CONTAINS(why, want);
}

static void test_cpus(void)
{
    cpus_ok("2", 2.0);
    cpus_ok("0.5", 0.5);
    cpus_ok("1.25", 1.25);
    cpus_ok("0.1", 0.1);
    cpus_ok("02.50", 2.5);
    cpus_ok("4096", 4096.0);
    cpus_ok("4096.000", 4096.0);
    cpus_ok("0.001", 0.001);
    cpus_ok("0.00000000000000001", 1e-17);
    cpus_ok("1.00000000000000000009", 1.0); /* digits past the 17th are ignored */

    const char *form = "expected a number like 2 or 0.5";
    cpus_bad("", form);
    cpus_bad(".5", form);    /* leading '.' */
    cpus_bad("1.", form);    /* trailing '.' */
    cpus_bad(".", form);
    cpus_bad("1e3", form);   /* exponent */
    cpus_bad("1.5e1", form);
    cpus_bad("-1", form);    /* sign */
    cpus_bad("+1", form);
    cpus_bad(" 1", form);
    cpus_bad("1 ", form);
    cpus_bad("1.2.3", form);
    cpus_bad("1,5", form);
    cpus_bad("inf", form);
    cpus_bad("nan", form);
    cpus_bad("0x1", form);
    cpus_bad("0", "must be greater than zero");
    cpus_bad("0.0", "must be greater than zero");
    cpus_bad("000.000", "must be greater than zero");
    cpus_bad("0.000000000000000001", "must be greater than zero"); /* < 1e-17 */
    cpus_bad("4096.5", "too large");
    cpus_bad("4096.0000000000000000000001", "too large"); /* exact, not rounded */
    cpus_bad("4097", "too large");
    cpus_bad("99999999999999999999999999", "too large");
}

static void percent_ok(const char *s, uint32_t want)
{
    uint32_t v = 12345;
    const char *why = NULL;
    CHECK(orch_parse_percent(s, &v, &why));
    CHECK(v == want);
}

static void percent_bad(const char *s, const char *want)
{
    uint32_t v = 0;
    const char *why = NULL;
    CHECK(!orch_parse_percent(s, &v, &why));
    CHECK_CONTAINS(why, want);
}

static void test_percent(void)
{
    percent_ok("1%", 1);
    percent_ok("50%", 50);
    percent_ok("250%", 250);
    percent_ok("100000%", 100000);

    const char *form = "expected a number followed by %";
    percent_bad("", form);
    percent_bad("%", form);
    percent_bad("50", form);
    percent_bad("50 %", form);
    percent_bad("-5%", form);
    percent_bad("+5%", form);
    percent_bad("5.5%", form);
    percent_bad("50%%", form);
    percent_bad("50% ", form);
    percent_bad("0%", "at least 1%");
    percent_bad("100001%", "too large");
    percent_bad("99999999999999999999999%", "too large");
}

static void test_port(void)
{
    uint16_t v = 0;
    const char *why = NULL;
    CHECK(orch_parse_port("1", &v, &why) && v == 1);
    CHECK(orch_parse_port("80", &v, &why) && v == 80);
    CHECK(orch_parse_port("65535", &v, &why) && v == 65535);
    const char *bad[] = {"", "0", "65536", "99999999999999999999", "-1", "+80", " 80", "80 ", "8o", "80.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        CHECK(!orch_parse_port(bad[i], &v, &why));
        CHECK_CONTAINS(why, "1 to 65535");
    }
}

/* addr == NULL means "no address expected". */
static void publish_ok(const char *s, const char *addr, uint16_t host, uint16_t container)
{
    char *a = (char *)"sentinel";
    uint16_t h = 0, c = 0;
    const char *why = NULL;
    CHECK(orch_parse_publish(s, &a, &h, &c, &why));
    if (addr)
        CHECK_STR(a, addr);
    else
        CHECK(a == NULL);
    CHECK(h == host);
    CHECK(c == container);
    free(a);
}

static void publish_bad(const char *s, const char *want)
{
    char *a = (char *)"sentinel";
    uint16_t h = 0, c = 0;
    const char *why = NULL;
    CHECK(!orch_parse_publish(s, &a, &h, &c, &why));
    CHECK(a == NULL);
    CHECK_CONTAINS(why, want);
}

static void test_publish(void)
{
    publish_ok("8080:80", NULL, 8080, 80);
    publish_ok("1:65535", NULL, 1, 65535);
    publish_ok("127.0.0.1:8080:80", "127.0.0.1", 8080, 80);
    publish_ok("0.0.0.0:443:8443", "0.0.0.0", 443, 8443);
    publish_ok("localhost:5432:5432", "localhost", 5432, 5432);
    /* unbracketed IPv6: the last two fields are the ports */
    publish_ok("::1:8080:80", "::1", 8080, 80);
    publish_ok("fe80::1:2:3", "fe80::1", 2, 3);
    publish_ok("2001:db8::42:53:53", "2001:db8::42", 53, 53);
    publish_ok("::::1:2", ":::", 1, 2);
    /* bracketed */
    publish_ok("[::1]:8080:80", "::1", 8080, 80);
    publish_ok("[2001:db8::1]:443:443", "2001:db8::1", 443, 443);
    publish_ok("[127.0.0.1]:1:2", "127.0.0.1", 1, 2);

    publish_bad("", "expected [address:]host:container");
    publish_bad("80", "expected [address:]host:container");
    publish_bad(":8080:80", "empty address");
    publish_bad("[]:8080:80", "empty address");
    publish_bad("[::1:8080:80", "expected ']:'");
    publish_bad("[::1]8080:80", "expected ']:'");
    publish_bad("[::1]", "expected ']:'");
    publish_bad("[::1]:80", "expected [address:]host:container");
    publish_bad("[::1]:1:8080:80", "after a bracketed address");
    publish_bad(":80", "host port");
    publish_bad("0:80", "host port");
    publish_bad("65536:80", "host port");
    publish_bad("http:80", "host port");
    publish_bad(" 8080:80", "host port");
    publish_bad("127.0.0.1::80", "host port");
    publish_bad("8080:", "container port");
    publish_bad("8080:0", "container port");
    publish_bad("8080:65536", "container port");
    publish_bad("8080:80/tcp", "container port");
    publish_bad("8080:80 ", "container port");
    publish_bad("1.2.3.4:8080:", "container port");
    publish_bad("[::1]:8080:", "container port");
}

static void volume_ok(const char *s, const char *src, const char *dst, bool named)
{
    char *so = NULL, *de = NULL;
    bool n = !named;
    const char *why = NULL;
    CHECK(orch_parse_volume(s, &so, &de, &n, &why));
    CHECK_STR(so, src);
    CHECK_STR(de, dst);
    CHECK(n == named);
    free(so);
    free(de);
}

static void volume_bad(const char *s, const char *want)
{
    char *so = (char *)"sentinel", *de = (char *)"sentinel";
    bool n = false;
    const char *why = NULL;
    CHECK(!orch_parse_volume(s, &so, &de, &n, &why));
    CHECK(so == NULL && de == NULL);
    CHECK_CONTAINS(why, want);
}

static void test_volume(void)
{
    volume_ok("data:/var/lib/data", "data", "/var/lib/data", true);
    volume_ok("pg-data_1.v2:/var/lib/postgresql", "pg-data_1.v2", "/var/lib/postgresql", true);
    volume_ok("0vol:/d", "0vol", "/d", true);
    volume_ok("V:/d", "V", "/d", true);
    volume_ok("/srv/data:/data", "/srv/data", "/data", false);
    volume_ok("./conf:/etc/app", "./conf", "/etc/app", false);
    volume_ok("../shared:/shared", "../shared", "/shared", false);
    volume_ok("${ORCH_DATA}/pg:/var/lib/pg", "${ORCH_DATA}/pg", "/var/lib/pg", false);
    volume_ok("/:/host", "/", "/host", false);
    volume_ok("data:/", "data", "/", true);
    /* split on the last ':' so a path source may contain one */
    volume_ok("/a:b:/c", "/a:b", "/c", false);

    volume_bad("", "expected source:destination");
    volume_bad("data", "expected source:destination");
    volume_bad("/data", "expected source:destination");
    volume_bad(":/data", "empty source");
    volume_bad("data:", "absolute");
    volume_bad("data:data", "absolute");
    volume_bad("data:./data", "absolute");
    volume_bad("/src:/dst:ro", "absolute"); /* no mount options */
    volume_bad("-data:/d", "volume name");
    volume_bad("_data:/d", "volume name");
    volume_bad(".data:/d", "volume name");
    volume_bad(".:/d", "volume name");
    volume_bad("..:/d", "volume name");
    volume_bad("~/data:/d", "volume name");
    volume_bad("data/sub:/d", "volume name");
    volume_bad("my data:/d", "volume name");
    volume_bad("vol${x}:/d", "volume name");
    volume_bad("$x:/d", "volume name");
    volume_bad("a:b:/d", "volume name");
}

static void test_restart_recreate(void)
{
    orch_restart_policy r = ORCH_RESTART_NO;
    orch_recreate c = ORCH_RECREATE_NEVER;
    const char *why = NULL;
    CHECK(orch_parse_restart("no", &r, &why) && r == ORCH_RESTART_NO);
    CHECK(orch_parse_restart("always", &r, &why) && r == ORCH_RESTART_ALWAYS);
    CHECK(orch_parse_restart("on-failure", &r, &why) && r == ORCH_RESTART_ON_FAILURE);
    const char *rbad[] = {"", "NO", "Always", "on_failure", "onfailure", "never", "yes", "always "};
    for (size_t i = 0; i < sizeof rbad / sizeof rbad[0]; i++) {
        why = NULL;
        CHECK(!orch_parse_restart(rbad[i], &r, &why));
        CHECK_STR(why, "expected no, always or on-failure");
    }

    CHECK(orch_parse_recreate("always", &c, &why) && c == ORCH_RECREATE_ALWAYS);
    CHECK(orch_parse_recreate("never", &c, &why) && c == ORCH_RECREATE_NEVER);
    const char *cbad[] = {"", "ALWAYS", "no", "true", "never "};
    for (size_t i = 0; i < sizeof cbad / sizeof cbad[0]; i++) {
        why = NULL;
        CHECK(!orch_parse_recreate(cbad[i], &c, &why));
        CHECK_STR(why, "expected always or never");
    }
}

static void test_names(void)
{
    const char *why = NULL;
    char n63[64], n64[65];
    memset(n63, 'a', 63);
    n63[63] = '\0';
    memset(n64, 'a', 64);
    n64[64] = '\0';

    /* service names */
    const char *svc_ok[] = {"a", "web", "web-1", "a-", "x9", "containerd", n63};
    for (size_t i = 0; i < sizeof svc_ok / sizeof svc_ok[0]; i++)
        CHECK(orch_valid_service_name(svc_ok[i], &why));
    struct { const char *s, *why; } svc_bad[] = {
        {"", "empty"},
        {"1web", "lower-case letter"},
        {"-web", "lower-case letter"},
        {"Web", "lower-case letter"},
        {"_web", "lower-case letter"},
        {"wEb", "a-z, 0-9 and '-'"},
        {"web_1", "a-z, 0-9 and '-'"},
        {"web.1", "a-z, 0-9 and '-'"},
        {"web 1", "a-z, 0-9 and '-'"},
        {"w\xc3\xa9" "b", "a-z, 0-9 and '-'"},
        {n64, "63"},
    };
    for (size_t i = 0; i < sizeof svc_bad / sizeof svc_bad[0]; i++) {
        why = NULL;
        CHECK(!orch_valid_service_name(svc_bad[i].s, &why));
        CHECK_CONTAINS(why, svc_bad[i].why);
    }

    /* ARG names */
    const char *arg_ok[] = {"a", "web_port", "ORCH_PROJECT", "Port2", "x_", "a1_b2"};
    for (size_t i = 0; i < sizeof arg_ok / sizeof arg_ok[0]; i++)
        CHECK(orch_valid_arg_name(arg_ok[i], &why));
    struct { const char *s, *why; } arg_bad[] = {
        {"", "empty"},
        {"_x", "start with a letter"},
        {"1x", "start with a letter"},
        {"-x", "start with a letter"},
        {"web-port", "letters, digits and '_'"},
        {"a.b", "letters, digits and '_'"},
        {"a b", "letters, digits and '_'"},
        {"a=b", "letters, digits and '_'"},
    };
    for (size_t i = 0; i < sizeof arg_bad / sizeof arg_bad[0]; i++) {
        why = NULL;
        CHECK(!orch_valid_arg_name(arg_bad[i].s, &why));
        CHECK_CONTAINS(why, arg_bad[i].why);
    }

    /* ENV keys */
    const char *env_ok[] = {"A", "_", "_X", "PATH", "http_proxy", "A1_", n64};
    for (size_t i = 0; i < sizeof env_ok / sizeof env_ok[0]; i++)
        CHECK(orch_valid_env_key(env_ok[i], &why));
    struct { const char *s, *why; } env_bad[] = {
        {"", "empty"},
        {"1A", "start with a letter or '_'"},
        {"-A", "start with a letter or '_'"},
        {"A-B", "letters, digits and '_'"},
        {"A.B", "letters, digits and '_'"},
        {"A B", "letters, digits and '_'"},
        {"A=", "letters, digits and '_'"},
    };
    for (size_t i = 0; i < sizeof env_bad / sizeof env_bad[0]; i++) {
        why = NULL;
        CHECK(!orch_valid_env_key(env_bad[i].s, &why));
        CHECK_CONTAINS(why, env_bad[i].why);
    }
}

#define U8(lit) orch_valid_utf8((lit), sizeof(lit) - 1)

static void test_utf8(void)
{
    CHECK(orch_valid_utf8("", 0));
    CHECK(U8("plain ascii\t\n"));
    CHECK(U8("a\0b"));                 /* NUL is the caller's business */
    CHECK(U8("\x7f"));
    CHECK(U8("\xc2\x80"));             /* U+0080, smallest 2-byte */
    CHECK(U8("caf\xc3\xa9"));          /* é */
    CHECK(U8("\xdf\xbf"));             /* U+07FF */
    CHECK(U8("\xe0\xa0\x80"));         /* U+0800, smallest 3-byte */
    CHECK(U8("\xe2\x82\xac"));         /* € */
    CHECK(U8("\xed\x9f\xbf"));         /* U+D7FF, just below surrogates */
    CHECK(U8("\xee\x80\x80"));         /* U+E000, just above surrogates */
    CHECK(U8("\xef\xbf\xbf"));         /* U+FFFF */
    CHECK(U8("\xf0\x90\x80\x80"));     /* U+10000, smallest 4-byte */
    CHECK(U8("\xf0\x9f\x98\x80"));     /* emoji */
    CHECK(U8("\xf4\x8f\xbf\xbf"));     /* U+10FFFF */
    CHECK(orch_valid_utf8("\xc3\xa9xyz", 2)); /* len bounds the check */

    CHECK(!U8("\x80"));                /* lone continuation */
    CHECK(!U8("a\xbf"));
    CHECK(!U8("\xc0\x80"));            /* overlong NUL */
    CHECK(!U8("\xc1\xbf"));            /* overlong 2-byte */
    CHECK(!U8("\xe0\x80\x80"));        /* overlong 3-byte */
    CHECK(!U8("\xe0\x9f\xbf"));
    CHECK(!U8("\xf0\x80\x80\x80"));    /* overlong 4-byte */
    CHECK(!U8("\xf0\x8f\xbf\xbf"));
    CHECK(!U8("\xed\xa0\x80"));        /* U+D800 surrogate */
    CHECK(!U8("\xed\xbf\xbf"));        /* U+DFFF surrogate */
    CHECK(!U8("\xf4\x90\x80\x80"));    /* U+110000 */
    CHECK(!U8("\xf5\x80\x80\x80"));
    CHECK(!U8("\xf8\x88\x80\x80\x80"));/* 5-byte form */
    CHECK(!U8("\xfe"));
    CHECK(!U8("\xff"));
    CHECK(!U8("\xc3"));                /* truncated */
    CHECK(!U8("\xe2\x82"));
    CHECK(!U8("\xf0\x9f\x98"));
    CHECK(!orch_valid_utf8("\xc3\xa9", 1)); /* truncated by len */
    CHECK(!U8("\xc3\x28"));            /* bad continuation */
    CHECK(!U8("\xe2\x28\xac"));
    CHECK(!U8("\xe2\x82\x28"));
    CHECK(!U8("\xf0\x9f\x28\x80"));
    CHECK(!U8("\xf0\x9f\x98\x28"));
    CHECK(!U8("ok\xc3\xa9 then \xed\xa0\x80"));
}

int main(void)
{
    test_duration();
    test_size();
    test_bool();
    test_uint();
    test_cpus();
    test_percent();
    test_port();
    test_publish();
    test_volume();
    test_restart_recreate();
    test_names();
    test_utf8();
    return check_done();
}
