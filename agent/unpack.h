/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "macro.h"

/* Unpacking a downloaded archive (tar, tar.gz, tar.bz2, tar.xz, zip; the format is detected
 * from the bytes, not the name) into a release directory, in the unprivileged fetch helper.
 *
 * The archive is untrusted. Refused, naming the entry: a path that is absolute or has a `..`
 * component, a symlink that points out of the tree or that a later entry would be written
 * through, a hardlink to outside or to an entry not yet unpacked, device nodes, fifos and
 * sockets, and archives past the limits below. Owners are never restored (everything belongs to
 * the extracting user); setuid, setgid and sticky bits are dropped; other modes and mtimes
 * are kept. When every entry lies under one and the same top-level directory (as in the
 * tarballs GitHub serves), that directory is stripped. */

#define UNPACK_MAX_ENTRIES_DEFAULT 5000U
#define UNPACK_MAX_SIZE_DEFAULT (UINT64_C(4) << 30)    /* 4 GiB unpacked */
#define UNPACK_MAX_RATIO_DEFAULT 200U                  /* unpacked bytes per archive byte */
#define UNPACK_RATIO_GRACE_DEFAULT (UINT64_C(1) << 20) /* ratio checked past 1 MiB unpacked */

typedef struct UnpackLimits {
        uint64_t max_entries; /* entries of any type */
        uint64_t max_size;    /* sum of the unpacked sizes of regular files */
        uint64_t max_ratio;   /* unpacked size : archive file size */
        uint64_t ratio_grace; /* the ratio is only checked once this much is unpacked */
} UnpackLimits;

#define UNPACK_LIMITS_DEFAULT                                                                      \
        ((UnpackLimits){                                                                           \
                .max_entries = UNPACK_MAX_ENTRIES_DEFAULT,                                         \
                .max_size = UNPACK_MAX_SIZE_DEFAULT,                                               \
                .max_ratio = UNPACK_MAX_RATIO_DEFAULT,                                             \
                .ratio_grace = UNPACK_RATIO_GRACE_DEFAULT,                                         \
        })

/* Unpacks the archive file `archive` into `dest`, an existing empty directory. `name` is what
 * messages call the archive (e.g. the last part of its URL); NULL: the archive's file name.
 * limits NULL: UNPACK_LIMITS_DEFAULT. On failure *ret_error reads like
 * "app.tar.gz: entry '../evil': path escapes the release", and `dest` is empty again.
 * -EBADMSG for a refused or corrupt archive, -EFBIG past a limit, -ENOTEMPTY when dest was not
 * empty (it is left alone), other < 0 for system errors. A limit of 0 is no limit.
 *
 * libarchive's secure checks resolve paths against the working directory, so it is dest while
 * the call runs and restored after: not for a process with threads. */
int unpack_archive(const char *archive, const char *name, const char *dest,
                   const UnpackLimits *limits, char **ret_error);
