/* Leases: what keeps containerd's GC off the content and snapshots orchd
 * makes until something else (a container, an image label) holds them. */
#ifndef ORCH_CTD_LEASE_H
#define ORCH_CTD_LEASE_H

#include "containerd/services/leases/v1/leases.pb-c.h"

/* A lease orchd never got to delete (a crash, a lost connection) is dropped
 * by the GC this long after it was made. */
#define CTD_LEASE_EXPIRY_S 3600

/* A Leases.Create request for id, labelled containerd.io/gc.expire. It
 * points into itself: build it where it is sent from and do not copy it. */
typedef struct ctd_lease_create {
    Containerd__Services__Leases__V1__CreateRequest req;
    Containerd__Services__Leases__V1__CreateRequest__LabelsEntry label;
    Containerd__Services__Leases__V1__CreateRequest__LabelsEntry *labels[1];
    char expire[32]; /* RFC 3339, UTC */
} ctd_lease_create;

void ctd_lease_create_init(ctd_lease_create *lc, const char *id);

#endif
