/* The default log path, written once (runtime/runtime.h). */
#include "runtime/runtime.h"

#include "common/xalloc.h"

char *orch_log_path_default(const char *state_dir, const char *namespace_, const char *service)
{
    return xasprintf("%s/logs/%s.%s.log", state_dir,
                     namespace_ && *namespace_ ? namespace_ : ORCH_DEFAULT_NAMESPACE, service);
}
