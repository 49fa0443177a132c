/* The kubernetes writer (docs/EXPORT.md, "Kubernetes"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "export/export_internal.h"

#define WAITER "orchd-export-waiter"
#define PROBE_PERIOD_S 2   /* orchd probes a ready service every 2 s */
#define PROBE_FAILURES 3   /* three failures in a row, as orchd counts */
#define HTTP_TIMEOUT_S 5   /* ORCH_HEALTH_HTTP_TIMEOUT_MS */
#define CMD_TIMEOUT_S 10   /* ORCH_HEALTH_COMMAND_TIMEOUT_MS */
#define CLAIM_SIZE "1Gi"

static bool has(const orch_service *s, orch_field f)
{
    return (s->set & ORCH_BIT(f)) != 0;
}

static bool long_running(const ex_service *e)
{
    return !e->s->oneshot;
}

/* Named volumes used by more than one exported service are shared claims. */
static size_t volume_users(ex_ctx *c, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < c->m->n_services; i++) {
        const ex_service *e = &c->svcs[i];
        if (!e->exported)
            continue;
        for (size_t v = 0; v < e->s->n_volumes; v++)
            if (e->s->volumes[v].is_named && strcmp(e->s->volumes[v].source, name) == 0) {
                n++;
                break;
            }
    }
    return n;
}

static bool has_named_volume(const ex_service *e)
{
    for (size_t v = 0; v < e->s->n_volumes; v++)
        if (e->s->volumes[v].is_named)
            return true;
    return false;
}

static const char *kind_of(const ex_service *e)
{
    if (!long_running(e))
        return "Job";
    return has_named_volume(e) ? "StatefulSet" : "Deployment";
}

static void labels(yout *y, const ex_service *e)
{
    yout_key(y, "labels");
    yout_map_open(y);
    yout_kv_str(y, "app.kubernetes.io/name", e->s->name);
    yout_kv_str(y, "app.kubernetes.io/managed-by", "orchd-export");
    yout_kv_str(y, "orchd.io/service", e->s->name);
    yout_map_close(y);
}

static void metadata(yout *y, const char *name, const ex_service *e)
{
    yout_key(y, "metadata");
    yout_map_open(y);
    yout_kv_str(y, "name", name);
    if (e)
        labels(y, e);
    yout_map_close(y);
}

static void header(yout *y, const char *api, const char *kind)
{
    yout_kv_str(y, "apiVersion", api);
    yout_kv_str(y, "kind", kind);
}

static void str_list(yout *y, const char *key, char **v)
{
    yout_key(y, key);
    yout_seq_open(y);
    for (size_t i = 0; v[i]; i++)
        yout_str(y, v[i]);
    yout_seq_close(y);
}

/* A claim's spec: one access mode, CLAIM_SIZE. */
static void claim_spec(yout *y, const char *mode)
{
    yout_key(y, "spec");
    yout_map_open(y);
    char *modes[] = {(char *)mode, NULL};
    str_list(y, "accessModes", modes);
    yout_key(y, "resources");
    yout_map_open(y);
    yout_kv_map1(y, "requests", "storage", CLAIM_SIZE);
    yout_map_close(y);
    yout_map_close(y);
}

/* ---- what a REQUIRES waits for ---------------------------------------------- */

typedef enum { WAIT_NONE, WAIT_PORT, WAIT_ROLLOUT, WAIT_JOB } wait_kind;

static wait_kind wait_for(const ex_service *r)
{
    if (!r || !r->exported)
        return WAIT_NONE;
    if (!long_running(r))
        return WAIT_JOB;
    return r->s->n_publish > 0 ? WAIT_PORT : WAIT_ROLLOUT;
}

static bool needs_waiter(ex_ctx *c, const ex_service *e)
{
    for (size_t i = 0; i < e->s->requires.n; i++) {
        wait_kind k = wait_for(ex_find(c, e->s->requires.v[i].s));
        if (k == WAIT_ROLLOUT || k == WAIT_JOB)
            return true;
    }
    return false;
}

