/* The guest's boot image: an initramfs (cpio "newc", what the kernel
 * unpacks into its rootfs) holding
 *   the image's root filesystem, unchanged (its own libc, its own /etc);
 *   /init                    a static shim (guest_shim.c) that runs orchd;
 *   /.orchd/bin/orchd        this orchd, and /.orchd/lib/ its shared
 *                            libraries and the host's dynamic loader;
 *   /.orchd/modules/NAME.ko  the kernel modules the guest loads at boot,
 *                            /.orchd/modules/order in load order.
 * That part depends on the image, orchd and the kernel only and is cached as
 * <data>/vm/initrd/<key>.cpio. A start appends a second, tiny cpio with
 * /.orchd/config.json (the kernel unpacks concatenated archives in order).
 * Blocking: call on a worker thread. */
#ifndef ORCH_VM_INITRD_H
#define ORCH_VM_INITRD_H

#include <stddef.h>

typedef struct vm_initrd_input {
    const char *rootfs;     /* the image's cached root filesystem */
    const char *image_hex;  /* its manifest digest */
    const char *kernel_dir; /* vmlinuz, modules/ */
    const char *shim;       /* the static /init */
    const char *cache_dir;  /* <data>/vm/initrd */
} vm_initrd_input;

/* Makes sure the cached image part exists; *path (malloc'ed). */
int vm_initrd_cached(const vm_initrd_input *in, char **path, char **err);

/* Writes out = cached + a cpio with /.orchd/config.json = config and,
 * when extras is not NULL, /.orchd/vm.json = extras (src/init/vm_guest.h). */
int vm_initrd_for_start(const char *cached, const char *config, size_t config_len,
                        const char *extras, const char *out, char **err);

#endif
