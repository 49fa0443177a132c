/* rm -rf for a tree that less trusted users can write into while it is being
 * removed (a named volume a service owns files in), run as root.
 *
 * Every step is relative to a directory descriptor reached from the top by
 * openat(O_NOFOLLOW | O_DIRECTORY), entries are examined with fstatat
 * (AT_SYMLINK_NOFOLLOW) and removed with unlinkat, so a symbolic link is
 * removed as a link and never followed, even when a directory is swapped for
 * a link in the middle of the walk. A directory on another filesystem (a
 * mount point: st_dev differs from the top's) is not entered and is reported.
 * Climbing back up goes through ".." and checks it is the directory that was
 * descended from (device and inode); when it is not (someone moved the
 * directory away mid-walk) the walk stops rather than continue elsewhere.
 *
 * Iterative, with two descriptors open at a time: depth costs heap memory
 * (one name per level), not C stack or descriptors.
 *
 * Blocking (it can take minutes on a large tree): call it off the loop thread. */
#ifndef ORCH_RMTREE_H
#define ORCH_RMTREE_H

/* Removes path and everything below it. path itself is trusted (no symlink
 * check on its own components, but its last one must be a directory or
 * absent). Returns 0 (also when path does not exist) or -1 with *err
 * (malloc'ed) naming the first thing that could not be removed and why, e.g.
 * "cannot remove /data/volumes/v/mnt: a mount point (another filesystem),
 * not crossed", plus how many more failed. What could be removed is removed
 * either way. */
int orch_rmtree(const char *path, char **err);

#endif