static void init_containers(ex_ctx *c, yout *y, ex_service *e)
{
    bool any = false;
    for (size_t i = 0; i < e->s->requires.n; i++) {
        const char *rname = e->s->requires.v[i].s;
        ex_service *r = ex_find(c, rname);
        wait_kind k = wait_for(r);
        if (k == WAIT_NONE) {
            ex_note(e, "REQUIRES %s: %s is a host service and is not exported: nothing waits "
                       "for it",
                    rname, rname);
            continue;
        }
        if (!any) {
            yout_key(y, "initContainers");
            yout_seq_open(y);
            any = true;
        }
        char *cname = xasprintf("wait-for-%s", rname);
        char *script;
        const char *image;
        if (k == WAIT_PORT) {
            image = c->o->wait_image ? c->o->wait_image : ORCH_EXPORT_WAIT_IMAGE;
            script = xasprintf("until nc -z -w 2 %s %u; do echo waiting for %s; sleep 2; done",
                               rname, (unsigned)r->s->publish[0].host, rname);
        } else if (k == WAIT_ROLLOUT) {
            image = c->o->kubectl_image ? c->o->kubectl_image : ORCH_EXPORT_KUBECTL_IMAGE;
            script = xasprintf("until kubectl rollout status %s/%s --timeout=60s; do sleep 2; done",
                               has_named_volume(r) ? "statefulset" : "deployment", rname);
        } else {
            image = c->o->kubectl_image ? c->o->kubectl_image : ORCH_EXPORT_KUBECTL_IMAGE;
            script = xasprintf("until kubectl wait --for=condition=complete job/%s "
                               "--timeout=60s; do sleep 2; done",
                               rname);
        }
        yout_map_open(y);
        yout_kv_str(y, "name", cname);
        yout_kv_str(y, "image", image);
        char *argv[] = {"/bin/sh", "-c", script, NULL};
        str_list(y, "command", argv);
        yout_map_close(y);
        free(cname);
        free(script);
    }
    if (any)
        yout_seq_close(y);
    for (size_t i = 0; i < e->s->after.n; i++)
        ex_note(e, "AFTER %s: start order without a requirement has no pod field; both start "
                   "independently",
                e->s->after.v[i].s);
}

/* ---- the container ------------------------------------------------------------- */

static void env(yout *y, ex_service *e)
{
    if (e->s->n_env > 0) {
        yout_key(y, "env");
        yout_seq_open(y);
        for (size_t i = 0; i < e->s->n_env; i++) {
            yout_map_open(y);
            yout_kv_str(y, "name", e->s->env[i].key);
            yout_kv_str(y, "value", e->s->env[i].value);
            yout_map_close(y);
        }
        yout_seq_close(y);
    }
    if (e->n_env_files > 0) {
        yout_key(y, "envFrom");
        yout_seq_open(y);
        for (size_t i = 0; i < e->n_env_files; i++) {
            char *cm = xasprintf("%s-env-%zu", e->s->name, i + 1);
            yout_map_open(y);
            yout_kv_map1(y, "configMapRef", "name", cm);
            yout_map_close(y);
            free(cm);
        }
        yout_seq_close(y);
    }
}

static void resources(yout *y, ex_service *e)
{
    const orch_service *s = e->s;
    double cpus = 0;
    bool cpu = ex_cpu_limit(s, &cpus);
    bool mem = has(s, ORCH_F_MEMORY);
    if (cpu || mem) {
        yout_key(y, "resources");
        yout_map_open(y);
        yout_key(y, "limits");
        yout_map_open(y);
        ex_write_limits(y, s, "cpu", true);
        yout_map_close(y);
        yout_map_close(y);
    }
    if (has(s, ORCH_F_TASKS_MAX))
        ex_note(e, "TASKS_MAX %llu: a pod has no process limit field (the kubelet's "
                   "--pod-max-pids applies node-wide)",
                (unsigned long long)s->tasks_max);
    if (has(s, ORCH_F_LIMIT_NOFILE))
        ex_note(e, "LIMIT_NOFILE %llu: a pod cannot set rlimits (the container runtime's "
                   "default applies)",
                (unsigned long long)s->limit_nofile);
    if (has(s, ORCH_F_LIMIT_NPROC))
        ex_note(e, "LIMIT_NPROC %llu: a pod cannot set rlimits", (unsigned long long)s->limit_nproc);
    if (has(s, ORCH_F_IO_WEIGHT))
        ex_note(e, "IO_WEIGHT %u: a pod has no I/O weight field", s->io_weight);
}

