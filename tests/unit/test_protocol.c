/* The control protocol's decoder (src/protocol/protocol.c): what it accepts,
 * and the message for what it does not. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "protocol/protocol.h"

/* Decodes text; returns the error (malloc'ed) or NULL when it was accepted. */
static char *decode_error(const char *text)
{
    orch_request r;
    char *err = NULL;
    if (orch_request_decode(text, strlen(text), &r, &err) == 0) {
        orch_request_free(&r);
        return NULL;
    }
    return err;
}

static void test_accepts_grow(void)
{
    const char *text = "{\"cmd\":\"grow\",\"files\":[\"/a/Orchfile\",\"/a/o.yaml\"],"
                       "\"args\":{\"port\":\"80\"},\"names\":[\"web\"],\"pull\":\"never\"}";
    orch_request r;
    char *err = NULL;
    CHECK(orch_request_decode(text, strlen(text), &r, &err) == 0);
    CHECK(err == NULL);
    CHECK(r.kind == ORCH_REQ_GROW);
    CHECK(r.n_files == 2);
    CHECK_STR(r.files[1], "/a/o.yaml");
    CHECK(r.n_args == 1);
    CHECK_STR(r.arg_values[0], "80");
    CHECK(r.env != NULL && r.env[0] == NULL);
    CHECK_STR(r.pull, "never");
    orch_request_free(&r);
}

static void test_relative_files_refused(void)
{
    char *err = decode_error("{\"cmd\":\"grow\",\"files\":[\"/a/Orchfile\",\"o.yaml\"]}");
    CHECK_CONTAINS(err, "o.yaml is not an absolute path");
    free(err);
    err = decode_error("{\"cmd\":\"import\",\"files\":[\"image.tar\"]}");
    CHECK_CONTAINS(err, "image.tar is not an absolute path");
    free(err);
}

static void test_bad_requests(void)
{
    char *err = decode_error("{\"cmd\":\"grow\",\"files\":[\"a\",1]}");
    CHECK_CONTAINS(err, "'files' must be an array of strings");
    free(err);
    err = decode_error("{\"cmd\":\"dance\"}");
    CHECK_CONTAINS(err, "unknown cmd 'dance'");
    free(err);
    err = decode_error("{\"cmd\":\"reload\",\"names\":[]}");
    CHECK_CONTAINS(err, "reload needs exactly one name");
    free(err);
    err = decode_error("[1]");
    CHECK_CONTAINS(err, "must be a JSON object");
    free(err);
}

/* What the CLI encodes, the daemon decodes to the same request. */
static void test_round_trip(void)
{
    char *files[] = {"/p/Orchfile", NULL};
    char *names[] = {"db", NULL};
    orch_request in = {.kind = ORCH_REQ_FELL, .files = files, .n_files = 1, .names = names,
                       .n_names = 1, .keep_data = true};
    char *line = orch_request_encode(&in);
    orch_request out;
    char *err = NULL;
    CHECK(orch_request_decode(line, strlen(line) - 1, &out, &err) == 0);
    CHECK(out.kind == ORCH_REQ_FELL);
    CHECK(out.keep_data);
    CHECK(out.n_names == 1);
    CHECK_STR(out.names[0], "db");
    orch_request_free(&out);
    free(line);
}

int main(void)
{
    test_accepts_grow();
    test_relative_files_refused();
    test_bad_requests();
    test_round_trip();
    return check_done();
}
