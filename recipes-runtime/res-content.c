/* SPDX-License-Identifier: MIT */
/* The regular file whose bytes a resource owns: file and template write one through
 * resource_write_content(), remote_file (which streams its download to a temporary file of its
 * own) checks and attributes it through the other two helpers.
 *
 * The content is compared byte for byte and the file is only rewritten when it differs, always
 * atomically (temp file next to it, then rename), so readers never see half a file and a file
 * that is already right keeps its inode and mtime.
 *
 * A file is created with mode 0644 unless `mode` says otherwise, whatever the umask; a rewrite
 * keeps the owner, group and mode of the file it replaces unless the resource sets them.
 *
 * A symbolic link at path is refused rather than written through: which file ends up changed
 * would depend on where the link points at converge time. A directory at path is refused too,
 * as is anything else that is not a regular file. */

#include <sys/stat.h>

#include "fs-util.h"
#include "resource.h"
#include "str-util.h"

#define CONTENT_DEFAULT_MODE 0644

int resource_content_stat(Resource *r, const char *path, struct stat *ret_st) {
        struct stat st;

        if (lstat(path, &st) < 0) {
                if (errno != ENOENT)
                        return resource_fail(r, -errno, "cannot stat %s: %m", path);
                return 0;
        }
        if (S_ISDIR(st.st_mode))
                return resource_fail(r, -EISDIR, "%s is a directory, not a file", path);
        if (S_ISLNK(st.st_mode))
                return resource_fail(r, -ELOOP,
                                     "%s is a symbolic link; refusing to write through it", path);
        if (!S_ISREG(st.st_mode))
                return resource_fail(r, -EINVAL, "%s exists and is not a regular file", path);
        *ret_st = st;
        return 1;
}

int resource_content_attributes(Resource *r, const struct stat *replaced, mode_t *ret_mode,
                                uid_t *ret_uid, gid_t *ret_gid) {
        mode_t mode = resource_mode(r, "mode");
        uid_t uid;
        gid_t gid;
        int k;

        k = resource_owner(r, &uid, &gid);
        if (k < 0)
                return k;
        if (mode == (mode_t) -1)
                mode = replaced ? replaced->st_mode & 07777 : CONTENT_DEFAULT_MODE;
        if (uid == (uid_t) -1 && replaced)
                uid = replaced->st_uid;
        if (gid == (gid_t) -1 && replaced)
                gid = replaced->st_gid;

        *ret_mode = mode;
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

/* < 0 on error, 1 when the file at path (described by st) differs from data, else 0. */
static int content_differs(const char *path, const struct stat *st, const char *data, size_t len) {
        _cleanup_free_ char *current = NULL;
        size_t n;
        int k;

        if ((uint64_t) st->st_size != len)
                return 1;
        k = read_full_file(path, len, &current, &n);
        if (k == -EFBIG) /* grew since lstat() */
                return 1;
        if (k < 0)
                return k;
        return n != len || memcmp(current, data, len) != 0;
}

/* Writes data over path, with the attributes resource_content_attributes() gives it. */
static int content_write(Resource *r, const char *path, const struct stat *replaced,
                         const char *data, size_t len) {
        mode_t mode;
        uid_t uid;
        gid_t gid;
        int k;

        k = resource_content_attributes(r, replaced, &mode, &uid, &gid);
        if (k < 0)
                return k;

        /* No fsync per file: the run syncs once at its end (converge). */
        k = write_file_atomic_full(path, data, len, mode, uid, gid, 0);
        if (k == -ENOENT)
                return resource_fail(r, k, "cannot write %s: its directory does not exist", path);
        if (k < 0)
                return resource_fail(r, k, "cannot write %s: %s", path, strerror(-k));
        return 0;
}

int resource_write_content(Resource *r, const char *path, const char *data, size_t len) {
        struct stat st;
        int k, a;

        k = resource_content_stat(r, path, &st);
        if (k < 0)
                return k;
        if (k == 0) {
                if (resource_change(r, "create file %s", path)) {
                        k = content_write(r, path, NULL, strempty(data), data ? len : 0);
                        if (k < 0)
                                return k;
                }
                return 1;
        }

        k = data ? content_differs(path, &st, data, len) : 0;
        if (k < 0)
                return resource_fail(r, k, "cannot read %s: %s", path, strerror(-k));
        if (k > 0 && resource_change(r, "update content of %s", path)) {
                int q = content_write(r, path, &st, data, len);
                if (q < 0)
                        return q;
        }

        /* After a rewrite this finds nothing left to do; in why-run it reports what would
         * change on the file as it is. */
        a = resource_apply_attributes(r, path, false);
        if (a < 0)
                return a;
        return k > 0 || a > 0;
}