static void probe(yout *y, ex_service *e, const char *key, int period, int failures)
{
    yout_key(y, key);
    yout_map_open(y);
    if (e->has_http_check) {
        yout_key(y, "httpGet");
        yout_map_open(y);
        yout_kv_str(y, "path", e->http.path);
        yout_kv_int(y, "port", e->http.port);
        if (strcmp(e->http.host, "127.0.0.1") != 0 && strcmp(e->http.host, "localhost") != 0 &&
            strcmp(e->http.host, "::1") != 0)
            yout_kv_str(y, "host", e->http.host);
        yout_map_close(y);
        yout_kv_int(y, "timeoutSeconds", HTTP_TIMEOUT_S);
    } else {
        yout_key(y, "exec");
        yout_map_open(y);
        char *argv[] = {"/bin/sh", "-c", e->s->healthcheck, NULL};
        str_list(y, "command", argv);
        yout_map_close(y);
        yout_kv_int(y, "timeoutSeconds", CMD_TIMEOUT_S);
    }
    yout_kv_int(y, "periodSeconds", period);
    yout_kv_int(y, "failureThreshold", failures);
    yout_map_close(y);
}

static void probes(yout *y, ex_service *e)
{
    const orch_service *s = e->s;
    if (!s->healthcheck)
        return;
    if (!long_running(e)) {
        ex_note(e, "HEALTHCHECK: a Job's completion is what dependents wait for; the check is "
                   "not exported");
        return;
    }
    if (e->has_http_check && strcmp(e->http.host, "127.0.0.1") != 0 &&
        strcmp(e->http.host, "localhost") != 0 && strcmp(e->http.host, "::1") != 0)
        ex_note(e, "HEALTHCHECK %s: probed at host %s, not at the pod", s->healthcheck,
                e->http.host);
    /* orchd gives a start min(TIMEOUT_START, READINESS_TIMEOUT) to become
     * ready, probing every second, then kills it: a startup probe */
    uint32_t deadline = s->timeout_start < s->readiness_timeout ? s->timeout_start
                                                                 : s->readiness_timeout;
    probe(y, e, "startupProbe", 1, deadline > 0 ? (int)deadline : 1);
    probe(y, e, "readinessProbe", PROBE_PERIOD_S, PROBE_FAILURES);
    if (s->restart != ORCH_RESTART_NO)
        probe(y, e, "livenessProbe", PROBE_PERIOD_S, PROBE_FAILURES);
}

static void mounts(yout *y, ex_service *e)
{
    if (e->s->n_volumes == 0)
        return;
    yout_key(y, "volumeMounts");
    yout_seq_open(y);
    for (size_t i = 0; i < e->s->n_volumes; i++) {
        char *vname = e->s->volumes[i].is_named ? xstrdup(e->s->volumes[i].source)
                                                : xasprintf("host-%zu", i + 1);
        yout_map_open(y);
        yout_kv_str(y, "name", vname);
        yout_kv_str(y, "mountPath", e->s->volumes[i].destination);
        yout_map_close(y);
        free(vname);
    }
    yout_seq_close(y);
}

