/* The error type (common/error.h): codes from errno, context that prefixes,
 * ownership moves. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/error.h"

static int fails_with_enoent(const char *path, orch_error **err)
{
    return orch_error_set(err, orch_error_errno(ENOENT, "cannot open %s", path));
}

int main(void)
{
    orch_error *e = orch_error_new(ORCH_E_INVALID, "RESTART '%s'", "sometimes");
    CHECK(e->code == ORCH_E_INVALID && e->sys_errno == 0);
    CHECK_STR(e->msg, "RESTART 'sometimes'");
    CHECK(orch_error_prefix(e, "Orchfile:%d", 3) == e);
    CHECK_STR(e->msg, "Orchfile:3: RESTART 'sometimes'");
    CHECK(!orch_error_is_transient(e));
    char *msg = orch_error_take_msg(e);
    CHECK_STR(msg, "Orchfile:3: RESTART 'sometimes'");
    free(msg);

    orch_error *err = NULL;
    CHECK(fails_with_enoent("/x", &err) == -1);
    CHECK(err && err->code == ORCH_E_NOT_FOUND && err->sys_errno == ENOENT);
    CHECK_STR(err->msg, "cannot open /x: No such file or directory");
    orch_error_prefix(err, "service %s", "web");
    CHECK_STR(err->msg, "service web: cannot open /x: No such file or directory");
    orch_error_free(err);
    CHECK(fails_with_enoent("/y", NULL) == -1); /* a caller that does not care */

    struct {
        int errnum;
        orch_errc code;
        bool transient;
    } map[] = {
        {ENOENT, ORCH_E_NOT_FOUND, false}, {EACCES, ORCH_E_PERMISSION, false},
        {ENOSPC, ORCH_E_NO_SPACE, true},   {EMFILE, ORCH_E_EXHAUSTED, true},
        {ENFILE, ORCH_E_EXHAUSTED, true},  {ECONNREFUSED, ORCH_E_UNAVAILABLE, true},
        {EEXIST, ORCH_E_EXISTS, false},    {EIO, ORCH_E_IO, false},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        orch_error *x = orch_error_errno(map[i].errnum, "op");
        CHECK(x->code == map[i].code);
        CHECK(orch_error_is_transient(x) == map[i].transient);
        CHECK(strcmp(orch_errc_name(x->code), "unknown") != 0);
        orch_error_free(x);
    }
    CHECK(orch_error_prefix(NULL, "nothing") == NULL);
    CHECK(orch_error_take_msg(NULL) == NULL);
    CHECK_STR(orch_errc_name((orch_errc)999), "unknown");
    orch_error_free(NULL);
    return check_done();
}
