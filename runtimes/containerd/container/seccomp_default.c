/* containerd 1.6's default seccomp profile as data (contrib/seccomp/
 * seccomp_default.go, DefaultProfile), written by one generic emitter. The
 * rules come out in containerd's order: the allow-list, personality, ptrace
 * by kernel version, the architecture's own calls, the calls each granted
 * capability unlocks (in the order of the bounding set), and the rules for a
 * container without CAP_SYS_ADMIN. */
#include "containerd/container/seccomp_default.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the build target's architectures (containerd's arches(), by GOARCH) -- */

#if defined(__x86_64__) && !defined(__ILP32__) /* amd64 */
#define ARCH_AMD64 1
static const char *const arches[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
#elif defined(__aarch64__) /* arm64 */
#define ARCH_ARM 1
static const char *const arches[] = {"SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64"};
#elif defined(__s390x__)
#define ARCH_S390 1
static const char *const arches[] = {"SCMP_ARCH_S390", "SCMP_ARCH_S390X"};
#elif defined(__riscv) && __riscv_xlen == 64 /* there is no SCMP_ARCH_RISCV32 */
#define ARCH_RISCV64 1
static const char *const arches[] = {"SCMP_ARCH_RISCV64"};
#elif defined(__mips__) && defined(_MIPS_SIM) && _MIPS_SIM == _ABI64 && defined(__MIPSEB__)
static const char *const arches[] = {"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32"};
#elif defined(__mips__) && defined(_MIPS_SIM) && _MIPS_SIM == _ABI64 && defined(__MIPSEL__)
static const char *const arches[] = {"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
                                     "SCMP_ARCH_MIPSEL64N32"};
#else
/* containerd lists none for the rest (386, arm, ppc64le, ...): runc then
 * filters the native architecture only. */
#define ARCHES_NONE 1
#endif
#if defined(__i386__)
#define ARCH_386 1
#elif defined(__arm__)
#define ARCH_ARM 1
#elif defined(__s390__) && !defined(__s390x__)
#define ARCH_S390 1
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define ARCH_PPC64LE 1
#endif

/* ---- the rules -------------------------------------------------------------- */

typedef enum when {
    ALWAYS,
    KERNEL_4_8,      /* uname's release is 4.8 or later */
    WITH_CAP,        /* the bounding set has rule.cap */
    WITHOUT_ADMIN,   /* the bounding set lacks CAP_SYS_ADMIN */
} when;

typedef struct arg {
    unsigned index;
    uint64_t value, value_two;
    const char *op;
} arg;

typedef struct rule {
    when when;
    const char *cap;          /* WITH_CAP */
    const char *const *names; /* NULL-terminated */
    const char *action;
    int errno_ret;            /* 0: none */
    const arg *arg;           /* NULL: none; containerd's rules have one at most */
} rule;

#define ALLOW "SCMP_ACT_ALLOW"
#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Allowed whatever the capabilities. */
static const char *const allowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset", "chdir",
    "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
    "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl",
    "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
    "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
    "futex", "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd", "getdents",
    "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
    "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid",
    "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit",
    "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area",
    "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
    "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
    "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
    "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link",
    "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr",
    "lstat", "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv",
    "msgsnd", "msync", "munlock", "munlockall", "munmap", "nanosleep", "newfstatat", "_newselect",
    "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64",
    "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64",
    "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv",
    "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
    "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity",
    "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
    "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
    "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
    "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
    "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt",
    "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl",
    "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
    "sigreturn", "socket", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
    "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo",
    "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
    "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev",
    NULL,
};

/* personality(2) only with these personas: PER_LINUX, PER_LINUX32,
 * UNAME26, UNAME26|PER_LINUX32 and the query 0xffffffff. */
static const arg persona[] = {
    {0, 0x0, 0, "SCMP_CMP_EQ"},     {0, 0x0008, 0, "SCMP_CMP_EQ"},
    {0, 0x20000, 0, "SCMP_CMP_EQ"}, {0, 0x20008, 0, "SCMP_CMP_EQ"},
    {0, 0xffffffff, 0, "SCMP_CMP_EQ"},
};