static void container(ex_ctx *c, yout *y, ex_service *e)
{
    const orch_service *s = e->s;
    yout_map_open(y);
    yout_kv_str(y, "name", s->name);
    yout_kv_str(y, "image", e->image);
    if (strncmp(e->image, "oci-archive:", 12) == 0 || strncmp(e->image, "oci:", 4) == 0)
        ex_warn(c, "service %s: FROM %s is a local archive: push it to a registry the cluster "
                   "can pull from and change the image",
                s->name, e->image);
    y->escape_dollar = true; /* Kubernetes expands $(VAR) here */
    if (e->entry)
        str_list(y, "command", e->entry);
    if (e->cmd)
        str_list(y, "args", e->cmd);
    if (s->workdir)
        yout_kv_str(y, "workingDir", s->workdir);
    env(y, e);
    y->escape_dollar = false;
    if (s->n_publish > 0) {
        yout_key(y, "ports");
        yout_seq_open(y);
        for (size_t i = 0; i < s->n_publish; i++) {
            yout_map_open(y);
            yout_kv_int(y, "containerPort", s->publish[i].container);
            yout_kv_str(y, "protocol", "TCP");
            yout_map_close(y);
        }
        yout_seq_close(y);
    }
    resources(y, e);
    probes(y, e);
    if (s->stop_command) { /* runs in the container before SIGTERM, as orchd's STOP */
        yout_key(y, "lifecycle");
        yout_map_open(y);
        yout_key(y, "preStop");
        yout_map_open(y);
        yout_key(y, "exec");
        yout_map_open(y);
        char *argv[] = {"/bin/sh", "-c", s->stop_command, NULL};
        str_list(y, "command", argv);
        yout_map_close(y);
        yout_map_close(y);
        yout_map_close(y);
    }
    mounts(y, e);
    yout_map_close(y);
    if (s->reload_command)
        ex_note(e, "RELOAD: Kubernetes has no reload action (kubectl exec the command, or roll "
                   "the Deployment)");
    if (s->stdout_path || s->stderr_path)
        ex_note(e, "STDOUT/STDERR: the cluster collects container output; the files are not "
                   "used");
}

static void pod_volumes(ex_ctx *c, yout *y, ex_service *e, bool templates)
{
    bool any = false;
    for (size_t i = 0; i < e->s->n_volumes; i++) {
        const orch_volume *v = &e->s->volumes[i];
        bool shared = v->is_named && volume_users(c, v->source) > 1;
        if (v->is_named && templates && !shared)
            continue; /* a volumeClaimTemplate of the StatefulSet */
        if (!any) {
            yout_key(y, "volumes");
            yout_seq_open(y);
            any = true;
        }
        yout_map_open(y);
        if (v->is_named) {
            yout_kv_str(y, "name", v->source);
            yout_kv_map1(y, "persistentVolumeClaim", "claimName", v->source);
        } else {
            char *vname = xasprintf("host-%zu", i + 1);
            yout_kv_str(y, "name", vname);
            free(vname);
            yout_kv_map1(y, "hostPath", "path", e->vol_sources[i]);
            ex_warn(c, "service %s: VOLUME %s:%s becomes a hostPath volume: the path must exist "
                       "on the node the pod lands on",
                    e->s->name, v->source, v->destination);
            ex_note(e, "VOLUME %s: hostPath %s (node-local)", v->destination, e->vol_sources[i]);
        }
        yout_map_close(y);
    }
    if (any)
        yout_seq_close(y);
}

static void pod_template(ex_ctx *c, yout *y, ex_service *e, bool templates)
{
    const orch_service *s = e->s;
    yout_key(y, "template");
    yout_map_open(y);
    yout_key(y, "metadata");
    yout_map_open(y);
    labels(y, e);
    yout_map_close(y);
    yout_key(y, "spec");
    yout_map_open(y);
    if (!long_running(e))
        yout_kv_str(y, "restartPolicy", s->restart == ORCH_RESTART_NO ? "Never" : "OnFailure");
    yout_kv_int(y, "terminationGracePeriodSeconds", s->timeout_stop);
    if (needs_waiter(c, e))
        yout_kv_str(y, "serviceAccountName", WAITER);
    init_containers(c, y, e);
    yout_key(y, "containers");
    yout_seq_open(y);
    container(c, y, e);
    yout_seq_close(y);
    pod_volumes(c, y, e, templates);
    yout_map_close(y);
    yout_map_close(y);
}

