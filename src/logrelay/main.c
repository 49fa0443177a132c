/* orchd-log-relay: the log relay alone (src/cli/cmd_log_relay.c), as a
 * small static program. The bare runtime starts one per service
 * (runtimes/bare/log_relay.h); an exec of it costs a fraction of one of
 * orchd, whose dynamic libraries the loader would map and relocate per
 * start. Installed beside the modules (lib/orchd), not in bin: it is no
 * command for users. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cmd_log_relay(argc - 1, argv + 1);
}