/* clone(2) without any namespace flag (flags are argument 0, on s390 1). */
#define CLONE_NS_FLAGS                                                                             \
    ((uint64_t)(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |         \
                CLONE_NEWNET | CLONE_NEWCGROUP))
#ifdef ARCH_S390
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif
static const arg clone_no_ns = {CLONE_FLAGS_ARG, CLONE_NS_FLAGS, 0, "SCMP_CMP_MASKED_EQ"};

static const rule rules[] = {
    {ALWAYS, NULL, allowed, ALLOW, 0, NULL},
    {ALWAYS, NULL, NAMES("personality"), ALLOW, 0, &persona[0]},
    {ALWAYS, NULL, NAMES("personality"), ALLOW, 0, &persona[1]},
    {ALWAYS, NULL, NAMES("personality"), ALLOW, 0, &persona[2]},
    {ALWAYS, NULL, NAMES("personality"), ALLOW, 0, &persona[3]},
    {ALWAYS, NULL, NAMES("personality"), ALLOW, 0, &persona[4]},
    {KERNEL_4_8, NULL, NAMES("ptrace"), ALLOW, 0, NULL},

    /* the architecture's own calls */
#if defined(ARCH_PPC64LE)
    {ALWAYS, NULL, NAMES("sync_file_range2", "swapcontext"), ALLOW, 0, NULL},
#elif defined(ARCH_ARM)
    {ALWAYS, NULL,
     NAMES("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
           "cacheflush", "set_tls"),
     ALLOW, 0, NULL},
#elif defined(ARCH_AMD64)
    {ALWAYS, NULL, NAMES("arch_prctl", "modify_ldt"), ALLOW, 0, NULL},
#elif defined(ARCH_386)
    {ALWAYS, NULL, NAMES("modify_ldt"), ALLOW, 0, NULL},
#elif defined(ARCH_S390)
    {ALWAYS, NULL, NAMES("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"), ALLOW,
     0, NULL},
#elif defined(ARCH_RISCV64)
    {ALWAYS, NULL, NAMES("riscv_flush_icache"), ALLOW, 0, NULL},
#endif

    /* what a capability unlocks; emitted in the bounding set's order */
    {WITH_CAP, "CAP_DAC_READ_SEARCH", NAMES("open_by_handle_at"), ALLOW, 0, NULL},
    {WITH_CAP, "CAP_SYS_ADMIN",
     NAMES("bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
           "lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at",
           "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
           "sethostname", "setns", "syslog", "umount", "umount2", "unshare"),
     ALLOW, 0, NULL},
    {WITH_CAP, "CAP_SYS_BOOT", NAMES("reboot"), ALLOW, 0, NULL},
    {WITH_CAP, "CAP_SYS_CHROOT", NAMES("chroot"), ALLOW, 0, NULL},
    {WITH_CAP, "CAP_SYS_MODULE", NAMES("delete_module", "init_module", "finit_module"), ALLOW, 0,
     NULL},
    {WITH_CAP, "CAP_SYS_PACCT", NAMES("acct"), ALLOW, 0, NULL},
    {WITH_CAP, "CAP_SYS_PTRACE",
     NAMES("kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
           "ptrace"),
     ALLOW, 0, NULL},
    {WITH_CAP, "CAP_SYS_RAWIO", NAMES("iopl", "ioperm"), ALLOW, 0, NULL},
    {WITH_CAP, "CAP_SYS_TIME", NAMES("settimeofday", "stime", "clock_settime", "clock_settime64"),
     ALLOW, 0, NULL},
    {WITH_CAP, "CAP_SYS_TTY_CONFIG", NAMES("vhangup"), ALLOW, 0, NULL},
    {WITH_CAP, "CAP_SYS_NICE", NAMES("get_mempolicy", "mbind", "set_mempolicy"), ALLOW, 0, NULL},
    {WITH_CAP, "CAP_SYSLOG", NAMES("syslog"), ALLOW, 0, NULL},
    {WITH_CAP, "CAP_BPF", NAMES("bpf"), ALLOW, 0, NULL},
    {WITH_CAP, "CAP_PERFMON", NAMES("perf_event_open"), ALLOW, 0, NULL},

    /* Without CAP_SYS_ADMIN: clone without namespace flags only, and clone3
     * (whose flags live in memory seccomp cannot read) fails with ENOSYS,
     * not EPERM, so that libcs fall back to clone (moby/moby#42681). */
    {WITHOUT_ADMIN, NULL, NAMES("clone"), ALLOW, 0, &clone_no_ns},
    {WITHOUT_ADMIN, NULL, NAMES("clone3"), "SCMP_ACT_ERRNO", ENOSYS, NULL},
};