static void selector(yout *y, const ex_service *e)
{
    yout_key(y, "selector");
    yout_map_open(y);
    yout_kv_map1(y, "matchLabels", "app.kubernetes.io/name", e->s->name);
    yout_map_close(y);
}

static void restart_notes(ex_service *e)
{
    const orch_service *s = e->s;
    if (long_running(e) && s->restart != ORCH_RESTART_ALWAYS)
        ex_note(e, "RESTART %s: a %s's pods restart after every exit (restartPolicy Always "
                   "is the only one allowed)",
                s->restart == ORCH_RESTART_NO ? "no" : "on-failure", kind_of(e));
    if (!long_running(e) && s->restart == ORCH_RESTART_ALWAYS)
        ex_note(e, "RESTART always: a Job does not run again after it succeeded (OnFailure)");
    if (has(s, ORCH_F_RESTART_DELAY) || has(s, ORCH_F_START_LIMIT_INTERVAL) ||
        (long_running(e) && has(s, ORCH_F_START_LIMIT_BURST)))
        ex_note(e, "RESTART_DELAY/START_LIMIT_*: the kubelet's back-off (10 s doubling to "
                   "5 min) replaces them");
    if (has(s, ORCH_F_TIMEOUT_START) && long_running(e) && !s->healthcheck)
        ex_note(e, "TIMEOUT_START %us: no pod field without a HEALTHCHECK to probe",
                s->timeout_start);
    if (has(s, ORCH_F_RECREATE))
        ex_note(e, "RECREATE: a changed pod template always replaces the pods");
}

static void workload(ex_ctx *c, yout *y, ex_service *e)
{
    const orch_service *s = e->s;
    const char *kind = kind_of(e);
    restart_notes(e);
    yout_doc_begin(y);
    yout_map_open(y);
    header(y, strcmp(kind, "Job") == 0 ? "batch/v1" : "apps/v1", kind);
    metadata(y, s->name, e);
    yout_key(y, "spec");
    yout_map_open(y);
    if (strcmp(kind, "Job") == 0) {
        yout_kv_int(y, "backoffLimit",
                    s->restart == ORCH_RESTART_NO ? 0 : (long long)s->start_limit_burst);
        if (s->disabled) {
            yout_key(y, "suspend");
            yout_bool(y, true);
        }
    } else {
        yout_kv_int(y, "replicas", s->disabled ? 0 : 1);
    }
    if (strcmp(kind, "Deployment") == 0) {
        /* orchd never runs two copies of a service: no rolling overlap */
        yout_kv_map1(y, "strategy", "type", "Recreate");
    }
    if (strcmp(kind, "StatefulSet") == 0)
        yout_kv_str(y, "serviceName", s->name);
    if (strcmp(kind, "Job") != 0)
        selector(y, e);
    bool templates = strcmp(kind, "StatefulSet") == 0;
    pod_template(c, y, e, templates);
    if (templates) {
        bool any = false;
        for (size_t i = 0; i < s->n_volumes; i++) {
            const orch_volume *v = &s->volumes[i];
            if (!v->is_named || volume_users(c, v->source) > 1)
                continue;
            if (!any) {
                yout_key(y, "volumeClaimTemplates");
                yout_seq_open(y);
                any = true;
            }
            yout_map_open(y);
            yout_kv_map1(y, "metadata", "name", v->source);
            claim_spec(y, "ReadWriteOnce");
            yout_map_close(y);
            ex_note(e, "VOLUME %s: a claim of " CLAIM_SIZE " (the Orchfile gives no size)",
                    v->source);
        }
        if (any)
            yout_seq_close(y);
    }
    yout_map_close(y);
    yout_map_close(y);
    yout_doc_end(y);
}

/* ---- the other objects ------------------------------------------------------------ */

