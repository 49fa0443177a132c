/* Applying one image layer (a tar stream, any compression libarchive reads)
 * onto a root directory, as root, when the layer is hostile.
 *
 * Nothing is ever written through a symlink or outside the root: every path
 * is walked one component at a time below the root's fd with
 * openat(O_NOFOLLOW | O_DIRECTORY), never with a path string the kernel
 * resolves as a whole, and no process-wide state (cwd, umask) is touched, so
 * it is safe on a thread pool. Entry names with a ".." component are
 * refused; leading "/" and "./" are dropped (absolute names are relative to
 * the root, as every layer tool reads them). Hard links are made with
 * linkat() between two names that were each resolved the same way, so their
 * target is always inside the root. Device nodes are skipped (the guest has
 * devtmpfs; a node in the host's data dir would be a door to a host device).
 *
 * Whiteouts (OCI image spec, "Representation of changes"): ".wh.NAME"
 * deletes NAME of the lower layers, ".wh..wh..opq" empties its directory of
 * the lower layers' entries. They apply to the lower layers only, whatever
 * their order in the tar, so a layer is read twice: first its whiteouts,
 * then everything else. */
#ifndef ORCH_VM_LAYER_H
#define ORCH_VM_LAYER_H

#include <stdbool.h>
#include <stdint.h>

/* Applies the tar file at path onto root_fd. With whiteouts false (the
 * outer tar of an oci-archive) .wh. names are plain files. *budget is the
 * number of bytes of file data still allowed (decremented; a layer beyond it
 * fails). Returns 0, or -1 with *err (malloc'ed) naming the entry. */
int vm_layer_apply(int root_fd, const char *path, bool whiteouts, uint64_t *budget, char **err);

/* Removes name below dir_fd, recursively, never following a symlink.
 * Returns 0 (also when it did not exist) or -errno. */
int vm_remove_at(int dir_fd, const char *name);

#endif
