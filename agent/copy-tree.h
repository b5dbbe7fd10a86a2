/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* Copying a directory tree that may come from someone else (a local cookbook source, a tree the
 * unprivileged fetch helper left behind).
 *
 * Only regular files, directories and symlinks that stay inside the tree are copied; a fifo,
 * socket or device, an absolute symlink or one that leads out of the tree is refused with an
 * error naming the entry. Nothing is followed out of the source while copying: every directory
 * and file is opened relative to its parent without following symlinks and checked after it
 * was opened, so a tree that changes under the copy cannot redirect a read. Files keep their
 * permission bits but for setuid, setgid, sticky and group or other write (a copy root owns
 * must not be writable by the user it came from); directories get at least u+rwx; new
 * entries belong to the caller. At most COPY_TREE_ENTRIES_MAX entries, COPY_TREE_DEPTH_MAX
 * levels. */

#define COPY_TREE_ENTRIES_MAX 200000U
#define COPY_TREE_DEPTH_MAX 64U
#define COPY_TREE_MODE_MASK 0755

/* Copies what is inside directory src into dest, an existing directory. On failure dest may
 * hold part of the tree: the caller removes it. */
int copy_tree(const char *src, const char *dest, char **ret_error);

/* Checks every symlink below root, as the kernel would resolve it (following the tree's own
 * symlinks): each must be relative and stay inside root. For trees written by others (an
 * unpacked archive, a checkout). */
int tree_check_symlinks(const char *root, char **ret_error);
