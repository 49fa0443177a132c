#include <stdio.h>

#include "cli/cli.h"
#include "orchfile/model.h"

int cmd_version(int argc, char **argv)
{
    printf("orchd %s (Orchfile spec %s)\n", ORCH_VERSION_STRING, ORCH_SPEC_VERSION);
    return 0;
}
