/* libFuzzer target for the control protocol: whatever a client writes to the
 * socket goes through orch_request_decode. A decoded request is encoded and
 * decoded again and must come back the same (the CLI builds requests with
 * the encoder), and everything is freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/protocol.h"

static void same_strings(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        abort();
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    orch_request r;
    char *err = NULL;
    if (orch_request_decode((const char *)data, size, &r, &err) != 0) {
        if (!err)
            abort(); /* a rejection always says why */
        free(err);
        return 0;
    }
    char *line = orch_request_encode(&r);
    orch_request again;
    if (orch_request_decode(line, strlen(line), &again, &err) != 0)
        abort(); /* what the encoder writes must decode */
    if (again.kind != r.kind || again.keep_data != r.keep_data || again.poweroff != r.poweroff)
        abort();
    same_strings(r.files, r.n_files, again.files, again.n_files);
    same_strings(r.names, r.n_names, again.names, again.n_names);
    same_strings(r.env, r.n_env, again.env, again.n_env);
    same_strings(r.arg_names, r.n_args, again.arg_names, again.n_args);
    same_strings(r.arg_values, r.n_args, again.arg_values, again.n_args);
    free(line);
    orch_request_free(&again);
    orch_request_free(&r);
    return 0;
}
