/* The OCI runtime spec (config.json, runtime-spec v1.0.2) for one container
 * service: the service's directives over its image's config, on top of
 * containerd's default Unix spec. Every mapping and default is written down in
 * docs/OCI-SPEC.md.
 *
 * Pure and deterministic: no I/O, no gRPC, no clock. The caller reads the
 * image config, the ENV_FILE files and the rootfs' /etc/passwd and
 * /etc/group, and checks volume sources on disk; the same input always gives
 * the same bytes, so a hash of the output can label the container. */
#ifndef ORCH_CTD_SPEC_H
#define ORCH_CTD_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "containerd/store/image_config.h"
#include "containerd/container/seccomp_default.h"
#include "orchfile/model.h"

#define CTD_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define CTD_DEFAULT_NOFILE 1024 /* containerd's default soft = hard */
#define CTD_CPU_PERIOD 100000   /* microseconds */
#define CTD_HOST_LIMIT_UNKNOWN 0

typedef struct ctd_spec_input {
    /* The merged, expanded service (container mode: svc->image set). */
    const orch_service *svc;
    /* The image's config; NULL acts as an empty one. */
    const ctd_image_config *image;
    /* The orchd namespace ("orch"): the default cgroups path uses it. */
    const char *namespace_;
    /* root.path; NULL means "rootfs" (the bundle-relative path containerd's
     * shim mounts the snapshot on). */
    const char *rootfs;
    /* linux.cgroupsPath; NULL means ctd_default_cgroups_path(namespace_,
     * svc->name) = "/orchd/<namespace>/<service>" (cgroupfs driver form). */
    const char *cgroups_path;
    /* Bases for VOLUME sources (ctd_volume_source). */
    const char *project_dir; /* relative paths: ./x, ../x */
    const char *data_dir;    /* named volumes: <data_dir>/volumes/<name> */
    /* The ENV_FILE files, already read and merged in order (later files win):
     * "KEY=value" strings, NULL-terminated (orch_kvlist_envp's output).
     * NULL when the service has none. */
    char *const *env_file_env;
    /* Contents of the rootfs' /etc/passwd and /etc/group (NUL-terminated);
     * NULL when the image has no such file. See containerd/user.h. */
    const char *etc_passwd;
    const char *etc_group;
    /* Host files bind-mounted read-only at /etc/hosts and /etc/resolv.conf
     * (host networking: name resolution as on the host); NULL: no mount. The
     * caller passes only files that exist. */
    const char *hosts_file;
    const char *resolv_conf;
    /* The host's hard RLIMIT_NOFILE / RLIMIT_NPROC (getrlimit's rlim_max as
     * seen by orchd); CTD_HOST_LIMIT_UNKNOWN (0) skips the check;
     * RLIM_INFINITY means unlimited. */
    uint64_t host_nofile_hard;
    uint64_t host_nproc_hard;
    /* linux.seccomp: containerd's default profile (CTD_SECCOMP_DEFAULT, the
     * zero value) or none (CTD_SECCOMP_UNCONFINED, ORCH_SECCOMP=unconfined). */
    ctd_seccomp_mode seccomp;
    /* uname's release: the profile allows ptrace from kernel 4.8 on, as
     * containerd's does; NULL (unknown) leaves it out. */
    const char *kernel_release;
} ctd_spec_input;

/* Builds the spec. Returns 0 with *json_out (malloc'ed, compact, NUL-
 * terminated), or -1 with *err (malloc'ed) that starts "service NAME: " and
 * ends with the directive's FILE:LINE in parentheses when known. */
int ctd_spec_build(const ctd_spec_input *in, char **json_out, char **err);

/* The OCI Process (JSON) of a helper command run with Tasks.Exec in the
 * container made from spec_json (ctd_spec_build's output, len bytes): the
 * container's own process object, same env, user, cwd, capabilities,
 * rlimits and noNewPrivileges, with args ["/bin/sh", "-c", command] and no
 * terminal (exec_spec.c). Returns 0 with *json_out (malloc'ed), or -1 with
 * *err (malloc'ed, without a service prefix). */
int ctd_spec_exec_process(const char *spec_json, size_t len, const char *command, char **json_out,
                          char **err);

/* ENTRYPOINT / CMD value -> argv. A value whose first non-blank character is
 * '[' is a JSON array of strings (["sh", "-c", "echo $HOME"]); anything else
 * is split on blanks, where '...' is literal and "..." is literal except for
 * \" and \\, quotes join with adjacent text (--name="a b" is one argument),
 * and nothing else is special: no variables, globs or backslash escapes
 * outside double quotes; no shell. An empty value or [] gives no arguments.
 * Returns 0 with *argv (malloc'ed, n entries plus a NULL terminator), or -1
 * with *err (malloc'ed). */
int ctd_split_command(const char *value, char ***argv, size_t *n, char **err);
void ctd_argv_free(char **argv);

/* The host path bind-mounted for a VOLUME: a named volume is
 * <data_dir>/volumes/<name>, an absolute path is itself, a relative one
 * (./x, ../x) is joined to project_dir. Malloc'ed; NULL when a needed base
 * is NULL. The caller creates named volumes and checks that sources are
 * directories before building the spec. */
char *ctd_volume_source(const orch_volume *v, const char *project_dir, const char *data_dir);

/* "/orchd/<namespace>/<service>", malloc'ed. */
char *ctd_default_cgroups_path(const char *namespace_, const char *service);

#endif
