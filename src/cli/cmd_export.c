/* orchd export FORMAT FILE... : the Orchfile for another engine
 * (docs/EXPORT.md). Manifests go to stdout, or one file each to -o DIR;
 * what does not map is a comment in the output, what cannot be exported a
 * warning on stderr (an error with --strict). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/xalloc.h"
#include "export/export.h"
#include "orchfile/orchfile.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: orchd export FORMAT FILE... [--arg NAME=VALUE]... [-o DIR] [--strict]\n"
            "  FORMAT             kubernetes | compose\n"
            "  FILE...            the base Orchfile, then overlays (as for parse)\n"
            "  -o DIR             one file per service (kubernetes) or compose.yaml in DIR\n"
            "  --strict           a service that cannot be exported (RUN) is an error\n"
            "  --swarm            compose: the version 3 schema of docker stack deploy\n"
            "  --project-dir DIR  ${ORCH_PROJECT}, base of relative paths (default: the\n"
            "                     first FILE's directory)\n"
            "  --wait-image IMG   kubernetes: image of the port waits (" ORCH_EXPORT_WAIT_IMAGE ")\n"
            "  --kubectl-image IMG  kubernetes: image of the Job/rollout waits\n"
            "                     (" ORCH_EXPORT_KUBECTL_IMAGE ")\n");
}

static char *dir_of_file(const char *path)
{
    char *abs = realpath(path, NULL);
    if (!abs)
        abs = xstrdup(path);
    char *slash = strrchr(abs, '/');
    if (slash && slash != abs)
        *slash = '\0';
    else if (slash)
        slash[1] = '\0';
    else {
        free(abs);
        abs = xstrdup(".");
    }
    return abs;
}

static int write_file(const char *dir, const orch_export_file *f)
{
    char *path = xasprintf("%s/%s", dir, f->name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    int rc = 0;
    if (fd < 0) {
        fprintf(stderr, "orchd export: %s: %s\n", path, strerror(errno));
        rc = -1;
    } else {
        size_t len = strlen(f->text), off = 0;
        while (off < len) {
            ssize_t w = write(fd, f->text + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                fprintf(stderr, "orchd export: writing %s: %s\n", path, strerror(errno));
                rc = -1;
                break;
            }
            off += (size_t)w;
        }
        if (close(fd) != 0 && rc == 0) {
            fprintf(stderr, "orchd export: closing %s: %s\n", path, strerror(errno));
            rc = -1;
        }
    }
    free(path);
    return rc;
}

int cmd_export(int argc, char **argv)
{
    orch_export_opts o = {0};
    const char *out_dir = NULL, *project = NULL;
    char **rest = xcalloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0, rc = 2;
    bool have_format = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **value = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            rc = 0;
            goto out;
        } else if (strcmp(a, "--strict") == 0) {
            o.strict = true;
        } else if (strcmp(a, "--swarm") == 0) {
            o.swarm = true;
        } else if (strcmp(a, "-o") == 0) {
            value = &out_dir;
        } else if (strcmp(a, "--project-dir") == 0) {
            value = &project;
        } else if (strcmp(a, "--wait-image") == 0) {
            value = &o.wait_image;
        } else if (strcmp(a, "--kubectl-image") == 0) {
            value = &o.kubectl_image;
        } else if (!have_format && a[0] != '-') {
            have_format = true;
            if (strcmp(a, "kubernetes") == 0 || strcmp(a, "k8s") == 0) {
                o.format = ORCH_EXPORT_KUBERNETES;
            } else if (strcmp(a, "compose") == 0) {
                o.format = ORCH_EXPORT_COMPOSE;
            } else {
                fprintf(stderr, "orchd export: unknown format '%s' (kubernetes or compose)\n", a);
                goto out;
            }
        } else {
            rest[n_rest++] = argv[i];
        }
        if (value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "orchd export: %s needs a value\n", a);
                goto out;
            }
            *value = argv[++i];
        }
    }
    if (!have_format) {
        fprintf(stderr, "orchd export: no FORMAT given\n");
        usage(stderr);
        goto out;
    }
    if (o.swarm && o.format != ORCH_EXPORT_COMPOSE) {
        fprintf(stderr, "orchd export: --swarm is for the compose format\n");
        goto out;
    }
    orch_model m;
    orch_diags d;
    orch_diags_init(&d);
    rc = cli_load_model(n_rest, rest, "export", &m, &d);
    if (rc == 2)
        usage(stderr);
    if (rc != 0) {
        orch_diags_free(&d);
        goto out;
    }
    char *proj = NULL;
    if (project)
        proj = realpath(project, NULL);
    if (!proj && project) {
        fprintf(stderr, "orchd export: --project-dir %s: %s\n", project, strerror(errno));
        orch_model_free(&m);
        orch_diags_free(&d);
        rc = 2;
        goto out;
    }
    if (!proj && getenv("ORCH_PROJECT") && *getenv("ORCH_PROJECT"))
        proj = xstrdup(getenv("ORCH_PROJECT"));
    if (!proj) {
        for (int i = 0; i < n_rest && !proj; i++)
            if (rest[i][0] != '-' && (i == 0 || strcmp(rest[i - 1], "--arg") != 0))
                proj = dir_of_file(rest[i]);
    }
    o.project_dir = proj ? proj : ".";
    orch_export_result r;
    orch_error *err = NULL;
    int er = orch_export(&m, &o, &r, &err);
    for (size_t i = 0; i < r.n_warnings; i++)
        fprintf(stderr, "orchd export: warning: %s\n", r.warnings[i]);
    if (er != 0) {
        fprintf(stderr, "orchd export: %s\n", err->msg);
        orch_error_free(err);
        rc = 1;
    } else if (out_dir) {
        if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "orchd export: -o %s: %s\n", out_dir, strerror(errno));
            rc = 1;
        }
        for (size_t i = 0; i < r.n_files && rc == 0; i++)
            if (write_file(out_dir, &r.files[i]) != 0)
                rc = 1;
    } else {
        for (size_t i = 0; i < r.n_files; i++)
            fputs(r.files[i].text, stdout);
        if (fflush(stdout) != 0)
            rc = 1;
    }
    orch_export_result_free(&r);
    orch_model_free(&m);
    orch_diags_free(&d);
    free(proj);
out:
    free(rest);
    return rc;
}