static void config_maps(yout *y, ex_service *e)
{
    for (size_t i = 0; i < e->n_env_files; i++) {
        char *name = xasprintf("%s-env-%zu", e->s->name, i + 1);
        char *from = xasprintf("from ENV_FILE %s (read at export time)", e->env_file_paths[i]);
        yout_comment(y, from);
        free(from);
        yout_doc_begin(y);
        yout_map_open(y);
        header(y, "v1", "ConfigMap");
        metadata(y, name, e);
        yout_key(y, "data");
        yout_map_open(y);
        const orch_kvlist *l = &e->env_files[i];
        for (size_t k = 0; k < l->n; k++)
            yout_kv_str(y, l->v[k].key, l->v[k].value);
        yout_map_close(y);
        yout_map_close(y);
        yout_doc_end(y);
        free(name);
    }
}

static void service_object(yout *y, ex_service *e)
{
    const orch_service *s = e->s;
    bool stateful = strcmp(kind_of(e), "StatefulSet") == 0;
    if (s->n_publish == 0 && !stateful)
        return;
    yout_doc_begin(y);
    yout_map_open(y);
    header(y, "v1", "Service");
    metadata(y, s->name, e);
    yout_key(y, "spec");
    yout_map_open(y);
    if (s->n_publish == 0) /* the StatefulSet's governing Service: headless */
        yout_kv_str(y, "clusterIP", "None");
    yout_kv_map1(y, "selector", "app.kubernetes.io/name", s->name);
    if (s->n_publish > 0) {
        yout_key(y, "ports");
        yout_seq_open(y);
        for (size_t i = 0; i < s->n_publish; i++) {
            const orch_publish *p = &s->publish[i];
            char name[32];
            snprintf(name, sizeof name, "tcp-%u", (unsigned)p->host);
            yout_map_open(y);
            yout_kv_str(y, "name", name);
            yout_kv_int(y, "port", p->host);
            yout_kv_int(y, "targetPort", p->container);
            yout_kv_str(y, "protocol", "TCP");
            yout_map_close(y);
            if (p->address)
                ex_note(e, "PUBLISH %s:%u:%u: the Service listens on its cluster IP, not on %s "
                           "(expose it with an Ingress or a LoadBalancer)",
                        p->address, (unsigned)p->host, (unsigned)p->container, p->address);
        }
        yout_seq_close(y);
    }
    yout_map_close(y);
    yout_map_close(y);
    yout_doc_end(y);
}

/* Standalone claims for named volumes more than one service mounts, and
 * for those of Jobs (a Job has no claim templates). */
static void claims(ex_ctx *c, yout *y)
{
    char **done = NULL;
    size_t n_done = 0;
    for (size_t i = 0; i < c->m->n_services; i++) {
        ex_service *e = &c->svcs[i];
        if (!e->exported)
            continue;
        for (size_t v = 0; v < e->s->n_volumes; v++) {
            const orch_volume *vol = &e->s->volumes[v];
            if (!vol->is_named)
                continue;
            size_t users = volume_users(c, vol->source);
            if (users < 2 && long_running(e))
                continue;
            bool seen = false;
            for (size_t d = 0; d < n_done; d++)
                seen |= strcmp(done[d], vol->source) == 0;
            if (seen)
                continue;
            done = xrealloc(done, (n_done + 1) * sizeof *done);
            done[n_done++] = vol->source;
            if (users > 1)
                yout_comment(y, "a named volume several services mount: one claim they share "
                                "(ReadWriteMany: the storage class must allow it)");
            yout_doc_begin(y);
            yout_map_open(y);
            header(y, "v1", "PersistentVolumeClaim");
            metadata(y, vol->source, NULL);
            claim_spec(y, users > 1 ? "ReadWriteMany" : "ReadWriteOnce");
            yout_map_close(y);
            yout_doc_end(y);
        }
    }
    free(done);
}

/* The service account the kubectl waits run as: read-only on what they
 * wait for, in the namespace the manifests are applied to. */
