/* The host's platform in OCI terms, and the rule that picks its manifest
 * from an index: one place for registry pulls, archive imports and the
 * store. Pure C over yajl (no libuv, no gRPC). */
#ifndef ORCH_CTD_PLATFORM_H
#define ORCH_CTD_PLATFORM_H

#include <yajl/yajl_tree.h>

/* The host's architecture in OCI terms ("amd64", "arm64", ...) and its
 * variant ("v8", "v7", or ""); static strings (any thread may read them). */
const char *ctd_host_arch(const char **variant);

/* The entry of an index ("manifests") for linux/arch[/variant]: the first
 * whose os is linux and architecture is arch, and whose variant is variant
 * (an entry without a variant, or a wanted variant of "", matches any); an
 * index of one entry without a platform is that entry. Its position, or -1
 * with *why (malloc'ed: what the index has). */
int ctd_pick_platform(yajl_val index, const char *arch, const char *variant, char **why);

#endif
