/* Images for the containerd runtime: registry pulls and OCI archive/layout
 * imports (docs/IMAGES.md). The hooks the rest of the module calls. */
#ifndef ORCH_CTD_FETCH_H
#define ORCH_CTD_FETCH_H

#include "containerd/store/store.h"

/* The daemon's view (orch_runtime_ops.images). */
extern const orch_image_ops ctd_image_ops;

/* The module's runtime is up (orch_containerd_init) / going (shutdown:
 * every pull and import stops, nothing touches rt afterwards). */
void ctd_pull_init(ctd_rt *rt);
void ctd_pull_shutdown(ctd_rt *rt);
/* True while pulls or imports still clean up after a shutdown began: the
 * connection must stay open for their Content.Abort and Leases.Delete. */
bool ctd_pull_busy(const ctd_rt *rt);

/* For a start: like ctd_image_get (same callback, same contract), but first
 * makes the image present as the pull policy says: pulls a registry image
 * the store lacks ("missing", the default) or once per grow ("always");
 * imports an oci-archive:/oci: image unless the same file was imported
 * already. service names the service in messages; project_dir resolves
 * relative local paths. */
int ctd_image_ensure(ctd_rt *rt, const char *service, const char *image, const char *project_dir,
                     ctd_image_cb cb, void *arg);

#endif
