/* Overlays: merge a typed layer into the model built so far, left to right,
 * by the rules of ORCHFILE.md "Composition". */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "common/strmap.h"
#include "orchfile/apply.h"

static void take_string(char **dst, char **src)
{
    free(*dst);
    *dst = *src;
    *src = NULL;
}

static void drop_string(char **s)
{
    free(*s);
    *s = NULL;
}

static void clear_strv(orch_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i].s);
    v->n = 0;
}

static void clear_env(orch_service *s)
{
    for (size_t i = 0; i < s->n_env; i++) {
        free(s->env[i].key);
        free(s->env[i].value);
    }
    s->n_env = 0;
}

static void clear_publish(orch_service *s)
{
    for (size_t i = 0; i < s->n_publish; i++)
        free(s->publish[i].address);
    s->n_publish = 0;
}

static void clear_volumes(orch_service *s)
{
    for (size_t i = 0; i < s->n_volumes; i++) {
        free(s->volumes[i].source);
        free(s->volumes[i].destination);
    }
    s->n_volumes = 0;
}

static void clear_field(orch_service *s, orch_field f)
{
    switch (f) {
    case ORCH_F_ENV: clear_env(s); break;
    case ORCH_F_ENV_FILE: clear_strv(&s->env_files); break;
    case ORCH_F_PUBLISH: clear_publish(s); break;
    case ORCH_F_VOLUME: clear_volumes(s); break;
    case ORCH_F_REQUIRES: clear_strv(&s->requires); break;
    case ORCH_F_AFTER: clear_strv(&s->after); break;
    case ORCH_F_USER: drop_string(&s->user); break;
    case ORCH_F_STOP: drop_string(&s->stop_command); break;
    case ORCH_F_RELOAD: drop_string(&s->reload_command); break;
    case ORCH_F_ENTRYPOINT: drop_string(&s->entrypoint); break;
    case ORCH_F_CMD: drop_string(&s->cmd); break;
    case ORCH_F_FROM: drop_string(&s->image); break;
    case ORCH_F_RUN: drop_string(&s->run_command); break;
    default: return;
    }
    s->set &= ~ORCH_BIT(f);
}

/* Setting FROM on a RUN service (or RUN on a FROM service) switches mode and
 * drops what only made sense in the old one. */
static void switch_mode(orch_service *b, const orch_service *o)
{
    static const orch_field host_only[] = {ORCH_F_RUN, ORCH_F_USER, ORCH_F_STOP, ORCH_F_RELOAD};
    static const orch_field container_only[] = {ORCH_F_FROM, ORCH_F_ENTRYPOINT, ORCH_F_CMD,
                                                ORCH_F_PUBLISH, ORCH_F_VOLUME};
    if ((o->set & ORCH_BIT(ORCH_F_FROM)) && b->run_command)
        for (size_t i = 0; i < sizeof host_only / sizeof *host_only; i++)
            clear_field(b, host_only[i]);
    if ((o->set & ORCH_BIT(ORCH_F_RUN)) && b->image)
        for (size_t i = 0; i < sizeof container_only / sizeof *container_only; i++)
            clear_field(b, container_only[i]);
}

static void merge_lists(orch_service *b, orch_service *o)
{
    for (size_t i = 0; i < o->n_env; i++)
        orch_env_set(b, o->env[i].key, o->env[i].value, o->env[i].at);
    for (size_t i = 0; i < o->n_publish; i++) {
        orch_publish *p = &o->publish[i];
        size_t j = 0;
        while (j < b->n_publish && b->publish[j].container != p->container)
            j++;
        if (j == b->n_publish)
            b->publish = xrealloc(b->publish, ++b->n_publish * sizeof *b->publish);
        else
            free(b->publish[j].address);
        b->publish[j] = *p;
        p->address = NULL;
    }
    for (size_t i = 0; i < o->n_volumes; i++) {
        orch_volume *v = &o->volumes[i];
        size_t j = 0;
        while (j < b->n_volumes && strcmp(b->volumes[j].destination, v->destination) != 0)
            j++;
        if (j == b->n_volumes) {
            b->volumes = xrealloc(b->volumes, ++b->n_volumes * sizeof *b->volumes);
        } else {
            free(b->volumes[j].source);
            free(b->volumes[j].destination);
        }
        b->volumes[j] = *v;
        v->source = v->destination = NULL;
    }
    for (size_t i = 0; i < o->env_files.n; i++)
        orch_strv_add_unique(&b->env_files, o->env_files.v[i].s, o->env_files.v[i].at);
    for (size_t i = 0; i < o->requires.n; i++)
        orch_strv_add_unique(&b->requires, o->requires.v[i].s, o->requires.v[i].at);
    for (size_t i = 0; i < o->after.n; i++)
        orch_strv_add_unique(&b->after, o->after.v[i].s, o->after.v[i].at);
}

