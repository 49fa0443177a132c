/* What `orchd validate` checks beyond C1-C4: things the spec allows (other
 * Orch engines may run them, so `orchd parse` and the interchange JSON keep
 * them) but this orchd cannot run, or runs in a way worth saying. grow finds
 * the same problems when it starts the service; validate finds them first. */
#include <stdlib.h>

#include "orchfile/orchfile.h"

/* CPUS and CPU_QUOTA together: legal, but only the stricter applies. */
static void check_cpu(const orch_service *s, orch_diags *d)
{
    const uint64_t both = ORCH_BIT(ORCH_F_CPUS) | ORCH_BIT(ORCH_F_CPU_QUOTA);
    if ((s->set & both) != both)
        return;
    double cores = 0;
    orch_field from = ORCH_F_CPUS;
    orch_service_cpu_limit(s, &cores, &from);
    /* At whichever line came last in the file, the one a reader meets second. */
    orch_origin at = s->field_at[ORCH_F_CPU_QUOTA];
    const orch_origin *c = &s->field_at[ORCH_F_CPUS];
    if (c->file == at.file && c->line > at.line)
        at = *c;
    orch_diag_warn(d, at,
                   "service %s sets both CPUS and CPU_QUOTA: the stricter applies, %s (%.3g "
                   "CPUs)",
                   s->name, from == ORCH_F_CPUS ? "CPUS" : "CPU_QUOTA", cores);
}

/* Containers share the host's network: a PUBLISH cannot remap a port. */
static void check_publish(const orch_service *s, orch_diags *d)
{
    if (orch_service_mode(s) != ORCH_MODE_CONTAINER)
        return; /* PUBLISH on a RUN service is C2, already reported */
    for (size_t i = 0; i < s->n_publish; i++) {
        char *why = orch_publish_remap_problem(&s->publish[i]);
        if (why)
            orch_diag_error(d, s->publish[i].at, "service %s: %s", s->name, why);
        free(why);
    }
}

void orch_check_runnable(const orch_model *m, orch_diags *d)
{
    for (size_t i = 0; i < m->n_services; i++) {
        check_cpu(&m->services[i], d);
        check_publish(&m->services[i], d);
    }
}