/* ---- API -------------------------------------------------------------------- */

int ctd_seccomp_mode_parse(const char *value, ctd_seccomp_mode *mode)
{
    if (!value || !*value || strcmp(value, "default") == 0) {
        *mode = CTD_SECCOMP_DEFAULT;
        return 0;
    }
    if (strcmp(value, "unconfined") == 0) {
        *mode = CTD_SECCOMP_UNCONFINED;
        return 0;
    }
    return -1;
}

int ctd_kernel_version(const char *release, unsigned *kernel, unsigned *major)
{
    if (!release || sscanf(release, "%u.%u", kernel, major) != 2)
        return -1;
    return 0;
}

static void g_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void g_u64(yajl_gen g, uint64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    yajl_gen_number(g, buf, (size_t)n);
}

static void emit_rule(yajl_gen g, const rule *r)
{
    yajl_gen_map_open(g);
    g_str(g, "names");
    yajl_gen_array_open(g);
    for (const char *const *p = r->names; *p; p++)
        g_str(g, *p);
    yajl_gen_array_close(g);
    g_str(g, "action");
    g_str(g, r->action);
    if (r->errno_ret) {
        g_str(g, "errnoRet");
        g_u64(g, (uint64_t)r->errno_ret);
    }
    if (r->arg) {
        g_str(g, "args");
        yajl_gen_array_open(g);
        yajl_gen_map_open(g);
        g_str(g, "index");
        g_u64(g, r->arg->index);
        g_str(g, "value");
        g_u64(g, r->arg->value);
        if (r->arg->value_two) { /* omitempty, as in the runtime-spec's Go types */
            g_str(g, "valueTwo");
            g_u64(g, r->arg->value_two);
        }
        g_str(g, "op");
        g_str(g, r->arg->op);
        yajl_gen_map_close(g);
        yajl_gen_array_close(g);
    }
    yajl_gen_map_close(g);
}

static bool has_cap(const char *const *bounding, size_t n, const char *cap)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(bounding[i], cap) == 0)
            return true;
    return false;
}

void ctd_seccomp_emit(yajl_gen g, const char *const *bounding, size_t n,
                      const char *kernel_release)
{
    unsigned kv = 0, km = 0;
    bool kernel_4_8 = ctd_kernel_version(kernel_release, &kv, &km) == 0 &&
                      (kv > 4 || (kv == 4 && km >= 8));
    bool admin = has_cap(bounding, n, "CAP_SYS_ADMIN");

    yajl_gen_map_open(g);
    /* no defaultErrnoRet, as containerd: runc's SCMP_ACT_ERRNO is EPERM */
    g_str(g, "defaultAction");
    g_str(g, "SCMP_ACT_ERRNO");
    g_str(g, "architectures");
    yajl_gen_array_open(g);
#ifndef ARCHES_NONE
    for (size_t i = 0; i < COUNT(arches); i++)
        g_str(g, arches[i]);
#endif
    yajl_gen_array_close(g);
    g_str(g, "syscalls");
    yajl_gen_array_open(g);
    for (size_t i = 0; i < COUNT(rules); i++)
        if (rules[i].when == ALWAYS || (rules[i].when == KERNEL_4_8 && kernel_4_8))
            emit_rule(g, &rules[i]);
    for (size_t c = 0; c < n; c++)
        for (size_t i = 0; i < COUNT(rules); i++)
            if (rules[i].when == WITH_CAP && strcmp(rules[i].cap, bounding[c]) == 0)
                emit_rule(g, &rules[i]);
    for (size_t i = 0; i < COUNT(rules) && !admin; i++)
        if (rules[i].when == WITHOUT_ADMIN)
            emit_rule(g, &rules[i]);
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
}
