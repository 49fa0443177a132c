/* The identity of a service's run (docs/SUPERVISION.md "Identity"): the
 * SHA-256 of its resolved spec's text and of what the runtime says decides
 * a start beyond that text (ops->identity: the environment its ENV_FILEs
 * give, the image digest behind its reference). grow restarts a service
 * whose identity changed; a ONESHOT's success is recorded under
 * <data>/oneshots/ keyed by it, so a later daemon (after a crash, a restart
 * or a reboot) does not run it again until the identity changes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/safeopen.h"
#include "common/sha256.h"
#include "common/xalloc.h"
#include "daemon/depgraph.h"
#include "daemon/supervisor_impl.h"

/* A query in flight. The unit may go (or ask again) before the answer: it
 * then detaches (u = NULL) and the answer only frees the request. */
struct sv_identity_req {
    unit *u;
    char *json; /* the spec text the answer belongs to */
};

static char *identity_of(const char *json, const char *runtime_part)
{
    orch_sha256 c;
    orch_sha256_init(&c);
    orch_sha256_update(&c, json, strlen(json));
    orch_sha256_update(&c, "", 1); /* the separator: NUL is in neither text */
    if (runtime_part)
        orch_sha256_update(&c, runtime_part, strlen(runtime_part));
    uint8_t d[32];
    orch_sha256_final(&c, d);
    char hex[65];
    orch_hex(d, sizeof d, hex);
    return xstrdup(hex);
}

/* ---- the record of a oneshot's success ------------------------------------ */

static char *record_dir(const orch_supervisor *sv)
{
    return sv->ctx.data_dir ? xasprintf("%s/oneshots", sv->ctx.data_dir) : NULL;
}

static char *record_path(const orch_supervisor *sv, const char *dir, const char *service)
{
    return xasprintf("%s/%s.%s", dir, sv->ctx.namespace_, service);
}

/* The recorded identity, or NULL (no record, or one that is not a plain
 * small file: a symlink or FIFO planted there is never followed). */
static char *record_read(const unit *u)
{
    char *dir = record_dir(u->sv);
    if (!dir)
        return NULL;
    char *path = record_path(u->sv, dir, u->spec.name);
    char *text = NULL, *why = NULL;
    size_t len = 0;
    struct stat st;
    if (lstat(path, &st) != 0) {
        text = NULL; /* no record */
    } else if (orch_read_file_capped(path, 128, ORCH_OPEN_NOFOLLOW, &text, &len, &why) != 0) {
        fprintf(stderr, "orchd: service %s: ignoring the oneshot record %s: %s\n", u->spec.name,
                path, why ? why : "unreadable");
        free(why);
        text = NULL;
    }
    free(path);
    free(dir);
    if (text) {
        text[strcspn(text, "\n")] = '\0';
        if (strlen(text) != 64) {
            free(text);
            text = NULL;
        }
    }
    return text;
}

/* Written atomically: a temporary file (O_EXCL, O_NOFOLLOW), fsync, rename
 * over the old record. A failure is reported and only costs a re-run. */
static void record_write(const unit *u, const char *identity)
{
    char *dir = record_dir(u->sv);
    if (!dir)
        return;
    char *why = NULL;
    if (orch_private_dir_ensure(dir, &why) != 0) {
        fprintf(stderr, "orchd: service %s: cannot record its success: %s\n", u->spec.name, why);
        free(why);
        free(dir);
        return;
    }
    char *path = record_path(u->sv, dir, u->spec.name);
    char *tmp = xasprintf("%s.tmp%d", path, (int)getpid());
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    char line[80];
    int n = snprintf(line, sizeof line, "%s\n", identity);
    bool ok = fd >= 0 && write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        fprintf(stderr, "orchd: service %s: cannot record its success in %s: %s\n", u->spec.name,
                path, strerror(e));
        unlink(tmp);
    }
    free(tmp);
    free(path);
    free(dir);
}

void unit_record_forget(unit *u)
{
    char *dir = record_dir(u->sv);
    if (!dir)
        return;
    char *path = record_path(u->sv, dir, u->spec.name);
    unlink(path);
    free(path);
    free(dir);
}

/* ---- learning the identity ------------------------------------------------ */

/* A oneshot about to run whose success is on record for this identity:
 * `exited` (code 0) without running. */
