/* The default seccomp profile of a container (linux.seccomp of the OCI spec):
 * the same rules, in the same order, as containerd 1.6's
 * contrib/seccomp DefaultProfile (what docker, podman and Kubernetes'
 * RuntimeDefault apply too): everything not allowed fails with EPERM.
 * docs/OCI-SPEC.md, "seccomp", is the user-facing account.
 *
 * Pure: the caller gives the capability set the spec grants and the kernel
 * release, so the same input always writes the same bytes. */
#ifndef ORCH_CTD_SECCOMP_DEFAULT_H
#define ORCH_CTD_SECCOMP_DEFAULT_H

#include <stddef.h>

#include <yajl/yajl_gen.h>

typedef enum ctd_seccomp_mode {
    CTD_SECCOMP_DEFAULT = 0, /* containerd's default profile */
    CTD_SECCOMP_UNCONFINED,  /* no linux.seccomp at all (ORCH_SECCOMP=unconfined) */
} ctd_seccomp_mode;

/* The daemon's ORCH_SECCOMP value: NULL, "" and "default" are the default
 * profile, "unconfined" none. Returns 0 with *mode, or -1 for anything else. */
int ctd_seccomp_mode_parse(const char *value, ctd_seccomp_mode *mode);

/* "KERNEL.MAJOR..." of a uname release ("6.1.0-13-amd64" -> 6, 1). Returns 0,
 * or -1 when release does not start that way (containerd: no ptrace then). */
int ctd_kernel_version(const char *release, unsigned *kernel, unsigned *major);

/* Writes the profile as one JSON object (the value of linux.seccomp) into g:
 * defaultAction SCMP_ACT_ERRNO, the architectures of the build's target, and
 * the syscall rules, with those containerd adds for each capability of
 * bounding[0..n) (in that order) and, without CAP_SYS_ADMIN, clone only
 * without namespace flags and clone3 failing with ENOSYS. kernel_release is
 * uname's (ptrace is allowed from 4.8 on); NULL: unknown. */
void ctd_seccomp_emit(yajl_gen g, const char *const *bounding, size_t n,
                      const char *kernel_release);

#endif
