/* The Leases.Create request the unpacker and the container start share. */
#include "containerd/core/lease.h"

#include <time.h>

void ctd_lease_create_init(ctd_lease_create *lc, const char *id)
{
    time_t t = time(NULL) + CTD_LEASE_EXPIRY_S;
    struct tm tm;
    if (!gmtime_r(&t, &tm) ||
        strftime(lc->expire, sizeof lc->expire, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        lc->expire[0] = '\0'; /* cannot happen before the year 10000 */
    lc->label = (Containerd__Services__Leases__V1__CreateRequest__LabelsEntry)
        CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__LABELS_ENTRY__INIT;
    lc->label.key = "containerd.io/gc.expire";
    lc->label.value = lc->expire;
    lc->labels[0] = &lc->label;
    lc->req = (Containerd__Services__Leases__V1__CreateRequest)
        CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
    lc->req.id = (char *)id;
    lc->req.n_labels = 1;
    lc->req.labels = lc->labels;
}