static void merge_service(orch_service *b, orch_service *o)
{
    for (int f = 0; f < ORCH_F__COUNT; f++)
        if (o->cleared & ORCH_BIT(f))
            clear_field(b, (orch_field)f);
    switch_mode(b, o);

    char **pairs[][2] = {
        {&b->image, &o->image},           {&b->run_command, &o->run_command},
        {&b->entrypoint, &o->entrypoint}, {&b->cmd, &o->cmd},
        {&b->user, &o->user},             {&b->stop_command, &o->stop_command},
        {&b->reload_command, &o->reload_command}, {&b->workdir, &o->workdir},
        {&b->healthcheck, &o->healthcheck}, {&b->stdout_path, &o->stdout_path},
        {&b->stderr_path, &o->stderr_path},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
        if (*pairs[i][1])
            take_string(pairs[i][0], pairs[i][1]);

#define TAKE(field, member)                                                                    \
    if (o->set & ORCH_BIT(field))                                                              \
        b->member = o->member;
    TAKE(ORCH_F_READINESS_TIMEOUT, readiness_timeout)
    TAKE(ORCH_F_ONESHOT, oneshot)
    TAKE(ORCH_F_DISABLED, disabled)
    TAKE(ORCH_F_RECREATE, recreate)
    TAKE(ORCH_F_RESTART, restart)
    TAKE(ORCH_F_RESTART_DELAY, restart_delay)
    TAKE(ORCH_F_START_LIMIT_BURST, start_limit_burst)
    TAKE(ORCH_F_START_LIMIT_INTERVAL, start_limit_interval)
    TAKE(ORCH_F_TIMEOUT_START, timeout_start)
    TAKE(ORCH_F_TIMEOUT_STOP, timeout_stop)
    TAKE(ORCH_F_MEMORY, memory)
    TAKE(ORCH_F_CPUS, cpus)
    TAKE(ORCH_F_CPU_QUOTA, cpu_quota)
    TAKE(ORCH_F_LIMIT_NOFILE, limit_nofile)
    TAKE(ORCH_F_LIMIT_NPROC, limit_nproc)
    TAKE(ORCH_F_TASKS_MAX, tasks_max)
    TAKE(ORCH_F_IO_WEIGHT, io_weight)
#undef TAKE
    for (int f = 0; f < ORCH_F__COUNT; f++)
        if (o->written[f])
            take_string(&b->written[f], &o->written[f]);
    merge_lists(b, o);
    for (int f = 0; f < ORCH_F__COUNT; f++)
        if (o->set & ORCH_BIT(f))
            b->field_at[f] = o->field_at[f];
    b->set |= o->set;
}

void orch_merge_layer(orch_model *base, orch_typed_layer *overlay)
{
    if (base->n_services == 0) {
        /* The first layer (most often the only one): its services become the
         * model's as they are, distinct already (orch_layer_service refuses
         * a duplicate name). Copying them cost a second array of every
         * orch_service (1,160 bytes each) and, at 10,000 services, the page
         * faults of 11 MB of fresh memory on every load. */
        free(base->services);
        base->services = overlay->services;
        base->n_services = overlay->n_services;
        for (size_t i = 0; i < base->n_services; i++)
            base->services[i].cleared = 0; /* nothing below it to clear */
        overlay->services = NULL;
        overlay->n_services = 0;
        return;
    }
    orch_strmap index;
    orch_strmap_init(&index);
    for (size_t i = 0; i < base->n_services; i++)
        orch_strmap_put(&index, base->services[i].name, i);
    /* Room for every service the overlay may add, in one step: orch_service
     * is large, and growing the array by one per service copies it each
     * time (quadratic where realloc cannot grow in place, as under ASan). */
    if (overlay->n_services > 0)
        base->services = xrealloc(base->services, (base->n_services + overlay->n_services) *
                                                      sizeof *base->services);
    for (size_t i = 0; i < overlay->n_services; i++) {
        orch_service *o = &overlay->services[i];
        size_t at;
        if (orch_strmap_get(&index, o->name, &at)) {
            merge_service(&base->services[at], o);
            continue;
        }
        orch_service *n = &base->services[base->n_services++];
        *n = *o;
        n->cleared = 0; /* nothing below it to clear */
        memset(o, 0, sizeof *o);
        orch_strmap_put(&index, n->name, base->n_services - 1);
    }
    orch_strmap_free(&index);
}