static bool skip_recorded_oneshot(unit *u)
{
    if (!u->spec.oneshot || u->rerun_asked || u->state != ORCH_ST_WAITING || u->inst ||
        u->next_spec || !u->identity)
        return false;
    char *rec = record_read(u);
    bool same = rec && strcmp(rec, u->identity) == 0;
    free(rec);
    if (!same)
        return false;
    unit_timer_stop(u);
    u->has_exit = true;
    u->exit_status = 0; /* a wait status of exit code 0 */
    free(u->ran_identity);
    u->ran_identity = xstrdup(u->identity);
    unit_set_state(u, ORCH_ST_EXITED, "succeeded before (recorded)");
    return true;
}

/* The identity is known: a service whose run has another identity starts
 * again (a live one is stopped first; on_released starts it). */
static void identity_known(unit *u)
{
    if (skip_recorded_oneshot(u))
        return;
    if (!u->wanted || u->next_spec || !u->identity || !u->ran_identity ||
        strcmp(u->identity, u->ran_identity) == 0)
        return;
    bool live = unit_has_process(u) && u->state != ORCH_ST_STOPPING;
    bool succeeded = u->spec.oneshot && unit_is_satisfied(u);
    if (!live && !succeeded)
        return;
    fprintf(stderr, "orchd: service %s: %s changed (ENV_FILE contents or image digest): "
                    "restarting it\n", u->spec.name, u->spec.oneshot ? "its run" : "what it runs");
    unit_reset_history(u);
    if (live)
        unit_begin_stop(u); /* still wanted: on_released starts it again */
    else
        unit_enter_waiting(u);
}

static void on_identity(void *owner, const char *id, const char *err)
{
    struct sv_identity_req *r = owner;
    unit *u = r->u;
    if (u && u->sv) {
        u->id_req = NULL;
        free(u->identity);
        u->identity = id ? identity_of(r->json, id) : NULL;
        if (!id)
            fprintf(stderr, "orchd: service %s: its identity is unknown for now (%s): it "
                            "is not restarted for a change of ENV_FILE or image\n",
                    u->spec.name, err ? err : "no reason given");
        identity_known(u);
        sv_schedule_pass(u->sv);
    } else if (u) {
        u->id_req = NULL;
    }
    free(r->json);
    free(r);
}

void unit_identity_detach(unit *u)
{
    if (u->id_req) {
        u->id_req->u = NULL;
        u->id_req = NULL;
    }
}

void unit_identity_refresh(unit *u)
{
    orch_supervisor *sv = u->sv;
    const orch_service *s = u->next_spec ? u->next_spec : &u->spec;
    const char *json = u->next_spec ? u->next_json : u->spec_json;
    unit_identity_detach(u);
    free(u->identity);
    u->identity = NULL;
    if (!json)
        return; /* a spec that cannot be serialised restarts on every apply anyway */
    const orch_runtime_ops *ops = sv_runtime_for(sv, s, NULL);
    if (!ops || !ops->identity) {
        u->identity = identity_of(json, NULL);
        identity_known(u);
        return;
    }
    struct sv_identity_req *r = xcalloc(1, sizeof *r);
    r->u = u;
    r->json = xstrdup(json);
    u->id_req = r;
    if (ops->identity(sv->loop, s, &sv->ctx, on_identity, r) != 0) {
        u->id_req = NULL;
        free(r->json);
        free(r);
    }
}

void unit_identity_started(unit *u)
{
    free(u->ran_identity);
    u->ran_identity = u->identity ? xstrdup(u->identity) : NULL;
    u->run_seq = ++u->sv->start_seq;
    u->rerun_asked = false;
}

/* A oneshot succeeded: record it, and restart what REQUIRES it and started
 * before this run (it ran against the previous one: a migration re-ran). */
void unit_oneshot_succeeded(unit *u)
{
    if (u->ran_identity)
        record_write(u, u->ran_identity);
    for (size_t i = 0; i < u->n_rdeps; i++) {
        unit *r = u->rdeps[i];
        if (!r->wanted || !unit_has_process(r) || r->state == ORCH_ST_STOPPING ||
            r->run_seq >= u->run_seq)
            continue;
        fprintf(stderr, "orchd: service %s: restarting it: it REQUIRES %s, which ran again\n",
                r->spec.name, u->spec.name);
        unit_reset_history(r);
        unit_begin_stop(r);
    }
}

void orch_supervisor_rerun(orch_supervisor *sv, const char *name)
{
    unit *u = dg_find(sv, name);
    if (!u || !u->spec.oneshot)
        return;
    unit_record_forget(u);
    u->rerun_asked = true; /* cleared by its next start */
    if (u->state == ORCH_ST_EXITED && u->wanted && !u->inst) {
        unit_reset_history(u);
        unit_enter_waiting(u);
    }
}