static void waiter_rbac(yout *y)
{
    yout_comment(y, "the initContainers that wait for a Job or a rollout (REQUIRES) use kubectl "
                    "under this account");
    yout_doc_begin(y);
    yout_map_open(y);
    header(y, "v1", "ServiceAccount");
    metadata(y, WAITER, NULL);
    yout_map_close(y);
    yout_doc_end(y);

    yout_doc_begin(y);
    yout_map_open(y);
    header(y, "rbac.authorization.k8s.io/v1", "Role");
    metadata(y, WAITER, NULL);
    yout_key(y, "rules");
    yout_seq_open(y);
    struct {
        const char *group;
        const char *resources[4];
    } rules[] = {{"apps", {"deployments", "statefulsets", "replicasets", NULL}},
                 {"batch", {"jobs", NULL}}};
    for (size_t i = 0; i < 2; i++) {
        yout_map_open(y);
        char *groups[] = {(char *)rules[i].group, NULL};
        str_list(y, "apiGroups", groups);
        str_list(y, "resources", (char **)rules[i].resources);
        char *verbs[] = {"get", "list", "watch", NULL};
        str_list(y, "verbs", verbs);
        yout_map_close(y);
    }
    yout_seq_close(y);
    yout_map_close(y);
    yout_doc_end(y);

    yout_doc_begin(y);
    yout_map_open(y);
    header(y, "rbac.authorization.k8s.io/v1", "RoleBinding");
    metadata(y, WAITER, NULL);
    yout_key(y, "roleRef");
    yout_map_open(y);
    yout_kv_str(y, "apiGroup", "rbac.authorization.k8s.io");
    yout_kv_str(y, "kind", "Role");
    yout_kv_str(y, "name", WAITER);
    yout_map_close(y);
    yout_key(y, "subjects");
    yout_seq_open(y);
    yout_map_open(y);
    yout_kv_str(y, "kind", "ServiceAccount");
    yout_kv_str(y, "name", WAITER);
    yout_map_close(y);
    yout_seq_close(y);
    yout_map_close(y);
    yout_doc_end(y);
}

static int finish(ex_ctx *c, yout *y, const char *file, const char *lead, orch_error **err)
{
    const char *text = yout_finish(y);
    if (!text)
        return orch_error_set(err, orch_error_new(ORCH_E_INTERNAL,
                                                  "writing %s: the YAML emitter failed", file));
    char *all = xasprintf("%s%s", lead ? lead : "", text);
    ex_add_file(c, file, all);
    free(all);
    return 0;
}

int ex_kubernetes(ex_ctx *c, orch_error **err)
{
    bool waiter = false;
    for (size_t i = 0; i < c->m->n_services; i++)
        waiter |= c->svcs[i].exported && needs_waiter(c, &c->svcs[i]);
    if (waiter) {
        yout y;
        yout_init(&y);
        waiter_rbac(&y);
        int rc = finish(c, &y, WAITER ".yaml", NULL, err);
        yout_free(&y);
        if (rc != 0)
            return -1;
    }
    yout shared;
    yout_init(&shared);
    claims(c, &shared);
    int rc = 0;
    if (shared.len > 0)
        rc = finish(c, &shared, "volumes.yaml", NULL, err);
    yout_free(&shared);
    for (size_t i = 0; i < c->m->n_services && rc == 0; i++) {
        ex_service *e = &c->svcs[i];
        if (!e->exported)
            continue;
        yout y;
        yout_init(&y);
        config_maps(&y, e);
        workload(c, &y, e);
        service_object(&y, e);
        /* the notes gathered while writing go on top, as comments */
        yout lead;
        yout_init(&lead);
        char *title = xasprintf("orchd service %s (%s)", e->s->name, kind_of(e));
        yout_comment(&lead, title);
        free(title);
        ex_comment_notes(&lead, e);
        char *file = xasprintf("%s.yaml", e->s->name);
        rc = finish(c, &y, file, lead.buf, err);
        free(file);
        yout_free(&lead);
        yout_free(&y);
    }
    return rc;
}
